/**
 * Streams rows out of a dropped file without holding it whole: CSV (BOM, CRLF, quoted multi-line
 * fields), JSONL and JSON arrays. Each row carries its physical line (header = 1) and its 1-based
 * data-record number. Field values stay undecoded (Buffers for CSV) so invalid UTF-8 can be rejected
 * per field instead of being replaced with U+FFFD.
 */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';

export type FileFormat = 'csv' | 'jsonl' | 'json';

export type RawValue = Buffer | string | number | boolean | null | object;

export type RawRow =
  | { kind: 'header'; line: number; headers: string[] }
  | { kind: 'row'; line: number; record: number; fields: Array<[string, RawValue]> }
  | { kind: 'bad'; line: number; record: number; reason: string };

/** A file that cannot be read at all (empty, binary, not CSV/JSON, no usable header). */
export class UnreadableFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableFileError';
  }
}

/** Picks the format from the file name, else from the first bytes. */
export function detectFormat(key: string, head: Buffer): FileFormat {
  const lower = key.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  const first = head.toString('utf8').replace(/^\uFEFF/, '').trimStart()[0];
  if (lower.endsWith('.json')) {
    if (first === '[') return 'json';
    if (first === '{') return 'jsonl';
    throw new UnreadableFileError('expected a JSON array of objects, or one JSON object per line');
  }
  if (first === '[') return 'json';
  if (first === '{') return 'jsonl';
  return 'csv';
}

const SNIFF_BYTES = 4096;

/**
 * Reads rows from a byte stream.
 * @throws UnreadableFileError when the file is empty, binary or has no header.
 * @example for await (const row of readRows(stream, 'notes.csv')) { ... }
 */
export async function* readRows(body: Readable, key: string): AsyncGenerator<RawRow> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Peek at the first bytes to decide the format and refuse what is clearly not text.
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let done = false;
  while (headLength < SNIFF_BYTES && !done) {
    const next = await iterator.next();
    if (next.done) done = true;
    else {
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      headChunks.push(chunk);
      headLength += chunk.length;
    }
  }
  const head = Buffer.concat(headChunks);
  if (head.toString('utf8').replace(/^\uFEFF/, '').trim() === '') throw new UnreadableFileError('the file is empty');
  if (head.subarray(0, SNIFF_BYTES).includes(0)) {
    throw new UnreadableFileError('the file is binary (NUL bytes), not CSV, JSONL or JSON');
  }
  const rest = (async function* () {
    yield stripBom(head);
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
  })();
  const format = detectFormat(key, head);
  if (format === 'csv') yield* readCsv(rest);
  else if (format === 'jsonl') yield* readJsonLines(rest);
  else yield* readJsonArray(rest);
}

async function* readCsv(chunks: AsyncIterable<Buffer>): AsyncGenerator<RawRow> {
  // Records csv-parse skipped as malformed, with how many records it had emitted before each.
  const skipped: Array<{ recordsBefore: number; nextLine: number; reason: string }> = [];
  // latin1 maps bytes to characters one to one: fields are turned back into their exact bytes and
  // decoded strictly later (csv-parse's `encoding: null` breaks its own error reporting).
  const parser = parse({
    encoding: 'latin1',
    raw: true,
    info: true,
    relax_column_count: true,
    record_delimiter: ['\r\n', '\n'],
    skip_records_with_error: true,
    on_skip: (err: (Error & { lines?: number }) | undefined) => {
      if (err) skipped.push({ recordsBefore: parser.info.records, nextLine: err.lines ?? 0, reason: `malformed CSV: ${err.message.split(':')[0]}` });
      return undefined;
    },
  });
  const feeding = (async () => {
    try {
      for await (const chunk of chunks) {
        if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
      }
      parser.end();
    } catch (err) {
      parser.destroy(err as Error);
    }
  })();
  let header: string[] | undefined;
  // csv-parse's line counter drifts after quoted CRLFs, so lines are counted from each record's raw
  // text, and resynchronised after a skipped record from the error's line.
  let nextLine = 1;
  let record = 0;
  const flushSkipped = function* (before: number): Generator<RawRow> {
    while (skipped.length && skipped[0]!.recordsBefore < before) {
      const s = skipped.shift()!;
      record += 1;
      yield { kind: 'bad', line: nextLine, record, reason: s.reason };
      nextLine = Math.max(nextLine + 1, s.nextLine);
    }
  };
  for await (const item of parser as AsyncIterable<{ record: string[]; raw: string; info: { records: number } }>) {
    yield* flushSkipped(item.info.records);
    const line = nextLine;
    nextLine += countNewlines(item.raw) + (item.raw.endsWith('\n') ? 0 : 1);
    const fields = item.record.map((f) => Buffer.from(f, 'latin1'));
    if (fields.length === 1 && fields[0]!.length === 0) continue; // blank line
    if (!header) {
      const decoder = new TextDecoder('utf-8', { fatal: true });
      try {
        header = fields.map((f) => decoder.decode(f).trim());
      } catch {
        throw new UnreadableFileError('the CSV header is not valid UTF-8');
      }
      if (header.every((h) => h === '')) throw new UnreadableFileError('the CSV header is empty');
      yield { kind: 'header', line, headers: header };
      continue;
    }
    record += 1;
    if (fields.length !== header.length) {
      yield { kind: 'bad', line, record, reason: `has ${fields.length} fields, the header has ${header.length}` };
      continue;
    }
    yield { kind: 'row', line, record, fields: header.map((h, i) => [h, fields[i]!] as [string, RawValue]) };
  }
  yield* flushSkipped(Number.POSITIVE_INFINITY);
  await feeding;
  if (!header) throw new UnreadableFileError('the CSV file has no header row');
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n += 1;
  return n;
}

/** Splits a byte stream on LF, keeping the bytes of each line (CR stripped). */
async function* splitLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let i = buf.indexOf(10, start); i !== -1; i = buf.indexOf(10, start)) {
      yield stripCr(buf.subarray(start, i));
      start = i + 1;
    }
    carry = Buffer.from(buf.subarray(start));
    buf = carry;
  }
  if (carry.length) yield stripCr(carry);
}

function stripCr(b: Buffer): Buffer {
  return b.length && b[b.length - 1] === 13 ? b.subarray(0, b.length - 1) : b;
}

async function* readJsonLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<RawRow> {
  let line = 0;
  let record = 0;
  for await (const bytes of splitLines(chunks)) {
    line += 1;
    const text = decodeLenient(line === 1 ? stripBom(bytes) : bytes);
    if (text.trim() === '') continue;
    record += 1;
    yield jsonRow(text, line, record);
  }
}

function jsonRow(text: string, line: number, record: number): RawRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'bad', line, record, reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'bad', line, record, reason: 'expected a JSON object' };
  }
  return { kind: 'row', line, record, fields: Object.entries(value as Record<string, RawValue>) };
}

/**
 * Streams the elements of a top-level JSON array with the line each starts on.
 * Hand-written: stream-json and friends do not report positions, and rejects must name the line.
 */
async function* readJsonArray(chunks: AsyncIterable<Buffer>): AsyncGenerator<RawRow> {
  let line = 1;
  let record = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let seenOpen = false;
  let closed = false;
  let element: Buffer[] = [];
  let elementStart = -1;
  let elementLine = 0;
  let first = true;
  const takeElement = (): RawRow => {
    record += 1;
    const row = jsonRow(decodeLenient(Buffer.concat(element)), elementLine, record);
    element = [];
    elementStart = -1;
    return row;
  };
  for await (let chunk of chunks) {
    if (first) {
      chunk = stripBom(chunk);
      first = false;
    }
    let sliceFrom = elementStart >= 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === 10) line += 1;
      if (closed) {
        if (c !== 10 && c !== 13 && c !== 32 && c !== 9) throw new UnreadableFileError(`unexpected data after the JSON array at line ${line}`);
        continue;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 92) escaped = true;
        else if (c === 34) inString = false;
        continue;
      }
      if (!seenOpen) {
        if (c === 91) seenOpen = true;
        else if (c !== 10 && c !== 13 && c !== 32 && c !== 9) throw new UnreadableFileError('expected a JSON array');
        continue;
      }
      const isSpace = c === 10 || c === 13 || c === 32 || c === 9;
      if (depth === 0 && sliceFrom < 0 && elementStart < 0) {
        if (isSpace || c === 44) continue;
        if (c === 93) {
          closed = true;
          continue;
        }
        elementStart = i;
        sliceFrom = i;
        elementLine = line;
      }
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) depth += 1;
      else if (c === 125 || c === 93) {
        if (depth === 0) {
          // `]` closing the array right after a scalar element
          element.push(chunk.subarray(sliceFrom, i));
          yield takeElement();
          sliceFrom = -1;
          closed = true;
          continue;
        }
        depth -= 1;
      } else if (c === 44 && depth === 0) {
        element.push(chunk.subarray(sliceFrom, i));
        yield takeElement();
        sliceFrom = -1;
        continue;
      }
      if (depth === 0 && (c === 125 || c === 93)) {
        element.push(chunk.subarray(sliceFrom, i + 1));
        yield takeElement();
        sliceFrom = -1;
      }
    }
    if (sliceFrom >= 0) element.push(Buffer.from(chunk.subarray(sliceFrom)));
  }
  if (!seenOpen) throw new UnreadableFileError('expected a JSON array');
  if (!closed) {
    if (element.length) {
      record += 1;
      yield { kind: 'bad', line: elementLine, record, reason: 'the JSON array ends inside this element' };
    } else throw new UnreadableFileError('the JSON array is not closed');
  }
}

function stripBom(b: Buffer): Buffer {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b;
}

/**
 * Decodes UTF-8, turning invalid sequences into U+FFFD so that JSON still parses; the validator
 * then rejects the field holding U+FFFD by name (a JSON field value never legitimately needs it here).
 */
function decodeLenient(b: Buffer): string {
  return b.toString('utf8');
}
