// Under test: the streaming row readers (CSV, JSONL, JSON array): physical line numbers, record numbers, unreadable files.
import { describe, expect, it } from 'vitest';
import { UnreadableFileError } from '../../src/domain/records/read-rows.ts';
import { rowsOf, thrown } from '../helpers/factories.ts';

const dataRows = (rows: Awaited<ReturnType<typeof rowsOf>>) => rows.filter((r) => r.kind !== 'header');

describe('CSV', () => {
  it('gives each record its first physical line across BOM, CRLF and quoted multi-line fields', async () => {
    // Prepare
    const csv = '\uFEFFclaim_id,note\r\nC1,"line one\r\nline two\r\nline three"\r\n\r\nC2,plain\r\nC3,"say ""hi"""\r\n';
    // Act
    const rows = dataRows(await rowsOf(csv));
    // Assess
    expect(rows.map((r) => [r.line, r.record])).toEqual([[2, 1], [6, 2], [7, 3]]);
    const first = rows[0]!;
    expect(first.kind === 'row' && String(first.fields[1]![1])).toBe('line one\r\nline two\r\nline three');
    const third = rows[2]!;
    expect(third.kind === 'row' && String(third.fields[1]![1])).toBe('say "hi"');
  });

  it('reports a row with the wrong number of fields and keeps going', async () => {
    const rows = dataRows(await rowsOf('a,b\n1,2\n3\n4,5\n'));
    expect(rows.map((r) => r.kind)).toEqual(['row', 'bad', 'row']);
    expect(rows[1]).toMatchObject({ line: 3, record: 2, reason: 'has 1 fields, the header has 2' });
    expect(rows[2]).toMatchObject({ line: 4, record: 3 });
  });

  it('reports a malformed quote on its own line and resumes on the next', async () => {
    const rows = dataRows(await rowsOf('a,b\n1,"ok"\n2,"bro"ken"\n3,fine\n'));
    expect(rows.map((r) => [r.kind, r.line])).toEqual([['row', 2], ['bad', 3], ['row', 4]]);
  });

  it('keeps field bytes undecoded so invalid UTF-8 can be rejected by field', async () => {
    const csv = Buffer.concat([Buffer.from('a,b\nx,'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]);
    const [row] = dataRows(await rowsOf(csv));
    expect(row!.kind === 'row' && Buffer.isBuffer(row!.fields[1]![1])).toBe(true);
  });
});

describe('JSONL and JSON arrays', () => {
  it('numbers JSONL records by physical line, skipping blank lines, and rejects a bad line', async () => {
    const rows = await rowsOf('{"a":1}\n\n{"a":2}\r\nnot json\n[1]\n', 'incoming/claims/f.jsonl');
    expect(rows.map((r) => [r.kind, r.line, r.kind === 'header' ? 0 : r.record])).toEqual([
      ['row', 1, 1], ['row', 3, 2], ['bad', 4, 3], ['bad', 5, 4],
    ]);
  });

  it('streams JSON array elements with the line each starts on', async () => {
    const json = '[\n  {"a": "x,]}"},\n  {\n    "a": 2\n  },\n  7\n]\n';
    const rows = await rowsOf(json, 'incoming/claims/f.json', 3);
    expect(rows.map((r) => [r.kind, r.line])).toEqual([['row', 2], ['row', 3], ['bad', 6]]);
    expect(rows[0]!.kind === 'row' && rows[0]!.fields).toEqual([['a', 'x,]}']]);
  });
});

describe('unreadable files', () => {
  it.each([
    ['empty', '', 'the file is empty'],
    ['whitespace only', '  \n\n', 'the file is empty'],
    ['binary', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]), 'binary'],
    ['not an array', '"just a string"', 'expected a JSON array'],
  ])('refuses a file that is %s', async (_name, content, message) => {
    const err = await thrown(() => rowsOf(content, _name === 'not an array' ? 'incoming/claims/f.json' : 'incoming/claims/f.csv'));
    expect(err).toBeInstanceOf(UnreadableFileError);
    expect(err.message).toContain(message);
  });
});
