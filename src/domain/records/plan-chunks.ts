/**
 * Cuts a file into chunks at row boundaries, so that the chunks can be read in parallel and give exactly
 * the rows one reading of the whole file gives (`readRows` with its `from`). One pass over the bytes,
 * no parsing: a CSV scanner that knows where a quoted field starts and ends (line breaks inside quotes
 * are no boundary), and counts physical lines and data records the way the reader numbers them.
 *
 * Where the reader would find a malformed quote (unterminated, undoubled, or open for too many lines)
 * it reads some lines twice to recover the rows after it; the scanner cannot know those boundaries
 * without parsing, so it stops cutting there: the rest of the file is one chunk (correct, just serial).
 */
import { type FileFormat, MAX_QUOTED_LINES } from './read-rows.ts';

export interface ChunkSpan {
  /** Byte range [start, end) of the file. */
  start: number;
  end: number;
  /** Physical line (header = 1) and data-record number of the chunk's first row. */
  firstLine: number;
  firstRecord: number;
}

export interface ChunkPlan {
  /** Bytes [0, headerEnd) hold the CSV header (and any blank lines before it); 0 for JSON lines. */
  headerEnd: number;
  chunks: ChunkSpan[];
  /** Why cutting stopped early, if it did. */
  stoppedAt?: { line: number; reason: string };
  /** The bytes read to cut it: 0 for a file of one chunk, which is not scanned. */
  scannedBytes: number;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
// Scanner states, as the reader's.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_IN_QUOTED = 3;
const CLOSED = 4;
const CLOSED_CR = 5;
const COMMA_QUOTE = Buffer.from(',"');
/** What `String.prototype.trim` takes for white space, in ASCII. */
const SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);

/**
 * Plans the chunks of a file of `size` bytes: each ends at the first row boundary at or after a multiple
 * of `chunkBytes` from its start. A file of one chunk is not scanned.
 * @example const plan = await planChunks(body, 'csv', size, 16 * 1024 * 1024)
 */
export async function planChunks(body: AsyncIterable<Buffer>, format: FileFormat, size: number, chunkBytes: number): Promise<ChunkPlan> {
  if (size <= chunkBytes || format === 'json') {
    return { headerEnd: 0, chunks: [{ start: 0, end: size, firstLine: 1, firstRecord: 1 }], scannedBytes: 0 };
  }
  return format === 'csv' ? planCsv(body, size, chunkBytes) : planLines(body, size, chunkBytes);
}

async function planCsv(body: AsyncIterable<Buffer>, size: number, chunkBytes: number): Promise<ChunkPlan> {
  const chunks: ChunkSpan[] = [];
  let chunkStart = 0;
  let chunkLine = 1;
  let chunkRecord = 1;
  let headerEnd = -1;
  let offset = 0; // of the current buffer's first byte
  let line = 1;
  let records = 0;
  let state = FIELD_START;
  let content = false; // the record so far has a byte other than a trailing CR
  let quotedSince = 0;
  let stoppedAt: ChunkPlan['stoppedAt'];
  scan: for await (const raw of body) {
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    // The buffer's next line break and next `,"` at or after the scan (-1: none left; -2: not looked for yet).
    let nextLf = -2;
    let nextQuoted = -2;
    for (let i = 0; i < buf.length; i++) {
      if (state === UNQUOTED && content) {
        // Inside an unquoted field of a record with content only a line break or a quoted field's start matters:
        // jump to the next (or to the buffer's last byte, which may be a comma before a quote in the next one).
        // Byte by byte, the scan took half the plan's time (most fields are unquoted).
        if (nextLf !== -1 && nextLf < i) nextLf = buf.indexOf(LF, i);
        if (nextQuoted !== -1 && nextQuoted < i) nextQuoted = buf.indexOf(COMMA_QUOTE, i);
        let to = nextLf === -1 ? buf.length - 1 : nextLf;
        if (nextQuoted !== -1 && nextQuoted < to) to = nextQuoted;
        if (to > i) i = to;
      }
      const c = buf[i]!;
      if (state === QUOTED) {
        // Jump to the next quote, counting the line breaks on the way.
        const q = buf.indexOf(QUOTE, i);
        const stop = q === -1 ? buf.length : q;
        for (let n = buf.indexOf(LF, i); n !== -1 && n < stop; n = buf.indexOf(LF, n + 1)) line += 1;
        if (line - quotedSince >= MAX_QUOTED_LINES) {
          stoppedAt = { line: quotedSince, reason: `a quoted field stays open for ${MAX_QUOTED_LINES} lines` };
          offset += buf.length;
          break scan;
        }
        if (q === -1) {
          i = buf.length;
          break;
        }
        i = q;
        state = QUOTE_IN_QUOTED;
        continue;
      }
      if (state === QUOTE_IN_QUOTED) {
        if (c === QUOTE) {
          state = QUOTED;
          continue;
        }
        state = CLOSED;
      }
      if (state === CLOSED || state === CLOSED_CR) {
        if (c === COMMA && state === CLOSED) {
          state = FIELD_START;
          continue;
        }
        if (c === CR && state === CLOSED) {
          state = CLOSED_CR;
          continue;
        }
        if (c !== LF) {
          stoppedAt = { line, reason: 'a quote is neither doubled nor followed by a comma or the end of the line' };
          break scan;
        }
      } else if (c === QUOTE && state === FIELD_START) {
        state = QUOTED;
        quotedSince = line;
        content = true;
        continue;
      } else if (c !== LF) {
        if (c === COMMA) state = FIELD_START;
        else state = UNQUOTED;
        if (c !== CR) content = true;
        continue;
      }
      // A line break that ends a record.
      const end = offset + i + 1;
      line += 1;
      state = FIELD_START;
      if (!content) continue; // a blank line: no record
      content = false;
      if (headerEnd < 0) {
        headerEnd = end;
        continue;
      }
      records += 1;
      if (end - chunkStart >= chunkBytes && end < size) {
        chunks.push({ start: chunkStart, end, firstLine: chunkLine, firstRecord: chunkRecord });
        chunkStart = end;
        chunkLine = line;
        chunkRecord = records + 1;
      }
    }
    offset += buf.length;
  }
  if (state === QUOTED && !stoppedAt) stoppedAt = { line: quotedSince, reason: 'a quoted field is not closed before the end of the file' };
  chunks.push({ start: chunkStart, end: size, firstLine: chunkLine, firstRecord: chunkRecord });
  return { headerEnd: Math.max(0, headerEnd), chunks, ...(stoppedAt ? { stoppedAt } : {}), scannedBytes: offset };
}

/** JSON lines: every line break is a boundary; a record is a line with more than white space. */
async function planLines(body: AsyncIterable<Buffer>, size: number, chunkBytes: number): Promise<ChunkPlan> {
  const chunks: ChunkSpan[] = [];
  let chunkStart = 0;
  let chunkLine = 1;
  let chunkRecord = 1;
  let offset = 0;
  let line = 1;
  let records = 0;
  let content = false;
  for await (const raw of body) {
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    let from = 0;
    for (let n = buf.indexOf(LF); ; n = buf.indexOf(LF, from)) {
      const stop = n === -1 ? buf.length : n;
      if (!content) for (let i = from; i < stop; i++) if (!SPACE.has(buf[i]!)) content = true;
      if (n === -1) break;
      from = n + 1;
      line += 1;
      if (!content) continue;
      content = false;
      records += 1;
      const end = offset + n + 1;
      if (end - chunkStart >= chunkBytes && end < size) {
        chunks.push({ start: chunkStart, end, firstLine: chunkLine, firstRecord: chunkRecord });
        chunkStart = end;
        chunkLine = line;
        chunkRecord = records + 1;
      }
    }
    offset += buf.length;
  }
  chunks.push({ start: chunkStart, end: size, firstLine: chunkLine, firstRecord: chunkRecord });
  return { headerEnd: 0, chunks, scannedBytes: offset };
}
