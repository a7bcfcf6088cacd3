// Under test: the streaming row readers (CSV, JSONL, JSON array): physical line numbers, record numbers, malformed quotes, stray control bytes, unreadable files.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type RawRow, UnreadableFileError } from '../../src/domain/records/read-rows.ts';
import { numberedCsv, rowsOf, thrown } from '../helpers/factories.ts';

const dataRows = (rows: Awaited<ReturnType<typeof rowsOf>>) => rows.filter((r) => r.kind !== 'header');
/** Each data row as [kind, line, record, the text of its last field or the reason]. */
const summary = (rows: RawRow[]) =>
  dataRows(rows).map((r) => (r.kind === 'row' ? ['row', r.line, r.record, String(r.fields.at(-1)![1])] : r.kind === 'bad' ? ['bad', r.line, r.record, r.reason] : []));
/** The rows `from`..`to` of a `numberedCsv`, each one line below its number (the header is line 1). */
const goodRows = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ['row', from + i + 1, from + i, `note ${from + i}`]);

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

  it.each([
    ['an unterminated quote at row 3 of 10 rejects row 3 with its line and the quote, and rows 4 to 10 are read', numberedCsv(10, { 3: '3,"note 3 never closed' }), [
      ...goodRows(1, 2),
      ['bad', 4, 3, 'unterminated quote in column "note": the quoted field opened on line 4 is not closed before the end of the file; lines 5-11 are read again as rows'],
      ...goodRows(4, 10),
    ]],
    ['a quote left open until a later quoted field rejects its row only, and the rows in between are read again', numberedCsv(10, { 3: '3,"note 3 never closed', 7: '7,"note 7, quoted"' }), [
      ...goodRows(1, 2),
      ['bad', 4, 3, 'malformed quote in column "note": the quoted field opened on line 4 has a quote on line 8 that is neither doubled ("") nor followed by a comma or the end of the line; lines 5-8 are read again as rows'],
      ...goodRows(4, 6),
      ['row', 8, 7, 'note 7, quoted'],
      ...goodRows(8, 10),
    ]],
    ['a quote in the middle of an unquoted field is kept as a character and loses no row', numberedCsv(4, { 2: '2,abc "def" ghi', 3: '3,a 2" pipe, and more' }), [
      ['row', 2, 1, 'note 1'],
      ['row', 3, 2, 'abc "def" ghi'],
      ['bad', 4, 3, 'has 3 fields, the header has 2'],
      ['row', 5, 4, 'note 4'],
    ]],
    ['a multi-line record with too few fields is reported on its first line, and its later lines are read again', 'a,b,c\n1,"one\n2,two,x\n3"\n4,four,y\n', [
      ['bad', 2, 1, 'has 2 fields, the header has 3; lines 3-4 are read again as rows'],
      ['row', 3, 2, 'x'],
      ['bad', 4, 3, 'has 1 fields, the header has 3'],
      ['row', 5, 4, 'y'],
    ]],
  ])('%s', async (_check, csv, expected) => {
    // Act
    const rows = summary(await rowsOf(csv));
    // Assess
    expect(rows).toEqual(expected);
  });

  it('a quoted field still open after 10,000 lines is cut there, and its lines are read as rows', async () => {
    // Prepare: the quote opened on line 2 would otherwise swallow the 10,005 rows below it.
    const csv = numberedCsv(10_006, { 1: '1,"never closed' });
    // Act
    const rows = summary(await rowsOf(csv, 'incoming/claims/f.csv', 4096));
    // Assess
    expect(rows[0]).toEqual(['bad', 2, 1, 'unterminated quote in column "note": the quoted field opened on line 2 is not closed within 10000 lines; lines 3-10002 are read again as rows']);
    expect(rows.slice(1)).toEqual(goodRows(2, 10_006));
  });

  it('a header with no data rows yields the header and no rows', async () => {
    // Act
    const rows = await rowsOf('CLAIMNO,NOTEID,FN_TEXT\r\n\r\n');
    // Assess
    expect(rows).toEqual([{ kind: 'header', line: 1, headers: ['CLAIMNO', 'NOTEID', 'FN_TEXT'] }]);
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

describe('stray control bytes', () => {
  it.each([
    ['CSV', 'incoming/claims/f.csv', 'id,note\n1,one\n2,t\u0000wo\n3,three\n', [2, 3, 4]],
    ['JSONL', 'incoming/claims/f.jsonl', '{"id":"1","note":"one"}\n{"id":"2","note":"t\u0000wo"}\n{"id":"3","note":"three"}\n', [1, 2, 3]],
    ['JSON array', 'incoming/claims/f.json', '[\n{"id":"1","note":"one"},\n{"id":"2","note":"t\u0000wo"},\n{"id":"3","note":"three"}\n]\n', [2, 3, 4]],
  ])('a NUL byte inside one %s value keeps the file, and its row comes out with the NUL for the validator to reject', async (_format, key, content, lines) => {
    // Act
    const rows = dataRows(await rowsOf(content, key));
    // Assess
    expect(rows.map((r) => [r.kind, r.line, r.kind === 'row' && String(r.fields[1]![1])])).toEqual([
      ['row', lines[0], 'one'],
      ['row', lines[1], 't\u0000wo'],
      ['row', lines[2], 'three'],
    ]);
  });
});

describe('unreadable files', () => {
  it.each([
    ['empty', '', 'the file is empty'],
    ['whitespace only', '  \n\n', 'the file is empty'],
    ['binary', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]), 'the file is binary (100% of its first 6 bytes are control bytes or not UTF-8)'],
    ['gzip-compressed CSV', gzipSync(numberedCsv(500)), 'the file is binary'],
    ['a PNG image', Buffer.from('89504e470d0a1a0a0000000d4948445200000010000000100806000000', 'hex'), 'the file is binary'],
    ['UTF-16 with a byte order mark', Buffer.from('\uFEFFid,note\n1,one\n', 'utf16le'), 'the file is UTF-16 text'],
    ['UTF-16 without a byte order mark', Buffer.from('id,note\n1,one\n', 'utf16le'), 'it looks like UTF-16 text'],
    ['not an array', '"just a string"', 'expected a JSON array'],
  ])('refuses a file that is %s', async (_name, content, message) => {
    const err = await thrown(() => rowsOf(content, _name === 'not an array' ? 'incoming/claims/f.json' : 'incoming/claims/f.csv'));
    expect(err).toBeInstanceOf(UnreadableFileError);
    expect(err.message).toContain(message);
  });
});
