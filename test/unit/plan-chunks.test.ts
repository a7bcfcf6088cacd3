// Under test: cutting a file into chunks at row boundaries — reading each chunk on its own (with the file's header, line and record) gives exactly the rows of one reading of the whole file.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/domain/random.ts';
import { planChunks } from '../../src/domain/records/plan-chunks.ts';
import { type FileFormat, type RawRow, readRows } from '../../src/domain/records/read-rows.ts';

/** A stream of the bytes in pieces of `piece` bytes, as S3 hands them over. */
const streamOf = (bytes: Buffer, piece = 7) => Readable.from(Array.from({ length: Math.ceil(bytes.length / piece) }, (_, i) => bytes.subarray(i * piece, (i + 1) * piece)));

const collect = async (rows: AsyncIterable<RawRow>) => {
  const out: unknown[] = [];
  for await (const r of rows) out.push(r.kind === 'row' ? { ...r, fields: r.fields.map(([k, v]) => [k, String(v)]) } : r);
  return out;
};

/** The rows of every chunk, each read on its own the way the chunk step reads it. */
async function rowsByChunk(bytes: Buffer, key: string, format: FileFormat, chunkBytes: number) {
  const plan = await planChunks(streamOf(bytes), format, bytes.length, chunkBytes);
  const header = (await collect(readRows(streamOf(bytes.subarray(0, plan.headerEnd)), key)).catch(() => [])) as RawRow[];
  const headers = header[0]?.kind === 'header' ? header[0].headers : undefined;
  const rows: unknown[] = [];
  for (const [i, c] of plan.chunks.entries()) {
    const body = streamOf(bytes.subarray(c.start, c.end));
    rows.push(...(await collect(i === 0 ? readRows(body, key) : readRows(body, key, { format, line: c.firstLine, record: c.firstRecord, headers }))));
  }
  return { plan, rows };
}

function claimsCsv(rows: number): string {
  const lines = ['\uFEFFclaim_id,note_id,note'];
  for (let i = 1; i <= rows; i++) {
    const note = i % 5 === 0 ? `"multi\r\nline ""quoted"" ${i}\nend"` : i % 7 === 0 ? `"a, b ${i}"` : `plain ${i}`;
    lines.push(`C${i % 13},N${i},${note}`);
    if (i % 11 === 0) lines.push('');
  }
  return `${lines.join('\r\n')}\r\n`;
}

describe('planChunks', () => {
  it.each([8, 64, 500])('CSV cut every %i bytes reads as the whole file: same rows, lines and records', async (chunkBytes) => {
    // Prepare
    const bytes = Buffer.from(claimsCsv(200));
    // Act
    const { plan, rows } = await rowsByChunk(bytes, 'notes.csv', 'csv', chunkBytes);
    // Assess
    expect(plan.chunks.length).toBeGreaterThan(3);
    expect(plan.chunks.at(-1)!.end).toBe(bytes.length);
    expect(plan.scannedBytes).toBe(bytes.length);
    expect(rows).toEqual(await collect(readRows(streamOf(bytes), 'notes.csv')));
  });

  it('never cuts inside a quoted field, whatever line breaks it holds', async () => {
    const bytes = Buffer.from(`a,b\n1,"x\n${'y\n'.repeat(50)}z"\n2,ok\n3,ok\n`);
    const plan = await planChunks(streamOf(bytes), 'csv', bytes.length, 4);
    const text = bytes.toString();
    // Each chunk but the first starts at a row's first byte: "2," or "3,".
    expect(plan.chunks.slice(1).map((c) => text.slice(c.start, c.start + 2))).toEqual(['2,', '3,']);
    expect(plan.chunks.slice(1).map((c) => [c.firstLine, c.firstRecord])).toEqual([[54, 2], [55, 3]]);
  });

  it('stops cutting at a malformed quote: the rest is one chunk and its rows are still all read', async () => {
    const good = Array.from({ length: 20 }, (_, i) => `${i},fine ${i}`);
    const bytes = Buffer.from(['a,b', ...good.slice(0, 10), '10,"bro"ken', '11,"never closed', ...good.slice(12)].join('\n') + '\n');
    const { plan, rows } = await rowsByChunk(bytes, 'notes.csv', 'csv', 10);
    expect(plan.stoppedAt?.line).toBe(12);
    expect(plan.chunks.at(-1)!.firstLine).toBeLessThanOrEqual(12);
    expect(rows).toEqual(await collect(readRows(streamOf(bytes), 'notes.csv')));
    expect(rows.filter((r) => (r as RawRow).kind === 'bad').length).toBe(2);
  });

  it('cuts, and reads rows, where a byte-by-byte scan does, whatever pieces the bytes come in (seeded CSV of every field shape)', async () => {
    // Prepare: unquoted fields with literal quotes, quoted ones with commas, line breaks and doubled quotes, empty
    // fields, CR-only and blank lines, a `,"` on every possible piece boundary; one file with a malformed quote.
    const random = prng(15);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    const field = () => pick(['', 'plain text', '5" pipe', 'a "quoted" word', '"a, b"', '"multi\nline"', '"x\r\ny ""z"""', '42', ' spaced ']);
    for (const malformed of [false, true]) {
      const lines = ['id,a,b,c'];
      for (let i = 0; i < 400; i++) lines.push(i % 37 === 0 ? pick(['', '\r', `\r${i},x,y,z`]) : `${i},${field()},${field()},${field()}`);
      if (malformed) lines.splice(300, 0, '300,"bro"ken,x,y');
      const bytes = Buffer.from(`${lines.join(pick(['\n', '\r\n']))}\n`);
      // Act: one byte at a time (the scan can skip nothing), then in pieces of many sizes
      const reference = await planChunks(streamOf(bytes, 1), 'csv', bytes.length, 50);
      // Assess
      expect(reference.chunks.length).toBeGreaterThan(20);
      expect(Boolean(reference.stoppedAt)).toBe(malformed);
      const rows = await collect(readRows(streamOf(bytes, 1), 'notes.csv'));
      for (const piece of [2, 3, 7, 64, 1000, 1 << 20]) {
        // The same cuts; stopped early, it read as far as the piece it stopped in, not always to the end.
        const { scannedBytes, ...plan } = await planChunks(streamOf(bytes, piece), 'csv', bytes.length, 50);
        expect(plan).toEqual({ ...reference, scannedBytes: undefined });
        if (malformed) expect(scannedBytes).toBeLessThanOrEqual(bytes.length);
        else expect(scannedBytes).toBe(bytes.length);
        // The reader skips through unquoted fields the same way: the same rows whatever the pieces.
        expect(await collect(readRows(streamOf(bytes, piece), 'notes.csv'))).toEqual(rows);
      }
    }
  });

  it('JSON lines cut at any line break, blank lines not counted as records', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => (i % 9 === 0 ? '   ' : JSON.stringify({ claim_id: `C${i}`, note: `n ${i}` })));
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    const { plan, rows } = await rowsByChunk(bytes, 'notes.jsonl', 'jsonl', 100);
    expect(plan.chunks.length).toBeGreaterThan(5);
    expect(rows).toEqual(await collect(readRows(streamOf(bytes), 'notes.jsonl')));
  });

  it('a file no larger than one chunk, or a JSON array, is one chunk without a scan', async () => {
    const never = (async function* () {
      throw new Error('read');
    })();
    expect(await planChunks(never, 'csv', 100, 100)).toEqual({ headerEnd: 0, chunks: [{ start: 0, end: 100, firstLine: 1, firstRecord: 1 }], scannedBytes: 0 });
    expect(await planChunks(never, 'json', 10_000, 100)).toMatchObject({ chunks: [{ start: 0, end: 10_000 }], scannedBytes: 0 });
  });
});
