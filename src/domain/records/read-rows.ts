/**
 * Streams rows out of a dropped file without holding it whole: CSV (BOM, CRLF, quoted multi-line
 * fields), JSONL and JSON arrays. Each row carries its physical line (header = 1) and its 1-based
 * data-record number. Field values stay undecoded (Buffers for CSV) so invalid UTF-8 can be rejected
 * per field instead of being replaced with U+FFFD.
 */
import type { Readable } from 'node:stream';

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
// Binary when over 30% of the sniffed bytes are control bytes or not UTF-8: gzip, zip, PNG and UTF-16 are far above, text with stray NULs far below.
const BINARY_SHARE = 0.3;

/** Why the first bytes are not text, or undefined. A stray NUL or control byte only rejects its row. */
function binaryReason(head: Buffer): string | undefined {
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    return 'the file is UTF-16 text (it starts with a UTF-16 byte order mark), not UTF-8: save it as UTF-8';
  }
  let controls = 0;
  const nulsAt = [0, 0]; // NUL bytes at even and odd offsets: UTF-16 puts them all on one side
  for (let i = 0; i < head.length; i++) {
    const b = head[i]!;
    if (b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d) continue;
    controls += 1;
    if (b === 0) nulsAt[i % 2]! += 1;
  }
  // Non-fatal decoding turns each invalid sequence into U+FFFD; `stream` leaves a sequence cut at the end alone.
  const invalid = new TextDecoder('utf-8').decode(head, { stream: true }).split('\uFFFD').length - 1;
  const share = (controls + invalid) / head.length;
  if (share <= BINARY_SHARE) return undefined;
  const nuls = nulsAt[0]! + nulsAt[1]!;
  const utf16 = nuls > head.length / 4 && Math.max(nulsAt[0]!, nulsAt[1]!) >= 0.9 * nuls ? '; it looks like UTF-16 text: save it as UTF-8' : '';
  return `the file is binary (${Math.round(share * 100)}% of its first ${head.length} bytes are control bytes or not UTF-8), not CSV, JSONL or JSON${utf16}`;
}

/**
 * Where a chunk of a file starts (`src/domain/records/plan-chunks.ts`): its format, the physical line and
 * record number of its first row, and for CSV the file's header. Rows read from it are numbered as in the
 * whole file; the file's first bytes were checked when its first chunk was read.
 */
export interface ReadFrom {
  format: FileFormat;
  line: number;
  record: number;
  headers?: string[];
}

/**
 * Reads rows from a byte stream (a whole file, or one chunk of it with `from`).
 * @throws UnreadableFileError when the file is empty, binary or has no header.
 * @example for await (const row of readRows(stream, 'notes.csv')) { ... }
 */
export async function* readRows(body: Readable, key: string, from?: ReadFrom): AsyncGenerator<RawRow> {
  if (from) {
    const chunks = body as AsyncIterable<Buffer>;
    if (from.format === 'csv') yield* readCsv(chunks, from);
    else if (from.format === 'jsonl') yield* readJsonLines(chunks, from);
    else throw new Error('a JSON array is read whole, never from a chunk');
    return;
  }
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
  const binary = binaryReason(head.subarray(0, SNIFF_BYTES));
  if (binary) throw new UnreadableFileError(binary);
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

/**
 * Reads CSV rows: the first non-blank record is the header. A malformed record (an unterminated or
 * undoubled quote, a wrong field count) is reported on its first line; when it runs over several
 * lines, those lines are read again as rows, so that one stray quote never hides the rows after it.
 */
async function* readCsv(chunks: AsyncIterable<Buffer>, from?: ReadFrom): AsyncGenerator<RawRow> {
  const records = csvRecords(chunks, from?.line ?? 1);
  let header: string[] | undefined = from?.headers;
  let record = (from?.record ?? 1) - 1;
  let readAgain = false;
  try {
    for (;;) {
      const next = await records.next(readAgain);
      if (next.done) break;
      readAgain = false;
      const r = next.value;
      if (!r.quote && r.fields.length === 1 && r.fields[0]!.length === 0) continue; // blank line
      if (!header) {
        if (r.quote) throw new UnreadableFileError(`the CSV header is malformed: ${quoteProblem(r.quote, [])}`);
        const decoder = new TextDecoder('utf-8', { fatal: true });
        try {
          header = r.fields.map((f) => decoder.decode(f).trim());
        } catch {
          throw new UnreadableFileError('the CSV header is not valid UTF-8');
        }
        if (header.every((h) => h === '')) throw new UnreadableFileError('the CSV header is empty');
        yield { kind: 'header', line: r.line, headers: header };
        continue;
      }
      record += 1;
      const problem = r.quote
        ? quoteProblem(r.quote, header)
        : r.fields.length !== header.length
          ? `has ${r.fields.length} fields, the header has ${header.length}`
          : undefined;
      if (problem) {
        readAgain = r.endLine > r.line;
        const again = readAgain ? `; ${lineRange(r.line + 1, r.endLine)} ${r.endLine > r.line + 1 ? 'are' : 'is'} read again as rows` : '';
        yield { kind: 'bad', line: r.line, record, reason: `${problem}${again}` };
        continue;
      }
      yield { kind: 'row', line: r.line, record, fields: header.map((h, i) => [h, r.fields[i]!] as [string, RawValue]) };
    }
  } finally {
    await records.return();
  }
  if (!header) throw new UnreadableFileError('the CSV file has no header row');
}

function lineRange(from: number, to: number): string {
  return from === to ? `line ${from}` : `lines ${from}-${to}`;
}

function quoteProblem(q: QuoteProblem, header: string[]): string {
  const column = header[q.field] ? `column "${header[q.field]}"` : `field ${q.field + 1}`;
  if (q.kind === 'undoubled') {
    return `malformed quote in ${column}: the quoted field opened on line ${q.openedOn} has a quote on line ${q.atLine} that is neither doubled ("") nor followed by a comma or the end of the line`;
  }
  const end = q.kind === 'unterminated' ? 'before the end of the file' : `within ${MAX_QUOTED_LINES} lines`;
  return `unterminated quote in ${column}: the quoted field opened on line ${q.openedOn} is not closed ${end}`;
}

/** A quoted field that opens and is never closed, runs too long, or has a quote that is not doubled. */
interface QuoteProblem {
  kind: 'unterminated' | 'too-long' | 'undoubled';
  /** 0-based index of the field in its record. */
  field: number;
  openedOn: number;
  atLine: number;
}

interface CsvRecord {
  /** Physical lines the record starts and ends on. */
  line: number;
  endLine: number;
  fields: Buffer[];
  quote?: QuoteProblem;
}

// A quoted field still open after this many line breaks is taken as unterminated (a legitimate
// multi-line note is far shorter): its record is cut there and its later lines are read again.
export const MAX_QUOTED_LINES = 10_000;

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
// Scanner states (numbers: the project runs on Node's type stripping, which has no enums).
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** A quote seen inside a quoted field: doubled (a literal quote) or closing. */
const QUOTE_IN_QUOTED = 3;
const CLOSED = 4;
const CLOSED_CR = 5;

/**
 * Splits a byte stream into CSV records (RFC 4180: comma, CRLF or LF, `""` inside quoted fields),
 * keeping field bytes undecoded and counting physical lines exactly. A quote inside an unquoted field
 * is kept as a literal character, as spreadsheets do. Send `true` to `next()` after a record to have
 * its lines after the first read again (the record was malformed, and its later lines may be rows).
 * Hand-written: csv-parse cannot resume after an unterminated quote (it reads the rest of the file into
 * one field; with skip_records_with_error it cannot tell where the next record starts, and
 * max_record_size with skip_records_with_error stops reading the chunk), and later rows must not be lost.
 */
async function* csvRecords(chunks: AsyncIterable<Buffer>, firstLine: number): AsyncGenerator<CsvRecord, void, boolean | undefined> {
  const source = chunks[Symbol.asyncIterator]();
  let sourceDone = false;
  /** Bytes to scan before the rest of the source: a malformed record's later lines, then what followed it. */
  const replay: Buffer[] = [];
  let line = firstLine;
  let start = firstLine;
  let fields: Buffer[] = [];
  let parts: Buffer[] = [];
  /** The record's bytes after its first line break, kept in case they must be read again. */
  let rest: Buffer[] = [];
  let state = FIELD_START;
  let quote: QuoteProblem | undefined;
  let openedOn = 0;
  const endField = (last: Buffer | undefined, trimCr: boolean) => {
    if (last?.length) parts.push(last);
    let value = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (trimCr && value.length && value[value.length - 1] === CR) value = value.subarray(0, value.length - 1);
    fields.push(value);
    parts = [];
  };
  const take = (endLine: number): CsvRecord => {
    const r: CsvRecord = { line: start, endLine, fields, ...(quote ? { quote } : {}) };
    fields = [];
    state = FIELD_START;
    quote = undefined;
    return r;
  };
  for (;;) {
    let buf = replay.shift();
    if (!buf && !sourceDone) {
      const next = await source.next();
      if (next.done) sourceDone = true;
      else buf = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
    if (!buf) {
      // The end of the file ends the last record, even without a line break.
      if (state === FIELD_START && !fields.length) return;
      if (state === QUOTED) quote ??= { kind: 'unterminated', field: fields.length, openedOn, atLine: line };
      endField(undefined, state === UNQUOTED || state === FIELD_START);
      const last = fields[fields.length - 1]!;
      const record = take(last.length && last[last.length - 1] === LF ? line - 1 : line);
      const again = rest;
      rest = [];
      if ((yield record) && record.endLine > record.line) {
        replay.push(...again);
        line = record.line + 1;
        start = line;
        continue;
      }
      return;
    }
    /** Where the pending run of field bytes, and of the record's later lines, start in this chunk. */
    let run = 0;
    let restFrom = line > start ? 0 : -1;
    // The buffer's next comma and next line break at or after the scan (-1: none left; -2: not looked for yet).
    let nextComma = -2;
    let nextLf = -2;
    let i = 0;
    for (; i < buf.length; i++) {
      if (state === UNQUOTED) {
        // Inside an unquoted field only a comma or a line break matters: jump to the next (or to the buffer's last
        // byte). Byte by byte, the scan was a third of a chunk's reading (most fields are unquoted).
        if (nextComma !== -1 && nextComma < i) nextComma = buf.indexOf(COMMA, i);
        if (nextLf !== -1 && nextLf < i) nextLf = buf.indexOf(LF, i);
        let to = nextLf === -1 ? buf.length - 1 : nextLf;
        if (nextComma !== -1 && nextComma < to) to = nextComma;
        if (to > i) i = to;
      }
      const c = buf[i]!;
      if (state === QUOTED) {
        if (c === QUOTE) {
          parts.push(buf.subarray(run, i));
          state = QUOTE_IN_QUOTED;
          continue;
        }
        if (c !== LF) continue;
        if (line + 1 - openedOn <= MAX_QUOTED_LINES) {
          line += 1;
          if (restFrom < 0) restFrom = i + 1;
          continue;
        }
        quote ??= { kind: 'too-long', field: fields.length, openedOn, atLine: line };
        endField(buf.subarray(run, i + 1), false);
      } else {
        if (state === QUOTE_IN_QUOTED) {
          if (c === QUOTE) {
            run = i; // a doubled quote: the second one is a literal character
            state = QUOTED;
            continue;
          }
          state = CLOSED;
        }
        if (state === CLOSED || state === CLOSED_CR) {
          if (c === COMMA && state === CLOSED) {
            endField(undefined, false);
            state = FIELD_START;
            continue;
          }
          if (c === CR && state === CLOSED) {
            state = CLOSED_CR;
            continue;
          }
          if (c !== LF) {
            // Bytes after a closing quote: the quote was meant as a character. Read on as unquoted.
            quote ??= { kind: 'undoubled', field: fields.length, openedOn, atLine: line };
            if (state === CLOSED_CR) parts.push(Buffer.from([CR]));
            state = UNQUOTED;
            run = i;
          }
        } else if (state === FIELD_START) {
          if (c === QUOTE) {
            state = QUOTED;
            openedOn = line;
            run = i + 1;
            continue;
          }
          state = UNQUOTED;
          run = i;
        }
        if (state === UNQUOTED) {
          if (c === COMMA) {
            endField(buf.subarray(run, i), false);
            state = FIELD_START;
            continue;
          }
          if (c !== LF) continue;
          endField(buf.subarray(run, i), true);
        } else endField(undefined, false);
      }
      // A line break that ends the record.
      if (restFrom >= 0) rest.push(buf.subarray(restFrom, i + 1));
      const record = take(line);
      line += 1;
      start = line;
      const again = rest;
      rest = [];
      restFrom = -1;
      if ((yield record) && record.endLine > record.line) {
        replay.unshift(...again, buf.subarray(i + 1));
        line = record.line + 1;
        start = line;
        break;
      }
    }
    if (i < buf.length) continue; // the rest of this chunk was queued behind the lines read again
    if ((state === UNQUOTED || state === QUOTED) && run < buf.length) parts.push(buf.subarray(run));
    if (restFrom >= 0 && restFrom < buf.length) rest.push(buf.subarray(restFrom));
  }
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

async function* readJsonLines(chunks: AsyncIterable<Buffer>, from?: ReadFrom): AsyncGenerator<RawRow> {
  let line = (from?.line ?? 1) - 1;
  let record = (from?.record ?? 1) - 1;
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
    value = JSON.parse(escapeControlsInStrings(text));
  } catch (err) {
    return { kind: 'bad', line, record, reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'bad', line, record, reason: 'expected a JSON object' };
  }
  return { kind: 'row', line, record, fields: Object.entries(value as Record<string, RawValue>) };
}

// Control characters the validator rejects (TAB, LF and CR aside, which stay invalid JSON when raw).
const RAW_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

/**
 * Escapes raw control characters inside JSON strings (invalid JSON as they are), so that a NUL in a
 * value reaches the validator, which rejects that field by name instead of the row as unparseable.
 */
function escapeControlsInStrings(text: string): string {
  if (!RAW_CONTROL.test(text)) return text;
  let out = '';
  let from = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!inString) inString = c === 34;
    else if (escaped) escaped = false;
    else if (c === 92) escaped = true;
    else if (c === 34) inString = false;
    else if (c < 0x20 && RAW_CONTROL.test(text[i]!)) {
      out += `${text.slice(from, i)}\\u${c.toString(16).padStart(4, '0')}`;
      from = i + 1;
    }
  }
  return out + text.slice(from);
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
