/**
 * Parallel, resumable ingest of a file of any size, through SQS fan-out (the `chunks` queue):
 *
 * 1. **plan** (`ingest-object.ts`): one pass cuts the file into chunks at row boundaries.
 * 2. **chunk** (one message each, in parallel): a ranged read of its bytes; every row is validated and
 *    cleaned, rejects go to the chunk's rejects part, accepted notes to its records file
 *    (`records/<job>/c<chunk>.jsonl`), grouped by partition (hash of the group) and within a partition by group,
 *    and one small head per note to its heads file (`staging/<job>/c<chunk>.jsonl`: group, line, the
 *    de-duplicator's fingerprint and where the note is), each partition's byte range noted in the chunk's summary.
 *    The last chunk done fans out one message per partition, with its ranges.
 * 3. **partition** (in parallel): reads only its heads of every chunk in file order, de-duplicates (every record
 *    of a group is in one partition, so first-line-wins holds across the file), opens its ledger shards and fans
 *    out one reference per group carrying where its notes are (a run per chunk it has notes in); the notes are not
 *    read nor written again, but for a conflict's two records and a group spread over too many runs (copied into
 *    one). The last partition done merges the rejects file in line order, sets the job's counts and ends its ingest.
 *
 * Each message is a checkpoint: retried whole, its outputs rewritten under the same keys with the same
 * bytes, and counted once (a number set on the job). A crash between any two writes is repaired by the
 * redelivery; nothing on the heap grows with the file beyond one chunk or one partition.
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import * as z from 'zod';
import type { ChunkSpan } from '../domain/records/plan-chunks.ts';
import { Deduplicator, type Fingerprint, differingField, fingerprint } from '../domain/records/dedupe.ts';
import { type FileFormat, type RawRow, UnreadableFileError, readRows } from '../domain/records/read-rows.ts';
import { type CleanRecord, keyColumnValues, mapHeaders, toGroupNote, validateRecord } from '../domain/records/validate-record.ts';
import type { GroupNote, Mode } from '../domain/enrich/enrich-group.ts';
import { JobStatus, resultKeys } from '../domain/job.ts';
import type { Profile } from '../profiles/profile.ts';
import type { PipelineDeps } from './deps.ts';
import { manifestStep } from './documents.ts';
import { maybeFinalize } from './finalize-job.ts';
import { GROUPS_PER_SHARD, shardSizes } from './ledger.ts';
import type { ChunkSummary, GroupRef, NotesRange, NotesSpan, PartitionSummary } from './ports.ts';
import { MAX_NOTE_RUNS, UnknownJobError, packGroups, readSpans } from './process-group.ts';
import { ByteBuilder, bytesOf } from './bytes.ts';
import { PermanentError } from './errors.ts';

/** Chunk and partition sizes: a chunk's work and a partition's heap stay bounded whatever the file's size. */
export interface Chunking {
  chunkBytes: number;
  /** A file larger than `fromBytes` is cut into chunks of `chunkBytes` instead (absent: every file in `chunkBytes`). */
  large?: { fromBytes: number; chunkBytes: number };
  /** Bytes of the file per partition of its records (the partition step holds its records' heads). */
  partitionBytes: number;
  maxPartitions: number;
}

// 8 MiB chunks: a chunk holds its notes (about twice its bytes) until it writes them; at
// 16 MiB the handler processes peaked ~50 MB higher, at 32 MiB the runtime ~200 MB (npm run bench:size --
// --ingest-only; docs/large-files.md). Past 512 MiB, 16 MiB chunks: each partition reads a range of every chunk's
// heads file (chunks × partitions GETs, 16,384 for 1 GiB in 8 MiB chunks), and halving them was faster at 1 GiB
// (four pairs: 8.4-10.5 MiB/s against 7.9-8.8) while a 100 MiB file wants its 13 chunks for parallelism.
// Partitions of 32 MiB: a partition holds only its records' heads (~10 MB of heap for 32 MiB of file), and a quarter
// of the heads reads (2,112 for 1 GiB) was faster there (two pairs: 12.9 / 12.9 MiB/s against 11.3 / 12.1).
export const DEFAULT_CHUNKING: Chunking = { chunkBytes: 8 * 1024 * 1024, large: { fromBytes: 512 * 1024 * 1024, chunkBytes: 16 * 1024 * 1024 }, partitionBytes: 32 * 1024 * 1024, maxPartitions: 256 };

/** The chunk size for a file of `size` bytes. */
export const chunkBytesFor = (size: number, chunking: Chunking): number => (chunking.large && size > chunking.large.fromBytes ? chunking.large.chunkBytes : chunking.chunkBytes);

/** Shard ids of a partition start at partition × this (a partition holds at most 25 M groups). */
const SHARDS_PER_PARTITION = 100_000;
/** DynamoDB's item limit is 400 KB and an enrichment quotes its notes: a larger record is refused. */
const MAX_RECORD_BYTES = 380_000;
const PROGRESS_EVERY = 2000;
/** Heads files a partition step reads at most at once (each a chunk's share: ~170 KB of 1 GiB in 16 MiB chunks, a whole chunk's when there is one partition). */
const HEADS_READ_AHEAD = 6;
/** Chunks up to which a partition message carries its ranges (at most ~60 KB of triples: SQS takes 256 KiB). */
export const RANGES_IN_MESSAGE = 2048;

/** One line of a job's rejects JSONL: a row that was not taken (malformed, invalid, too large, or a duplicate of an earlier one) and why. */
export const rejectLineSchema = z.object({
  /** The dropped object's key. */
  file: z.string(),
  /** The physical line the row starts on (the header is line 1). */
  line: z.int().positive(),
  /** The row's 1-based data-record number. */
  record: z.int().positive(),
  /** The field at fault, or null when the row as a whole is. */
  field: z.string().nullable(),
  reason: z.string(),
});
export type RejectLine = z.infer<typeof rejectLineSchema>;

const common = { jobId: z.string().min(1), profile: z.string().min(1), profileVersion: z.string().optional(), mode: z.enum(['fast', 'full']), chunks: z.number().int().positive(), partitions: z.number().int().positive() };

export const ingestPartSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('chunk'),
    ...common,
    bucket: z.string().min(1),
    key: z.string().min(1),
    etag: z.string(),
    format: z.enum(['csv', 'jsonl', 'json']),
    headerEnd: z.number().int().nonnegative(),
    chunk: z.number().int().nonnegative(),
    span: z.object({ start: z.number().int().nonnegative(), end: z.number().int().nonnegative(), firstLine: z.number().int().positive(), firstRecord: z.number().int().positive() }),
  }),
  z.object({
    kind: z.literal('partition'),
    ...common,
    key: z.string().min(1),
    partition: z.number().int().nonnegative(),
    /**
     * Its range of each chunk's heads file, as triples (chunk, start, end), read once by the last chunk done: each
     * partition reading every chunk's summary itself read chunks × partitions items (16,641 for 1 GiB). Absent for a
     * file of more than RANGES_IN_MESSAGE chunks: the step reads them.
     */
    heads: z.array(z.number().int().nonnegative()).optional(),
  }),
  /** A documents profile's manifest (`src/pipeline/documents.ts`), with its row range (`--rows`) if one was given. */
  z.object({ kind: z.literal('manifest'), ...common, bucket: z.string().min(1), key: z.string().min(1), etag: z.string(), rows: z.string().optional() }),
]);

export type IngestPart = z.infer<typeof ingestPartSchema>;
export type ChunkMessage = Extract<IngestPart, { kind: 'chunk' }>;
type PartitionMessage = Extract<IngestPart, { kind: 'partition' }>;
export type ManifestMessage = Extract<IngestPart, { kind: 'manifest' }>;

/** The chunk messages of a planned file. */
export function chunkMessages(
  job: { jobId: string; bucket: string; key: string; etag: string; profile: string; profileVersion?: string; mode: Mode },
  format: FileFormat,
  headerEnd: number,
  spans: ChunkSpan[],
  partitions: number,
): ChunkMessage[] {
  return spans.map((span, chunk) => ({ kind: 'chunk', ...job, format, headerEnd, chunk, span, chunks: spans.length, partitions }));
}

/** How many partitions a file of `size` bytes gets; one when a record's key does not hold its group. */
export function partitionsFor(profile: Profile, size: number, chunking: Chunking): number {
  if (!profile.recordKey.includes(profile.groupKey)) return 1;
  return Math.max(1, Math.min(chunking.maxPartitions, Math.ceil(size / chunking.partitionBytes)));
}

/**
 * A group's partition: FNV-1a over its id's UTF-16 code units. Written here because it is four lines and needs
 * no digest: an MD5 call per record was 0.5 s of a handler's CPU per 100 MiB, this is a few milliseconds.
 */
function partitionOf(groupId: string, partitions: number): number {
  if (partitions === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < groupId.length; i++) h = Math.imul(h ^ groupId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}
const stagingKey = (jobId: string, name: string) => `staging/${jobId}/${name}`;
const headsKey = (jobId: string, chunk: number) => stagingKey(jobId, `c${chunk}.jsonl`);
const notesKey = (jobId: string, chunk: number) => `records/${jobId}/c${String(chunk).padStart(5, '0')}.jsonl`;
/** A partition's records file: the notes of its groups spread over more than MAX_NOTE_RUNS runs, copied into one. */
const recordsKey = (jobId: string, partition: number) => `records/${jobId}/p${String(partition).padStart(4, '0')}.jsonl`;

/** Runs one message of the `chunks` queue. */
export async function ingestPartStep(deps: PipelineDeps, part: IngestPart): Promise<'done' | 'skipped' | 'failed'> {
  const job = await deps.store.getJob(part.jobId);
  if (!job) throw new UnknownJobError(part.jobId);
  // A job that failed (bad header, changed object) or whose ingest already ended has nothing left to do here.
  if (job.status !== JobStatus.INGESTING) return 'skipped';
  if (part.kind === 'manifest') return manifestStep(deps, part);
  return part.kind === 'chunk' ? chunkStep(deps, part) : partitionStep(deps, part);
}

const LF = 0x0a;
const COMMA = 0x2c;
const CLOSE = 0x5d; // ]

/**
 * A note's head in a heads file, one JSON array per line: its group, record and line numbers, the de-duplicator's
 * fingerprint (key, content) and the byte range [start, end) of its line in the chunk's records file. The partition
 * step reads only these (~100 bytes against a note's ~500); an array, where an object spelled its names on every line.
 */
type Head = [group: string, record: number, line: number, key: string, content: string, start: number, end: number];

/** A head as read. */
export function readHead(json: string): { g: string; r: number; l: number; d: Fingerprint; start: number; end: number } {
  const h = JSON.parse(json) as Head;
  return { g: h[0], r: h[1], l: h[2], d: { key: h[3], content: h[4] }, start: h[5], end: h[6] };
}

/** Room left in a head for its note's place, `start,end` (up to ten digits each), filled in once the notes are ordered. */
const PLACE = ' '.repeat(21);

/**
 * One partition's share of a chunk as it is read: its notes' lines in file order, each note's group (numbered in
 * the order the groups first appear), and its heads in file order, each with room for its note's place: a head is
 * written once, as its note is, rather than its fields kept (a small array each) until the notes are ordered.
 */
export class ChunkPartition {
  readonly #notes: ByteBuilder;
  readonly #heads: ByteBuilder;
  readonly #ends: number[] = [];
  readonly #groupOf: number[] = [];
  readonly #places: number[] = [];
  readonly #groups = new Map<string, number>();

  constructor(bytes: number) {
    this.#notes = new ByteBuilder(bytes);
    this.#heads = new ByteBuilder(Math.max(64 * 1024, bytes >> 2));
  }

  add(group: string, record: number, line: number, d: Fingerprint, noteJson: string): void {
    let g = this.#groups.get(group);
    if (g === undefined) this.#groups.set(group, (g = this.#groups.size));
    this.#notes.text(noteJson).byte(LF);
    this.#ends.push(this.#notes.length);
    this.#groupOf.push(g);
    // A group id or key never puts a raw line break in a head: JSON escapes it.
    const head = JSON.stringify([group, record, line, d.key, d.content]);
    this.#heads.text(head.slice(0, -1)).byte(COMMA);
    this.#places.push(this.#heads.length);
    this.#heads.text(PLACE).byte(CLOSE).byte(LF);
  }

  /**
   * Its notes grouped (each group's lines together, groups in the order they first appear, each group's in file
   * order), so that a group's notes in this chunk are one run — as views of the bytes read, one per stretch that
   * stays in order, not a second copy of the chunk's notes; and its heads in file order, each with its note's range
   * in the records file where these notes start at `base`.
   */
  ordered(base: number): { notes: Buffer[]; length: number; heads: Buffer } {
    const n = this.#ends.length;
    const ends = this.#ends;
    const groupOf = this.#groupOf;
    const start = (i: number) => (i ? ends[i - 1]! : 0);
    // Each group's first byte and first place in the output: the groups before it (a counting sort by group).
    const at = new Array<number>(this.#groups.size).fill(0);
    const rank = new Array<number>(this.#groups.size).fill(0);
    for (let i = 0; i < n; i++) {
      at[groupOf[i]!] = at[groupOf[i]!]! + ends[i]! - start(i);
      rank[groupOf[i]!] = rank[groupOf[i]!]! + 1;
    }
    for (let g = 0, bytes = 0, notes = 0; g < at.length; g++) {
      const b = at[g]!;
      const k = rank[g]!;
      at[g] = bytes;
      rank[g] = notes;
      bytes += b;
      notes += k;
    }
    const heads = this.#heads.bytes();
    const order = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const from = start(i);
      const length = ends[i]! - from;
      const g = groupOf[i]!;
      const to = at[g]!;
      at[g] = to + length;
      order[rank[g]!] = i;
      rank[g] = rank[g]! + 1;
      const place = `${base + to},${base + to + length}`;
      if (place.length > PLACE.length) throw new Error(`a chunk's records file past ${PLACE.length} characters of place: ${place}`);
      heads.write(place, this.#places[i]!, 'latin1');
    }
    const src = this.#notes.bytes();
    const notes: Buffer[] = [];
    for (let k = 0; k < n; ) {
      const first = order[k]!;
      let last = first;
      while (++k < n && order[k] === last + 1) last += 1;
      notes.push(src.subarray(start(first), ends[last]));
    }
    return { notes, length: src.length, heads };
  }
}

async function chunkStep(deps: PipelineDeps, msg: ChunkMessage): Promise<'done' | 'failed'> {
  const started = Date.now();
  const profile = await deps.profiles.at(msg.profile, msg.profileVersion);
  const file = msg.key;
  const fromKey = keyColumnValues(profile, msg.key, deps.dropPrefix);
  const { span } = msg;
  const object = await deps.objects.get(msg.bucket, msg.key, msg.chunks === 1 ? undefined : { start: span.start, end: span.end });
  if (object.etag && object.etag !== msg.etag.replace(/"/g, '')) {
    object.body.destroy();
    const reason = 'the object changed after this event; its newer version is ingested as its own job';
    await deps.store.failJob(msg.jobId, `${file}: ${reason}`, deps.now().toISOString());
    return 'failed';
  }
  // Each partition's notes, encoded as they are made; each builder starts at its share of about twice the chunk's
  // bytes (a note's line is ~1.7× its CSV row), so it seldom grows: growing by doubling from 64 KB copied every byte
  // about once more (0.4 s of a handler's CPU per 100 MiB, measured).
  const partitions = new Map<number, ChunkPartition>();
  const builderBytes = Math.min(16 * 1024 * 1024, Math.max(64 * 1024, Math.ceil((2 * (span.end - span.start)) / msg.partitions)));
  const rejects: string[] = [];
  let rows = 0;
  let rejected = 0;
  const reject = (line: RejectLine) => {
    rejected += 1;
    rejects.push(JSON.stringify(line));
  };
  try {
    let source: AsyncGenerator<RawRow>;
    if (msg.chunk === 0) source = readRows(object.body, file);
    else {
      const headers = msg.format === 'csv' ? await readHeader(deps, msg) : undefined;
      source = readRows(object.body, file, { format: msg.format, line: span.firstLine, record: span.firstRecord, headers });
    }
    for await (const row of source) {
      if (row.kind === 'header') {
        checkHeader(profile, row.headers);
        continue;
      }
      rows += 1;
      if (msg.chunks === 1 && rows % PROGRESS_EVERY === 0) await deps.store.reportIngestProgress(msg.jobId, rows);
      if (row.kind === 'bad') {
        reject({ file, line: row.line, record: row.record, field: null, reason: row.reason });
        continue;
      }
      const v = validateRecord(profile, row.fields, fromKey);
      if (!v.ok) {
        reject({ file, line: row.line, record: row.record, field: v.field, reason: v.reason });
        continue;
      }
      const { groupId, note } = toGroupNote(profile, v.record, row.line);
      const noteJson = JSON.stringify(note);
      const bytes = Buffer.byteLength(noteJson);
      if (bytes > MAX_RECORD_BYTES) {
        reject({ file, line: row.line, record: row.record, field: null, reason: `the record is ${Math.ceil(bytes / 1024)} KB; at most ${MAX_RECORD_BYTES / 1000} KB are taken per record` });
        continue;
      }
      const p = partitionOf(groupId, msg.partitions);
      const part = partitions.get(p) ?? partitions.set(p, new ChunkPartition(builderBytes)).get(p)!;
      part.add(groupId, row.record, row.line, fingerprint(v.record, profile.recordKey), noteJson);
    }
  } catch (err) {
    if (!(err instanceof UnreadableFileError)) throw err;
    const reason = `${file}: ${err.message}`;
    await deps.store.failJob(msg.jobId, reason, deps.now().toISOString(), true);
    deps.logger.warn('file cannot be read', { jobId: msg.jobId, reason: err.message });
    return 'failed';
  }
  const { written, heads, notesParts, headsParts } = chunkFiles(partitions);
  await Promise.all([
    ...(written.length ? [deps.objects.put(deps.resultsBucket, notesKey(msg.jobId, msg.chunk), notesParts, 'application/x-ndjson'), deps.objects.put(deps.resultsBucket, headsKey(msg.jobId, msg.chunk), headsParts, 'application/x-ndjson')] : []),
    ...(rejects.length ? [deps.objects.put(deps.resultsBucket, stagingKey(msg.jobId, `c${msg.chunk}/rejects.jsonl`), linesBody(rejects), 'application/x-ndjson')] : []),
  ]);
  deps.crashPoint?.('ingest.chunked');
  const summary: ChunkSummary = { rows, rejected, partitions: written, heads, rejects: rejects.length > 0 };
  const done = await deps.store.saveChunk(msg.jobId, msg.chunk, summary);
  deps.logger.info('chunk ingested', { jobId: msg.jobId, chunk: msg.chunk, of: msg.chunks, rows, rejected, ms: Date.now() - started });
  deps.metrics?.add('ChunksIngested', 1);
  if (done >= msg.chunks) {
    // Every chunk is in: one message per partition (a replay sends them again; partitions are idempotent).
    const common = { jobId: msg.jobId, profile: msg.profile, ...(msg.profileVersion ? { profileVersion: msg.profileVersion } : {}), mode: msg.mode, chunks: msg.chunks, partitions: msg.partitions, key: msg.key };
    const ranges = msg.chunks <= RANGES_IN_MESSAGE ? partitionRanges(msg.jobId, (await deps.store.readIngestParts(msg.jobId)).chunks, msg.chunks, msg.partitions) : undefined;
    await deps.chunkQueue.sendAll(Array.from({ length: msg.partitions }, (_, partition) => ({ kind: 'partition', ...common, partition, ...(ranges ? { heads: ranges[partition]! } : {}) }) satisfies PartitionMessage));
  }
  return 'done';
}

/** Each partition's range of each chunk's heads file, as triples (chunk, start, end) in chunk order. */
function partitionRanges(jobId: string, chunks: Array<ChunkSummary & { chunk: number }>, expected: number, partitions: number): number[][] {
  if (chunks.length < expected) throw new Error(`job ${jobId}: ${chunks.length} of ${expected} chunks stored`);
  const ranges = Array.from({ length: partitions }, (): number[] => []);
  for (const c of chunks) {
    if (c.partitions.length && !c.heads) throw new PermanentError(`chunk ${c.chunk} was staged by an earlier version of sluice; drop the file again`);
    c.partitions.forEach((p, i) => ranges[p]?.push(c.chunk, c.heads![i]!, c.heads![i + 1]!));
  }
  return ranges;
}

/**
 * A chunk's two files, its partitions' shares one after another in partition order: its records file (the notes)
 * and its heads file, with each partition's range of the heads. One object each per chunk, where one per chunk and
 * partition made 16,384 objects of a 1 GiB file; each goes up as its parts, in one request.
 */
function chunkFiles(partitions: Map<number, ChunkPartition>): { written: number[]; heads: number[]; notesParts: Buffer[]; headsParts: Buffer[] } {
  const written = [...partitions.keys()].sort((a, b) => a - b);
  const heads = [0];
  const notesParts: Buffer[] = [];
  const headsParts: Buffer[] = [];
  let base = 0;
  for (const p of written) {
    const part = partitions.get(p)!.ordered(base);
    partitions.delete(p);
    notesParts.push(...part.notes);
    headsParts.push(part.heads);
    base += part.length;
    heads.push(heads.at(-1)! + part.heads.length);
  }
  return { written, heads, notesParts, headsParts };
}

function checkHeader(profile: Profile, headers: string[]): void {
  const { missing } = mapHeaders(profile, headers);
  if (!missing.length) return;
  const accepted = missing.map((m) => {
    const column = profile.columns.find((c) => c.name === m)!;
    return `${m} (or ${column.aliases.join(', ')})`;
  });
  throw new UnreadableFileError(`the header lacks required column(s): ${accepted.join('; ')}`);
}

/** The file's CSV header, read from its first bytes (the plan noted where it ends). */
async function readHeader(deps: PipelineDeps, msg: ChunkMessage): Promise<string[]> {
  const head = await deps.objects.get(msg.bucket, msg.key, { start: 0, end: msg.headerEnd });
  for await (const row of readRows(head.body, msg.key)) if (row.kind === 'header') return row.headers;
  throw new UnreadableFileError('the CSV file has no header row');
}

/** Lines as one string: one encoding and one request body, where a stream of lines cost a buffer and a copy each. */
const linesBody = (lines: string[]): string => `${lines.join('\n')}\n`;

/**
 * The objects' contents (or ranges) in order, up to `ahead` of them read at once: a partition reads its range of each
 * chunk's heads file (64 for 1 GiB), and one at a time it waited on each round trip (1.3 s of its 2.2 s, measured).
 */
async function* readAhead(deps: PipelineDeps, keys: Array<{ key: string; range?: { start: number; end: number } }>, ahead: number): AsyncGenerator<Buffer> {
  const read = async ({ key, range }: (typeof keys)[number]) => bytesOf((await deps.objects.get(deps.resultsBucket, key, range)).body);
  const pending: Array<Promise<Buffer>> = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < keys.length) {
      const p = read(keys[next++]!);
      p.catch(() => undefined); // its error is thrown where it is awaited, in order
      pending.push(p);
    }
  };
  fill();
  while (pending.length) {
    const body = await pending.shift()!;
    fill();
    yield body;
  }
}

async function* readLines(deps: PipelineDeps, key: string): AsyncGenerator<string> {
  const object = await deps.objects.get(deps.resultsBucket, key);
  for await (const line of createInterface({ input: object.body, crlfDelay: Infinity })) if (line) yield line;
}

async function partitionStep(deps: PipelineDeps, msg: PartitionMessage): Promise<'done'> {
  const started = Date.now();
  const profile = await deps.profiles.at(msg.profile, msg.profileVersion);
  const ranges = msg.heads ?? partitionRanges(msg.jobId, (await deps.store.readIngestParts(msg.jobId)).chunks, msg.chunks, msg.partitions)[msg.partition]!;
  // Per group, numbered in the order groups first appear in the file: its note count and its first run of notes
  // (chunk, start, end), flat; the later runs of the few groups in more than one (a run grows while the group's next
  // note follows its last in the same file). Numbers in flat arrays, not an object and array per group (~300 bytes a
  // group, measured).
  const groups = new Map<string, number>();
  const noteCounts: number[] = [];
  const firstRuns: number[] = [];
  const laterRuns = new Map<number, number[]>();
  // Each accepted note's place (chunk, start, end), kept to name a conflict's field by its first record.
  const places: number[] = [];
  const dedupe = new Deduplicator();
  const rejects: Array<{ line: number; json: string }> = [];
  const conflicts: Array<{ first: number; chunk: number; start: number; end: number; line: number; record: number; firstLine: number }> = [];
  const counts = { accepted: 0, rejected: 0, duplicates: 0 };
  const reads: Array<{ key: string; range: { start: number; end: number } }> = [];
  const chunkOf: number[] = [];
  for (let i = 0; i < ranges.length; i += 3) {
    reads.push({ key: headsKey(msg.jobId, ranges[i]!), range: { start: ranges[i + 1]!, end: ranges[i + 2]! } });
    chunkOf.push(ranges[i]!);
  }
  let n = 0;
  for await (const body of readAhead(deps, reads, Math.min(HEADS_READ_AHEAD, msg.partitions))) {
    const chunk = chunkOf[n++]!;
    for (let start = 0, end = 0; start < body.length; start = end + 1) {
      end = body.indexOf(LF, start);
      if (end < 0) end = body.length;
      if (end === start) continue;
      const h = readHead(body.toString('utf8', start, end));
      const verdict = dedupe.check(h.d, h.l);
      if (verdict.kind === 'duplicate') {
        counts.duplicates += 1;
        rejects.push({ line: h.l, json: JSON.stringify({ file: msg.key, line: h.l, record: h.r, field: null, reason: `duplicate of line ${verdict.firstLine}` } satisfies RejectLine) });
        continue;
      }
      if (verdict.kind === 'conflict') {
        counts.rejected += 1;
        conflicts.push({ first: verdict.first, chunk, start: h.start, end: h.end, line: h.l, record: h.r, firstLine: verdict.firstLine });
        continue;
      }
      counts.accepted += 1;
      places.push(chunk, h.start, h.end);
      const g = groups.get(h.g);
      if (g === undefined) {
        groups.set(h.g, noteCounts.length);
        noteCounts.push(1);
        firstRuns.push(chunk, h.start, h.end);
        continue;
      }
      noteCounts[g] = noteCounts[g]! + 1;
      const later = laterRuns.get(g);
      const runs = later ?? firstRuns;
      const last = later ? later.length - 3 : 3 * g;
      if (runs[last] === chunk && runs[last + 2] === h.start) runs[last + 2] = h.end;
      else if (later) later.push(chunk, h.start, h.end);
      else laterRuns.set(g, [chunk, h.start, h.end]);
    }
  }
  const read = Date.now();
  const keys: string[] = [];
  const span = (chunk: number, start: number, end: number): NotesSpan => ({ key: (keys[chunk] ??= notesKey(msg.jobId, chunk)), start, end });
  // A conflict names the first field that differs: its two records are read (a few GETs: they sit near each other).
  if (conflicts.length) {
    const spans = conflicts.flatMap((c) => [span(places[3 * c.first]!, places[3 * c.first + 1]!, places[3 * c.first + 2]!), span(c.chunk, c.start, c.end)]);
    const notes = await Promise.all(readSpans(deps, spans));
    conflicts.forEach((c, i) => {
      const field = differingField(recordOf(profile, notes[2 * i]!), recordOf(profile, notes[2 * i + 1]!));
      const reason = `conflicts with line ${c.firstLine}: same ${profile.recordKey.join(' and ')}, different ${field}`;
      rejects.push({ line: c.line, json: JSON.stringify({ file: msg.key, line: c.line, record: c.record, field, reason } satisfies RejectLine) });
    });
  }
  places.length = 0;
  // A group spread over more than MAX_NOTE_RUNS runs (a file in which a group's records are far apart) has its notes
  // copied into the partition's records file, as one run.
  const spread: Array<{ group: number; runs: number[] }> = [];
  for (const [g, later] of laterRuns) if (later.length >= 3 * MAX_NOTE_RUNS) spread.push({ group: g, runs: [firstRuns[3 * g]!, firstRuns[3 * g + 1]!, firstRuns[3 * g + 2]!, ...later] });
  spread.sort((a, b) => a.group - b.group); // in the order groups first appear, not the order they spread
  const copied = spread.length ? await copySpread(deps, recordsKey(msg.jobId, msg.partition), spread, span) : new Map<number, NotesRange>();
  // Each group's reference, where its notes lie, made as its message is packed (not all held at once).
  const base = { jobId: msg.jobId, profile: msg.profile, ...(msg.profileVersion ? { profileVersion: msg.profileVersion } : {}), mode: msg.mode };
  function* refs(): Generator<GroupRef> {
    let g = 0;
    for (const groupId of groups.keys()) {
      let notes = copied.get(g);
      if (!notes) {
        const later = laterRuns.get(g);
        notes = span(firstRuns[3 * g]!, firstRuns[3 * g + 1]!, firstRuns[3 * g + 2]!);
        if (later) notes.more = Array.from({ length: later.length / 3 }, (_, k) => span(later[3 * k]!, later[3 * k + 1]!, later[3 * k + 2]!));
      }
      yield { ...base, groupId, noteCount: noteCounts[g]!, shard: msg.partition * SHARDS_PER_PARTITION + Math.floor(g / GROUPS_PER_SHARD), notes };
      g += 1;
    }
  }
  rejects.sort((a, b) => a.line - b.line);
  if (rejects.length) await deps.objects.put(deps.resultsBucket, stagingKey(msg.jobId, `p${msg.partition}/rejects.jsonl`), linesBody(rejects.map((r) => r.json)), 'application/x-ndjson');
  const sizes = shardSizes(groups.size);
  const written = Date.now();
  await deps.store.openLedger(msg.jobId, sizes.map((expected, k) => ({ shard: msg.partition * SHARDS_PER_PARTITION + k, expected })));
  deps.crashPoint?.('ingest.stored');
  const opened = Date.now();
  await deps.enrichQueue.sendAll(packGroups(refs()));
  const sent = Date.now();
  deps.crashPoint?.('ingest.fanned-out');
  const summary: PartitionSummary = { ...counts, groups: groups.size, shards: sizes.length, rejects: rejects.length > 0 };
  const done = await deps.store.savePartition(msg.jobId, msg.partition, summary);
  deps.logger.info('partition grouped', { jobId: msg.jobId, partition: msg.partition, of: msg.partitions, groups: groups.size, copied: spread.length, ms: Date.now() - started, readMs: read - started, writeMs: written - read, ledgerMs: opened - written, sendMs: sent - opened });
  if (done >= msg.partitions) await completeIngest(deps, msg);
  return 'done';
}

/** The notes of groups spread over too many runs, copied into one records file, each group's one run; returns each group's new place. */
async function copySpread(deps: PipelineDeps, key: string, spread: Array<{ group: number; runs: number[] }>, span: (chunk: number, start: number, end: number) => NotesSpan): Promise<Map<number, NotesRange>> {
  const spans: NotesSpan[] = [];
  for (const { runs } of spread) for (let k = 0; k < runs.length; k += 3) spans.push(span(runs[k]!, runs[k + 1]!, runs[k + 2]!));
  const parts = await Promise.all(readSpans(deps, spans));
  const copied = new Map<number, NotesRange>();
  let offset = 0;
  let next = 0;
  for (const { group, runs } of spread) {
    const start = offset;
    for (let k = 0; k < runs.length; k += 3) offset += parts[next++]!.length;
    copied.set(group, { key, start, end: offset });
  }
  await deps.objects.put(deps.resultsBucket, key, parts, 'application/x-ndjson');
  return copied;
}

/** A stored note's JSON line as the record it was read as (its text back among its values). */
function recordOf(profile: Profile, noteJson: Buffer): CleanRecord {
  const note = JSON.parse(noteJson.toString('utf8')) as GroupNote;
  return { values: { ...note.values, [profile.textField]: note.text }, attributes: note.attributes };
}

/** The last partition in: the rejects file in line order, the job's counts, the end of its ingest. */
async function completeIngest(deps: PipelineDeps, msg: PartitionMessage): Promise<void> {
  const { chunks, partitions } = await deps.store.readIngestParts(msg.jobId);
  const totals = { rows: 0, accepted: 0, rejected: 0, duplicates: 0, groups: 0 };
  let shards = 0;
  for (const c of chunks) {
    totals.rows += c.rows;
    totals.rejected += c.rejected;
  }
  for (const p of partitions) {
    totals.accepted += p.accepted;
    totals.rejected += p.rejected;
    totals.duplicates += p.duplicates;
    totals.groups += p.groups;
    shards += p.shards;
  }
  const parts = [
    ...chunks.filter((c) => c.rejects).map((c) => stagingKey(msg.jobId, `c${c.chunk}/rejects.jsonl`)),
    ...partitions.filter((p) => p.rejects).map((p) => stagingKey(msg.jobId, `p${p.partition}/rejects.jsonl`)),
  ];
  await deps.objects.put(deps.resultsBucket, resultKeys(msg.jobId).rejects, Readable.from(mergeByLine(parts.map((k) => readLines(deps, k)))), 'application/x-ndjson');
  await deps.store.recordIngestCounts(msg.jobId, totals, shards);
  const after = (await deps.store.finishIngest(msg.jobId, deps.now().toISOString())) ?? (await deps.store.getJob(msg.jobId));
  deps.logger.info('ingest finished', { jobId: msg.jobId, ...totals, chunks: chunks.length, partitions: partitions.length });
  deps.metrics?.add('RowsRead', totals.rows);
  deps.metrics?.add('RowsRejected', totals.rejected);
  deps.metrics?.add('RowsDuplicate', totals.duplicates);
  deps.metrics?.add('GroupsFannedOut', totals.groups);
  if (after) await maybeFinalize(deps, after);
}

/** Merges reject lines, each source already in line order, into one stream in line order. */
async function* mergeByLine(sources: AsyncGenerator<string>[]): AsyncGenerator<string> {
  // A few hundred sources at most (chunks + partitions): a linear pick of the smallest head is enough.
  const heads = await Promise.all(sources.map((s) => s.next()));
  const lineOf = (r: IteratorResult<string>) => (r.done ? Infinity : (JSON.parse(r.value) as RejectLine).line);
  const lines = heads.map(lineOf);
  for (;;) {
    let best = -1;
    for (let i = 0; i < lines.length; i++) if (lines[i]! !== Infinity && (best < 0 || lines[i]! < lines[best]!)) best = i;
    if (best < 0) return;
    yield `${(heads[best] as IteratorYieldResult<string>).value}\n`;
    heads[best] = await sources[best]!.next();
    lines[best] = lineOf(heads[best]!);
  }
}
