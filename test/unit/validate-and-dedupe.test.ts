// Under test: mapping headers through the claims profile, per-field validation and cleaning, and duplicate/conflict detection.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Deduplicator, differingField, fingerprint } from '../../src/domain/records/dedupe.ts';
import { type CleanRecord, mapHeaders, validateRecord } from '../../src/domain/records/validate-record.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { rowsOf } from '../helpers/factories.ts';

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
    ['a NUL byte', { fn_text: Buffer.from('stray \u0000 byte') }, 'note', 'control character U+0000 at position 7'],
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

  it.each([
    ['CSV', 'incoming/claims/f.csv', 'CLAIMNO,NOTEID,FN_TEXT\nC-1,1,Roof leak\nC-1,2,Tarp\u0000fitted\nC-2,1,Hail\n', 3],
    ['JSONL', 'incoming/claims/f.jsonl', '{"CLAIMNO":"C-1","NOTEID":"1","FN_TEXT":"Roof leak"}\n{"CLAIMNO":"C-1","NOTEID":"2","FN_TEXT":"Tarp\u0000fitted"}\n{"CLAIMNO":"C-2","NOTEID":"1","FN_TEXT":"Hail"}\n', 2],
    ['JSON array', 'incoming/claims/f.json', '[{"CLAIMNO":"C-1","NOTEID":"1","FN_TEXT":"Roof leak"},\n{"CLAIMNO":"C-1","NOTEID":"2","FN_TEXT":"Tarp\u0000fitted"},\n{"CLAIMNO":"C-2","NOTEID":"1","FN_TEXT":"Hail"}]\n', 2],
  ])('a NUL byte in one row of a %s file rejects only that row, by its line and field', async (_format, key, content, badLine) => {
    // Prepare
    const rows = (await rowsOf(content, key)).filter((r) => r.kind === 'row');
    // Act
    const verdicts = rows.map((r) => {
      const v = validateRecord(claims, r.kind === 'row' ? r.fields : []);
      return [r.line, v.ok || `${v.field}: ${v.reason}`];
    });
    // Assess
    expect(verdicts).toEqual([
      [badLine - 1, true],
      [badLine, 'note: control character U+0000 at position 5'],
      [badLine + 1, true],
    ]);
  });

  it('keeps line breaks in a note, collapsing spaces and trimming within each line', () => {
    // Prepare
    const fields = row({ ...good, fn_text: '  Water   leak\r\n  in the kitchen\t\n\n tarp  fitted \r\n' });
    // Act
    const v = validateRecord(claims, fields);
    // Assess
    expect(claims.cleaning.lineBreaks).toBe('keep');
    expect(v.ok && v.record.values.note).toBe('Water leak\nin the kitchen\n\ntarp fitted');
  });

  it('turns line breaks into spaces when the profile\'s cleaning says lineBreaks: collapse', () => {
    // Prepare
    const collapsing = { ...claims, cleaning: { ...claims.cleaning, lineBreaks: 'collapse' as const } };
    const fields = row({ ...good, fn_text: '  Water   leak\r\n  in the kitchen\t\n\n tarp  fitted \r\n' });
    // Act
    const v = validateRecord(collapsing, fields);
    // Assess
    expect(v.ok && v.record.values.note).toBe('Water leak in the kitchen tarp fitted');
  });

  it('reports missing required columns from the header, naming their aliases', () => {
    const { missing } = mapHeaders(claims, ['claimno', 'text', 'lob']);
    expect(missing).toEqual(['note_id']);
  });
});

describe('Deduplicator', () => {
  // As the ingest uses it: the fingerprint where the record is read; a conflict's field named from both records.
  class RecordDeduplicator {
    readonly #d = new Deduplicator();
    readonly #firsts: CleanRecord[] = [];
    readonly #keys: string[];
    constructor(keys: string[]) {
      this.#keys = keys;
    }
    check(record: CleanRecord, line: number) {
      const v = this.#d.check(fingerprint(record, this.#keys), line);
      if (v.kind === 'new') this.#firsts.push(record);
      return v.kind === 'conflict' ? { kind: v.kind, firstLine: v.firstLine, field: differingField(this.#firsts[v.first]!, record) } : v;
    }
  }

  it('calls an exact repeat a duplicate and a changed repeat a conflict naming the field', () => {
    const d = new RecordDeduplicator(claims.recordKey);
    const rec = (note: string) => ({ values: { claim_id: 'C', note_id: '1', note }, attributes: {} });
    expect(d.check(rec('a'), 2)).toEqual({ kind: 'new' });
    expect(d.check(rec('a'), 5)).toEqual({ kind: 'duplicate', firstLine: 2 });
    expect(d.check(rec('b'), 9)).toEqual({ kind: 'conflict', firstLine: 2, field: 'note' });
  });

  it('tells long texts apart by their digest and short fields by their value, whichever field differs', () => {
    // Prepare: long texts; a short field that looks like a digest
    const d = new RecordDeduplicator(claims.recordKey);
    const long = 'The roof was damaged by hail and the ceiling leaks. '.repeat(4);
    const rec = (note: string, attributes: Record<string, string> = {}) => ({ values: { claim_id: 'C', note_id: '1', note }, attributes });
    // Act + Assess
    expect(d.check(rec(long, { author: 'AB12cd34EF56' }), 3)).toEqual({ kind: 'new' });
    expect(d.check(rec(long, { author: 'AB12cd34EF56' }), 4)).toEqual({ kind: 'duplicate', firstLine: 3 });
    expect(d.check(rec(`${long}!`, { author: 'AB12cd34EF56' }), 5)).toEqual({ kind: 'conflict', firstLine: 3, field: 'note' });
    expect(d.check(rec(long, { author: 'AB12cd34EF57' }), 6)).toEqual({ kind: 'conflict', firstLine: 3, field: 'author' });
  });

  it('remembers every first record across thousands of keys: a later conflict names its own first line and field', () => {
    // Prepare: 5,000 distinct notes (past the digests' first allocation many times over)
    const d = new RecordDeduplicator(claims.recordKey);
    const rec = (id: number, note: string, author = 'kim') => ({ values: { claim_id: `C-${id % 97}`, note_id: String(id), note }, attributes: { author } });
    for (let i = 0; i < 5000; i++) expect(d.check(rec(i, `note ${i}`), i + 2)).toEqual({ kind: 'new' });
    // Act + Assess: repeats of early and late records, exact and changed
    expect(d.check(rec(3, 'note 3'), 6000)).toEqual({ kind: 'duplicate', firstLine: 5 });
    expect(d.check(rec(4999, 'note 4999'), 6001)).toEqual({ kind: 'duplicate', firstLine: 5001 });
    expect(d.check(rec(7, 'note 7', 'lee'), 6002)).toEqual({ kind: 'conflict', firstLine: 9, field: 'author' });
    expect(d.check(rec(4242, 'note 4242!'), 6003)).toEqual({ kind: 'conflict', firstLine: 4244, field: 'note' });
  });

  it('digests a record by its fields sorted by name, whatever order they came in, as staged files of earlier versions did', () => {
    // Prepare: one record with its fields in two orders (JSONL rows may order their keys either way)
    const a = { values: { note_id: '1', claim_id: 'C-9', note: 'Hail on the roof' }, attributes: { region: 'west', author: 'kim' } };
    const b = { values: { note: 'Hail on the roof', claim_id: 'C-9', note_id: '1' }, attributes: { author: 'kim', region: 'west' } };
    // The documented text: `v:<name>\u0001<value>` per value, then `a:…` per attribute, each by name, joined by NUL.
    const text = ['v:claim_id\u0001C-9', 'v:note\u0001Hail on the roof', 'v:note_id\u00011', 'a:author\u0001kim', 'a:region\u0001west'].join('\u0000');
    // Act + Assess
    expect(fingerprint(a, claims.recordKey)).toEqual({ key: 'C-9\u00001', content: createHash('sha1').update(text).digest('base64').slice(0, 12) });
    expect(fingerprint(b, claims.recordKey)).toEqual(fingerprint(a, claims.recordKey));
  });
});
