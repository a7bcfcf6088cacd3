/**
 * The job: one per dropped object, identified by (bucket, key, eTag) so a repeated S3 event or the same
 * file dropped twice makes one job, and a changed file a new one.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Mode } from './enrich/enrich-group.ts';

export const JobStatus = {
  RECEIVED: 'RECEIVED',
  INGESTING: 'INGESTING',
  PROCESSING: 'PROCESSING',
  FINALIZING: 'FINALIZING',
  COMPLETE: 'COMPLETE',
  COMPLETE_WITH_ERRORS: 'COMPLETE_WITH_ERRORS',
  FAILED: 'FAILED',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set([JobStatus.COMPLETE, JobStatus.COMPLETE_WITH_ERRORS, JobStatus.FAILED]);

export const GroupStatus = {
  ENRICHED: 'ENRICHED',
  DECIDED: 'DECIDED',
  FAILED: 'FAILED',
} as const;
export type GroupStatus = (typeof GroupStatus)[keyof typeof GroupStatus];

/** Rows are counted per data record of the file; the rest per group (a group and its records). */
export const jobCountsSchema = z.object({
  rows: z.int().nonnegative(),
  accepted: z.int().nonnegative(),
  rejected: z.int().nonnegative(),
  duplicates: z.int().nonnegative(),
  groups: z.int().nonnegative(),
  enriched: z.int().nonnegative(),
  pending: z.int().nonnegative(),
  decided: z.int().nonnegative(),
  failed: z.int().nonnegative(),
});
export type JobCounts = z.infer<typeof jobCountsSchema>;

export const COUNT_NAMES: ReadonlyArray<keyof JobCounts> = [
  'rows', 'accepted', 'rejected', 'duplicates', 'groups', 'enriched', 'pending', 'decided', 'failed',
];

export function emptyCounts(): JobCounts {
  return { rows: 0, accepted: 0, rejected: 0, duplicates: 0, groups: 0, enriched: 0, pending: 0, decided: 0, failed: 0 };
}

export const jobTimingsSchema = z.object({
  receivedAt: z.iso.datetime(),
  ingestStartedAt: z.iso.datetime().optional(),
  ingestEndedAt: z.iso.datetime().optional(),
  finishedAt: z.iso.datetime().optional(),
});
export type JobTimings = z.infer<typeof jobTimingsSchema>;

/** Keys of a job's files in the results bucket (`resultKeys`). */
export const jobResultsSchema = z.object({
  jsonl: z.string(),
  csv: z.string(),
  summary: z.string(),
  rejects: z.string(),
  /** Entities left for a person to resolve (entities outputs that `resolve`), one JSON line each. */
  review: z.string().optional(),
});
export type JobResults = z.infer<typeof jobResultsSchema>;

export interface Job {
  jobId: string;
  bucket: string;
  key: string;
  etag: string;
  size: number;
  profile: string;
  /** The version of the profile the job was ingested with (see `Profile.version`). */
  profileVersion?: string;
  mode: Mode;
  status: JobStatus;
  counts: JobCounts;
  timings: JobTimings;
  /** Data rows read so far while ingesting (progress). */
  rowsRead?: number;
  /** A documents job's documents fanned out (its groups' documents; set by the manifest step). */
  documents?: number;
  error?: string;
  /** The job failed because the file cannot be read at all (empty, binary, no usable header). */
  badInput?: boolean;
  results?: JobResults;
  /** The settle ledger (see `src/pipeline/ledger.ts`): its shards, and how many have every group settled. */
  ledger?: { shards: number; closed: number };
  /** What the reconciler saw on its last pass over this job (settled groups, when). */
  reconcileMark?: { settled: number; at: string };
  /** How far a finalize has written the results, for the next one to go on from (FINALIZING only). */
  finalizeCursor?: FinalizeCursor;
}

/**
 * A finalize's progress: the segments of results written so far (each a run of groups in key order, staged under
 * `staging/<job>/results/`), the last group they hold, and what those groups add to the counts.
 */
export interface FinalizeCursor {
  segments: number;
  after?: string;
  /** Every group is in a segment: what is left is to join them into the results files. */
  done?: boolean;
  /** The JSONL's length so far (characters), for the time a join will take. */
  bytes?: number;
  tally: { enriched: number; pending: number; decided: number; failed: number; review: number; outcomes: Record<string, number> };
}

/**
 * The job id for an object version: stable across repeated events and re-drops of unchanged bytes.
 * @example jobIdFor('drop', 'incoming/tickets/a.csv', '9b2cf535f27731c974343645a3985328')
 */
export function jobIdFor(bucket: string, key: string, etag: string): string {
  const normalizedEtag = etag.replace(/^"|"$/g, '');
  return `j-${createHash('sha256').update(`${bucket}\n${key}\n${normalizedEtag}`).digest('hex').slice(0, 20)}`;
}

/**
 * Every group has an outcome (decided or failed) once ingestion has fanned all of them out: every shard
 * of the job's settle ledger is closed. The ledger counts each group once, however often it is replayed.
 */
export function allGroupsSettled(job: Pick<Job, 'status' | 'ledger'>): boolean {
  return job.status === JobStatus.PROCESSING && ledgerClosed(job);
}

/** The ledger has all its shards closed (a job with no groups has none). */
export function ledgerClosed(job: Pick<Job, 'ledger'>): boolean {
  return job.ledger !== undefined && job.ledger.closed >= job.ledger.shards;
}

/** The terminal status for final counts. Exact duplicates are not errors; rejects and failures are. */
export function finalStatus(counts: JobCounts): typeof JobStatus.COMPLETE | typeof JobStatus.COMPLETE_WITH_ERRORS {
  return counts.rejected > 0 || counts.failed > 0 ? JobStatus.COMPLETE_WITH_ERRORS : JobStatus.COMPLETE;
}

/** Where a job's files live in the results bucket. */
export function resultKeys(jobId: string): JobResults {
  return {
    jsonl: `results/${jobId}/results.jsonl`,
    csv: `results/${jobId}/results.csv`,
    summary: `results/${jobId}/summary.json`,
    review: `results/${jobId}/review.jsonl`,
    // Under their own prefix so a lifecycle rule can expire them (they hold raw row positions, not results).
    rejects: `rejects/${jobId}/rejects.jsonl`,
  };
}

/** The profile a drop key belongs to: `incoming/<profile>/<file>`. */
export function profileFromKey(key: string, dropPrefix: string): { profile: string; file: string } | undefined {
  if (!key.startsWith(dropPrefix)) return undefined;
  const rest = key.slice(dropPrefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { profile: rest.slice(0, slash), file: rest.slice(slash + 1) };
}

/**
 * The folders of a dropped file's path below its profile's folder, which a profile may read columns from
 * (`keyColumns`): `facebook/2026-05.csv` → ['facebook']. A forced re-run's `runs/<stamp>/` is not one of them.
 */
export function keyFolders(file: string): string[] {
  const parts = file.split('/').slice(0, -1);
  return parts[0] === 'runs' ? parts.slice(2) : parts;
}
