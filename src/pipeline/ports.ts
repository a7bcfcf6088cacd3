/**
 * The ports the pipeline steps talk through. Adapters (`src/adapters/`) implement them over S3, SQS and
 * DynamoDB; the handlers and the local runtime inject them, pointed at AWS or at the local emulators.
 */
import type { Readable } from 'node:stream';
import type { Decision } from '../domain/decide/decide-group.ts';
import type { SettledDocument } from '../domain/documents/rollup.ts';
import type { Enrichment, Mode } from '../domain/enrich/enrich-group.ts';
import type { FinalizeCursor, Job, JobCounts, JobResults, JobStatus } from '../domain/job.ts';
import type { GroupMarks, LedgerShard } from './ledger.ts';

export interface StoredObject {
  body: Readable;
  etag: string;
  size: number;
  metadata: Record<string, string>;
}

export interface ObjectStore {
  /** Streams an object, or the byte range [start, end) of it. */
  get(bucket: string, key: string, range?: { start: number; end: number }): Promise<StoredObject>;
  /** Every object under a prefix, in key order (ListObjectsV2, paged). */
  list(bucket: string, prefix: string): Promise<Array<{ key: string; size: number }>>;
  /** Writes an object: a stream as it comes (multipart when large, never buffered whole); bytes in memory (one buffer, or pieces in order) in one request. */
  put(bucket: string, key: string, body: Readable | string | Buffer | Buffer[], contentType: string): Promise<void>;
}

/** Bytes [start, end) of an object in the results bucket. */
export interface NotesSpan {
  key: string;
  start: number;
  end: number;
}

/**
 * Where a group's notes are, in the results bucket: bytes [start, end) of a records file — one note's JSON per line
 * (a JSON array of them in records files of an earlier sluice) — and, when they lie in several runs (a group
 * spread over chunks of its file), the further runs in order (`more`).
 */
export interface NotesRange extends NotesSpan {
  more?: NotesSpan[];
}

/** A group as the enrich and decide stages see it: a reference, never the payload (messages carry ten: `GroupMessage`). */
export interface GroupRef {
  jobId: string;
  groupId: string;
  profile: string;
  /** The profile version the job was ingested with (absent for jobs from before versions: the bundled one). */
  profileVersion?: string;
  mode: Mode;
  noteCount: number;
  /** The group's settle-ledger shard (`src/pipeline/ledger.ts`). */
  shard: number;
  notes: NotesRange;
}

/** Where a message that can never succeed goes at once: its function's DLQ, with the reason. */
export interface DeadLetters {
  send(body: string, reason: string, messageId: string): Promise<void>;
}

export interface WorkQueue {
  /** Sends messages in batches of 10 (SendMessageBatch), retrying entries SQS reports as failed. */
  sendAll(bodies: object[]): Promise<void>;
}

export interface GroupItem {
  jobId: string;
  groupId: string;
  status: string;
  noteCount: number;
  attempts: number;
  enrichment?: Enrichment;
  decision?: Decision;
  stages: Record<string, { status: string; at: string; error?: string }>;
  lastError?: string;
  updatedAt: string;
  /** Its settle-ledger shard. */
  shard?: number;
  /** Where its notes are stored (set when it is enriched). */
  notes?: NotesRange;
  /** A shadow candidate's decision of it, recorded beside the active one and never served (`src/pipeline/shadow.ts`). */
  shadow?: ShadowDecision;
}

/** What a shadow candidate version decided for a group, or why it could not. */
export interface ShadowDecision {
  version: string;
  outcome?: string;
  rule?: string;
  error?: string;
}

/** What one chunk of a file gave (`src/pipeline/ingest-chunks.ts`). */
export interface ChunkSummary {
  rows: number;
  rejected: number;
  /** The partitions it wrote records for, ascending. */
  partitions: number[];
  /**
   * Byte offsets into its heads file: `partitions[i]`'s heads are [heads[i], heads[i + 1]). Absent in a summary
   * stored by an earlier sluice (heads and notes in one staged file then), which a partition step refuses.
   */
  heads?: number[];
  /** It wrote a rejects part. */
  rejects: boolean;
}

/** What one partition of a job's records gave, once de-duplicated and grouped. */
export interface PartitionSummary {
  accepted: number;
  rejected: number;
  duplicates: number;
  groups: number;
  /** Its settle-ledger shards. */
  shards: number;
  rejects: boolean;
}

export interface TopicRunRecord {
  profile: string;
  at: string;
  skipped: boolean;
  reason?: string;
  records: number;
  topics?: Array<{ id: number; label: string; terms: string[]; size: number; coherence: number; npmi?: number }>;
  /** S3 key of the per-record assignments (JSONL). */
  detail?: string;
  /** Who labelled the topics: the LLM when one is configured, else their top terms. */
  labelSource?: 'llm' | 'terms';
}

export interface PendingItem {
  jobId: string;
  groupId: string;
  stages: string[];
  /** When the group became pending (ISO time). */
  since: string;
}

export type TransitionResult = 'applied' | 'repeat' | 'closed';

/** Who ingests a job (the SQS message id of its notification) and until when (epoch ms). */
export interface IngestLease {
  owner: string;
  until: number;
  now: number;
}

/** A documents profile's document as stored once it has settled (`src/pipeline/documents.ts`). */
export type DocumentItem = SettledDocument;

export interface DocumentStore {
  /** Stores a settled document unless it is stored already ('repeat'). */
  saveDocument(jobId: string, groupId: string, item: DocumentItem): Promise<'applied' | 'repeat'>;
  getDocument(jobId: string, groupId: string, docId: string): Promise<DocumentItem | undefined>;
  /**
   * Counts settled documents of a group, each once however often it is replayed (an ADD to a set: no scan, no
   * transaction); returns how many of the group's documents have settled.
   */
  countDocuments(jobId: string, groupId: string, docIds: string[]): Promise<number>;
  /** The group's settled documents, in their order. */
  listDocuments(jobId: string, groupId: string): Promise<DocumentItem[]>;
  /** How many of a documents job's documents are settled (stored and counted into their groups' sets), for progress. */
  countSettledDocuments(jobId: string): Promise<number>;
}

export interface StatusStore extends DocumentStore {
  /** Creates the job unless it exists; returns the job item as stored either way (open ledger shards not summed). */
  createJob(job: Job): Promise<{ created: boolean; job: Job }>;
  getJob(jobId: string): Promise<Job | undefined>;
  /** The job's status alone (one GetItem, no ledger read); undefined when there is no such job. */
  getJobStatus(jobId: string): Promise<JobStatus | undefined>;
  listJobs(limit: number): Promise<Job[]>;
  /**
   * Takes the ingest lease: RECEIVED → INGESTING, or an INGESTING job whose lease expired or is held by
   * the same message (its redelivery). `busy`: another delivery is ingesting it now; `past`: ingested.
   * `status` is the job's status after the attempt.
   */
  startIngest(jobId: string, at: string, mode: Mode, lease: IngestLease, profileVersion: string): Promise<{ outcome: 'started' | 'busy' | 'past'; status: JobStatus }>;
  /** Extends an ingest lease still held; false when it was lost. */
  renewIngest(jobId: string, lease: IngestLease): Promise<boolean>;
  /** Rows read so far by a job's only chunk (a job of several chunks counts its rows as each chunk is done). */
  reportIngestProgress(jobId: string, rowsRead: number): Promise<void>;
  /**
   * Stores what a chunk gave and counts it done once (its rows added to the job's rows read once);
   * returns how many of the job's chunks are done.
   */
  saveChunk(jobId: string, chunk: number, summary: ChunkSummary): Promise<number>;
  /** Stores what a partition gave and counts it done once; returns how many partitions are done. */
  savePartition(jobId: string, partition: number, summary: PartitionSummary): Promise<number>;
  /** Every chunk's and partition's summary so far, in order. */
  readIngestParts(jobId: string): Promise<{ chunks: Array<ChunkSummary & { chunk: number }>; partitions: Array<PartitionSummary & { partition: number }> }>;
  /**
   * Sets the ingest counts (absolute, so a retried ingest does not double them), the group total and the ledger's
   * shard count; a documents job's document total too.
   */
  recordIngestCounts(jobId: string, counts: Pick<JobCounts, 'rows' | 'accepted' | 'rejected' | 'duplicates' | 'groups'>, ledgerShards: number, documents?: number): Promise<void>;
  /** INGESTING → PROCESSING once every group is fanned out; returns the job as stored after the change (undefined: it had ended already). */
  finishIngest(jobId: string, at: string): Promise<Job | undefined>;
  /** Ends the job as FAILED; `badInput` when the file itself cannot be read (the CLI exits 2). */
  failJob(jobId: string, error: string, at: string, badInput?: boolean): Promise<void>;
  getGroup(jobId: string, groupId: string): Promise<GroupItem | undefined>;
  /** Several groups at once (a batch's), in the order asked; undefined where a group is not stored. */
  getGroups(keys: Array<{ jobId: string; groupId: string }>): Promise<Array<GroupItem | undefined>>;
  /** Stores a group's enrichment (and where its notes are) unless the group is already decided or failed. */
  /** `once`: only if the group has no state yet (a documents group's roll-up), else 'repeat' or 'closed'. */
  saveEnrichment(jobId: string, groupId: string, noteCount: number, enrichment: Enrichment, shard: number, notes: NotesRange, at: string, shadow?: ShadowDecision, o?: { once?: boolean }): Promise<TransitionResult>;
  /** Stores a group's decision once. */
  saveDecision(jobId: string, groupId: string, decision: Decision, at: string): Promise<TransitionResult>;
  /** Marks a group failed once (its message went to the DLQ), with the stage and the error. */
  markGroupFailed(jobId: string, groupId: string, stage: string, error: string, shard: number, at: string): Promise<TransitionResult>;
  /** Notes an attempt that failed but will be retried. */
  recordGroupAttemptError(jobId: string, groupId: string, stage: string, error: string, at: string): Promise<void>;
  /** Opens settle-ledger shards, each with the number of groups it holds (idempotent: a retry keeps their counts). */
  openLedger(jobId: string, shards: Array<{ shard: number; expected: number }>): Promise<void>;
  /**
   * Counts groups' states into one ledger shard (one write), each once however often it is replayed. Returns
   * the job when the shard is closed (every group in it settled, now or before); undefined while it is open.
   */
  countGroups(jobId: string, shard: number, members: Array<{ groupId: string; marks: GroupMarks }>): Promise<Job | undefined>;
  /** Every shard of the job's ledger with the members it has counted. */
  readLedger(jobId: string): Promise<LedgerShard[]>;
  /** Ids of the jobs not ended yet (sparse index, no scan), oldest first. */
  listActiveJobs(): AsyncIterable<string>;
  /** Remembers what the reconciler saw, to tell a stalled job from a slow one on its next pass. */
  markReconciled(jobId: string, settled: number, at: string): Promise<void>;
  /** Takes the finalize lease: PROCESSING → FINALIZING, or an expired FINALIZING lease. */
  tryStartFinalize(jobId: string, leaseUntil: number, now: number): Promise<boolean>;
  /** Extends a finalize lease still held; false when it was lost. */
  renewFinalize(jobId: string, leaseUntil: number, newLeaseUntil: number): Promise<boolean>;
  /** The job's groups in key order; from the one after `after` (a group id) when given. */
  listGroups(jobId: string, after?: string): AsyncIterable<GroupItem>;
  /** Records how far the finalize holding `leaseUntil` has written the results; false when the lease is not its own. */
  saveFinalizeCursor(jobId: string, leaseUntil: number, cursor: FinalizeCursor): Promise<boolean>;
  /**
   * Each group's id, ledger shard and what its state says for its counts, read without its enrichment, decision and
   * notes (a replay of a stalled job reads every group: ~850,000 of a 1 GiB file).
   */
  listGroupMarks(jobId: string): AsyncIterable<{ groupId: string; shard?: number; marks: GroupMarks }>;
  /**
   * Groups with pending work under one key (`pending_summary`, `pending_llm`, …), oldest first, from the
   * sparse `pending` index (no scan). `after` continues from a previous page's `next`.
   */
  listPending(key: string, limit: number, after?: string): Promise<{ items: PendingItem[]; next?: string }>;
  /** Takes a pending group for a backfill until `leaseUntil`; false when it is no longer pending or leased by another. */
  leasePending(jobId: string, groupId: string, leaseUntil: number, now: number): Promise<boolean>;
  /** Gives a leased group back, still pending (the LLM is unavailable). */
  releasePending(jobId: string, groupId: string, leaseUntil: number): Promise<void>;
  /** Stores a backfilled group's full enrichment and its new decision, if the lease is still ours; clears its pending marks. */
  saveBackfill(jobId: string, groupId: string, enrichment: Enrichment, decision: Decision, leaseUntil: number, at: string): Promise<boolean>;
  /** Jobs received in [from, to) (ISO times), oldest first, from the byKind index. */
  listJobsReceived(from: string, to: string): AsyncIterable<Job>;
  /** Stores an alert raised by a quality gate (one per day, profile and gate; a repeat overwrites it). */
  putAlert(alert: { day: string; profile: string; gate: string; message: string; at: string } & Record<string, unknown>): Promise<void>;
  /** The latest topic run of a profile that was not skipped. */
  latestTopicRun(profile: string): Promise<TopicRunRecord | undefined>;
  /** Stores a topic run (or a skipped one, with its reason); a completed run becomes the latest. */
  putTopicRun(run: TopicRunRecord): Promise<void>;
  /** Sets a terminal job's counts after its results files were rewritten. */
  refreshJobCounts(jobId: string, counts: JobCounts, at: string): Promise<void>;
  /** Ends the job if the lease `leaseUntil` is still its own; false when another finalizer took over. */
  completeJob(jobId: string, status: JobStatus, counts: JobCounts, results: JobResults, at: string, leaseUntil: number): Promise<boolean>;
}
