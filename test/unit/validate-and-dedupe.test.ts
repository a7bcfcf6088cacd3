// Under test: mapping headers through the claims profile, per-field validation and cleaning, and duplicate/conflict detection.
import { describe, expect, it } from 'vitest';
import { Deduplicator } from '../../src/domain/records/dedupe.ts';
import { mapHeaders, validateRecord } from '../../src/domain/records/validate-record.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

const claims = loadProfile('claims');
const row = (fields: Record<string, string | Buffer>) => Object.entries(fields) as Array<[string, string | Buffer]>;
const good = { CLAIMNO: 'C-1', noteid: '7', fn_text: '  Water   leak\tin the kitchen  ', LOBCD: '15', FN_CRT_DT: '2025-01-02' };

describe('validateRecord', () => {
  it('maps aliases case-insensitively, cleans text and keeps unknown columns as attributes', () => {
    const v = validateRecord(claims, row({ ...good, REGION: 'north' }));
    expect(v).toEqual({
      ok: true,
      record: {
        values: { claim_id: 'C-1', note_id: '7', note: 'Water leak in the kitchen', lob_code: '15', created_at: '2025-01-02' },
        attributes: { REGION: 'north' },
      },
    });
  });

  it.each([
    ['invalid UTF-8', { fn_text: Buffer.from([0x61, 0xff, 0x62]) }, 'note', 'invalid UTF-8'],
    ['a control character', { fn_text: 'bell \u0007 here' }, 'note', 'control character U+0007'],
    ['an impossible date', { FN_CRT_DT: '2025-02-30' }, 'created_at', 'not an ISO 8601 date'],
    ['a missing required value', { CLAIMNO: '   ' }, 'claim_id', 'required value is missing'],
    ['an over-long id', { CLAIMNO: 'C'.repeat(65) }, 'claim_id', 'longer than 64'],
    ['U+FFFD from a JSON source', { fn_text: 'bad \uFFFD byte' }, 'note', 'invalid UTF-8'],
  ])('rejects %s by field, never storing a replacement', (_name, change, field, reason) => {
    const v = validateRecord(claims, row({ ...good, ...change }));
    expect(v.ok).toBe(false);
    expect(v).toMatchObject({ field });
    expect(!v.ok && v.reason).toContain(reason);
  });

  it('reports missing required columns from the header, naming their aliases', () => {
    const { missing } = mapHeaders(claims, ['claimno', 'text', 'lob']);
    expect(missing).toEqual(['note_id']);
  });
});

describe('Deduplicator', () => {
  it('calls an exact repeat a duplicate and a changed repeat a conflict naming the field', () => {
    const d = new Deduplicator(claims.recordKey);
    const rec = (note: string) => ({ values: { claim_id: 'C', note_id: '1', note }, attributes: {} });
    expect(d.check(rec('a'), 2)).toEqual({ kind: 'new' });
    expect(d.check(rec('a'), 5)).toEqual({ kind: 'duplicate', firstLine: 2 });
    expect(d.check(rec('b'), 9)).toEqual({ kind: 'conflict', firstLine: 2, field: 'note' });
  });
});
