/**
 * Finalizing a job: exactly one invocation (the one that takes the lease) writes the results JSONL and
 * CSV and the summary, recounts the group outcomes from the stored groups, and sets the final status.
 * A finalizer that dies leaves an expiring lease; the next message for the job takes it over.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import * as z from 'zod';
import { decisionSchema } from '../domain/decide/decide-group.ts';
import { enrichmentSchema, modeSchema } from '../domain/enrich/enrich-group.ts';
import { type FinalizeCursor, GroupStatus, type Job, type JobCounts, type JobResults, JobStatus, allGroupsSettled, finalStatus, jobCountsSchema, jobResultsSchema, jobTimingsSchema, ledgerClosed, resultKeys } from '../domain/job.ts';
import type { PipelineDeps } from './deps.ts';
import type { OutputSpec } from '../profiles/profile.ts';
import type { Profile } from '../profiles/profile.ts';
import type { GroupItem } from './ports.ts';

/** Short, and renewed while results are written: a finalizer that died is replaced within a minute. */
export const FINALIZE_LEASE_MS = 60_000;
const RENEW_EVERY_MS = 15_000;

/** How long a finalize called with no deadline, outside an invocation that set one, begins new segments. */
export const FINALIZE_STEP_MS = 60_000;

/** Time kept back from an invocation's end for the segment a finalize may be writing when its deadline comes. */
export const FINALIZE_MARGIN_MS = 30_000;

const invocationDeadline = new AsyncLocalStorage<number>();

/**
 * Runs `fn` (a queue function's invocation) with its end known to any finalize it leads to, however deep: that
 * finalize begins nothing new past `endsAt - FINALIZE_MARGIN_MS`, and does not start when that has passed.
 * @example await withInvocationDeadline(Date.now() + context.getRemainingTimeInMillis(), () => steps(deps, refs))
 */
export function withInvocationDeadline<T>(endsAt: number, fn: () => Promise<T>): Promise<T> {
  return invocationDeadline.run(endsAt - FINALIZE_MARGIN_MS, fn);
}

export interface FinalizeOptions {
  /**
   * Leases that end before this (epoch ms) are taken over as if expired: only for a local runtime starting on its
   * own state folder, whose leases from before its start belonged to a process that is gone (a lease taken since
   * ends later, so a finalize begun beside the pass on start is not taken from).
   */
  takeOverBefore?: number;
  /** Epoch ms after which no new segment is begun (default: the invocation's, else `FINALIZE_STEP_MS` from now). */
  deadline?: number;
  /** Groups per segment (else the deps', else `SEGMENT_GROUPS`). */
  segmentGroups?: number;
}

/**
 * Finalizes the job if every group is settled and nobody else holds the lease. A large job's results are written a
 * segment at a time; at its deadline the finalize saves where it is, gives its lease up and returns false, and the
 * next one (the reconciler's next pass) goes on from there. Returns true when it ended the job.
 */
export async function maybeFinalize(deps: PipelineDeps, job: Job, o: FinalizeOptions = {}): Promise<boolean> {
  // FINALIZING: an earlier finalizer may have died; its lease says when it may be replaced.
  if (!allGroupsSettled(job) && !(job.status === JobStatus.FINALIZING && ledgerClosed(job))) return false;
  const inInvocation = invocationDeadline.getStore();
  const deadline = o.deadline ?? inInvocation ?? Date.now() + FINALIZE_STEP_MS;
  // No time left in this invocation: the reconciler's next pass finalizes. (One given a deadline writes a segment.)
  if (o.deadline === undefined && inInvocation !== undefined && Date.now() >= inInvocation) return false;
  const now = deps.now().getTime();
  let leaseUntil = now + FINALIZE_LEASE_MS;
  if (!(await deps.store.tryStartFinalize(job.jobId, leaseUntil, Math.max(now, o.takeOverBefore ?? 0)))) return false;
  deps.crashPoint?.('finalize.leased');
  // Renewals, cursor saves and the release run one after another, each with the lease as the last one left it.
  let chain: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(step: () => Promise<T>): Promise<T> => {
    const next = chain.then(step);
    chain = next.catch(() => undefined);
    return next;
  };
  let lost = false;
  const renew = setInterval(() => {
    const next = deps.now().getTime() + FINALIZE_LEASE_MS;
    void inTurn(async () => {
      if (await deps.store.renewFinalize(job.jobId, leaseUntil, next)) leaseUntil = next;
      else lost = true;
    }).catch(() => undefined);
  }, RENEW_EVERY_MS);
  // A finalize that stops (paused, or failed: not one that died) gives its lease up, so the next one, or the message
  // retried for it, goes on at once rather than a lease later; conditional on the lease being still its own.
  const release = async () => {
    clearInterval(renew);
    await inTurn(() => deps.store.renewFinalize(job.jobId, leaseUntil, 0)).catch(() => undefined);
  };
  try {
    // Read again under the lease: the job handed in may predate the cursor an earlier finalize saved.
    const current = (await deps.store.getJob(job.jobId)) ?? job;
    const outcome = await writeResults(deps, current, {
      ...(current.finalizeCursor ? { cursor: current.finalizeCursor } : {}),
      deadline,
      ...((o.segmentGroups ?? deps.segmentGroups) ? { segmentGroups: o.segmentGroups ?? deps.segmentGroups } : {}),
      save: (cursor) => inTurn(() => deps.store.saveFinalizeCursor(job.jobId, leaseUntil, cursor)),
      held: () => !lost,
    });
    if ('lost' in outcome) {
      deps.logger.warn('finalize lease lost; another finalizer goes on', { jobId: job.jobId });
      return false;
    }
    if ('paused' in outcome) {
      await release();
      deps.logger.info('finalize paused at its deadline; the next goes on', { jobId: job.jobId, segments: outcome.paused.segments });
      return false;
    }
    const { status, counts, keys, finishedAt } = outcome.written;
    deps.crashPoint?.('finalize.written');
    clearInterval(renew);
    await chain;
    if (!(await deps.store.completeJob(job.jobId, status, counts, keys, finishedAt, leaseUntil))) {
      deps.logger.warn('finalize lease lost; another finalizer ends the job', { jobId: job.jobId });
      return false;
    }
    deps.logger.info('job finalized', { jobId: job.jobId, status, ...counts });
    return true;
  } catch (err) {
    await release();
    throw err;
  } finally {
    clearInterval(renew);
  }
}

/** One line of results.jsonl: a group with its enrichment and its decision (or its error). */
export const resultLineSchema = z.object({
  jobId: z.string(),
  profile: z.string(),
  /** The version of the profile the job ran with (a hash of its data). */
  profileVersion: z.string().optional(),
  groupId: z.string(),
  status: z.enum([GroupStatus.ENRICHED, GroupStatus.DECIDED, GroupStatus.FAILED]),
  noteCount: z.int().nonnegative(),
  enrichment: enrichmentSchema.nullable(),
  decision: decisionSchema.nullable(),
  /** Why the group failed (FAILED only). */
  error: z.string().nullable(),
});
export type ResultLine = z.infer<typeof resultLineSchema>;

export function resultLine(job: Job, group: GroupItem): ResultLine {
  return {
    jobId: job.jobId,
    profile: job.profile,
    ...(job.profileVersion ? { profileVersion: job.profileVersion } : {}),
    groupId: group.groupId,
    // The store writes one of GroupStatus (a settled group is DECIDED or FAILED).
    status: group.status as GroupStatus,
    noteCount: group.noteCount,
    enrichment: group.enrichment ?? null,
    decision: group.decision ?? null,
    error: group.status === 'FAILED' ? (group.lastError ?? 'unknown error') : null,
  };
}

/** The CSV's columns for a profile: the group's own, one per declared output (snake_case), then its state. */
export function csvColumns(profile: Profile): string[] {
  return [
    'job_id', 'group_id', 'status', 'decision', 'outcome', 'rule', 'reason',
    ...profile.outputs.map((o) => o.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)),
    'eligible_records', 'record_count', 'provider', 'pending_outputs', 'error',
  ];
}

/** Cells a spreadsheet would run as a formula are prefixed with a quote (CSV injection). */
export function neutralizeCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** One output's value as a cell: a list joined with "; ", a sentiment by its label, entities as JSON. */
function cell(spec: OutputSpec, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (spec.type === 'labels') return (value as string[]).join('; ');
  if (spec.type === 'sentiment') return (value as { label: string }).label;
  if (spec.type === 'entities') return JSON.stringify(value);
  return String(value);
}

export function csvRow(profile: Profile, job: Job, group: GroupItem): string[] {
  const e = group.enrichment;
  const d = group.decision;
  const cells = [
    job.jobId, group.groupId, group.status, d?.name ?? '', d?.outcome ?? '', d?.rule ?? '', d?.reason ?? '',
    ...profile.outputs.map((o) => cell(o, e?.outputs[o.name])),
    String(e?.eligibleNoteIds.length ?? 0), String(group.noteCount), e?.provider ?? '',
    e ? Object.entries(e.stages).filter(([, s]) => s === 'pending').map(([s]) => s).join(' ') : '',
    group.status === 'FAILED' ? (group.lastError ?? '') : '',
  ];
  return cells.map(neutralizeCell);
}

/** A job's summary.json: its source, final status, counts, outcomes, provider, timings and result files. */
export const jobSummarySchema = z.object({
  jobId: z.string(),
  profile: z.string(),
  /** The version of the profile the job ran with (a hash of its data). */
  profileVersion: z.string().optional(),
  mode: modeSchema,
  /** The dropped object. */
  source: z.object({ bucket: z.string(), key: z.string(), etag: z.string(), size: z.int().nonnegative() }),
  status: z.enum([JobStatus.COMPLETE, JobStatus.COMPLETE_WITH_ERRORS]),
  counts: jobCountsSchema,
  /** Groups per decision outcome. */
  outcomes: z.record(z.string(), z.int().positive()),
  /** Entities left for review in `results.review` (entities outputs that resolve against another). */
  review: z.int().nonnegative(),
  /** The enrichment provider of the run that wrote the results. */
  provider: z.string(),
  timings: jobTimingsSchema.required({ finishedAt: true }),
  results: jobResultsSchema,
});
export type JobSummary = z.infer<typeof jobSummarySchema>;

/** Writes to a results stream, waiting for room; fails with the stream's error once it is destroyed (its upload failed). */
async function write(stream: Writable, chunk: unknown): Promise<void> {
  if (stream.destroyed) throw stream.errored ?? new Error('a results upload ended early');
  if (!stream.write(chunk)) await once(stream, 'drain'); // rejects when the stream errors while it waits
}

/** Groups in one staged segment of a large job's results (~20-40 MB of JSONL), between two checkpoints. */
export const SEGMENT_GROUPS = 20_000;

/** What a job's groups add to its counts, and its outcomes and review lines, as a finalize reads them. */
type Tally = FinalizeCursor['tally'];
const emptyTally = (): Tally => ({ enriched: 0, pending: 0, decided: 0, failed: 0, review: 0, outcomes: {} });
function addTally(a: Tally, b: Tally): Tally {
  const outcomes = { ...a.outcomes };
  for (const [k, n] of Object.entries(b.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  return { enriched: a.enriched + b.enriched, pending: a.pending + b.pending, decided: a.decided + b.decided, failed: a.failed + b.failed, review: a.review + b.review, outcomes };
}

type ResultFile = 'jsonl' | 'csv' | 'review';
const CONTENT_TYPES: Record<ResultFile, string> = { jsonl: 'application/x-ndjson', csv: 'text/csv', review: 'application/x-ndjson' };
/** Where segment `index` of a job's results is staged (the results bucket's `staging/` expires). */
export const segmentKey = (jobId: string, index: number, file: ResultFile) => `staging/${jobId}/results/${String(index).padStart(6, '0')}.${file === 'review' ? 'review.jsonl' : file}`;

/**
 * Writes the groups after `after` (all of them, or `limit`) to the three files at `keys`, the CSV with its header when
 * `header`, and returns how many it wrote, the last one's id, their tally and the JSONL's length (characters).
 */
async function writeSegment(deps: PipelineDeps, job: Job, profile: Profile, keys: Record<ResultFile, string>, o: { after?: string; limit: number; header: boolean }) {
  const jsonl = new PassThrough();
  const csv = stringify({ header: o.header, columns: csvColumns(profile) });
  const review = new PassThrough();
  const streams = [jsonl, csv, review];
  let uploadFailed: unknown;
  // An upload that fails stops reading its stream: every stream is failed with it, so that a write waiting for room
  // (see `write`) ends the finalize instead of waiting for ever.
  const uploads = (
    [
      [jsonl, 'jsonl'],
      [csv, 'csv'],
      [review, 'review'],
    ] as const
  ).map(([stream, file]) =>
    deps.objects.put(deps.resultsBucket, keys[file], stream as unknown as PassThrough, CONTENT_TYPES[file]).catch((err: unknown) => {
      uploadFailed ??= err;
      for (const s of streams) s.destroy(err as Error);
      throw err;
    }),
  );
  for (const upload of uploads) upload.catch(() => undefined);
  const tally = emptyTally();
  let groups = 0;
  let bytes = 0;
  let last: string | undefined;
  try {
    for await (const group of deps.store.listGroups(job.jobId, o.after)) {
      if (group.enrichment) tally.enriched += 1;
      if (group.enrichment && Object.values(group.enrichment.stages).includes('pending')) tally.pending += 1;
      if (group.status === 'DECIDED') tally.decided += 1;
      if (group.status === 'FAILED') tally.failed += 1;
      if (group.decision) tally.outcomes[group.decision.outcome] = (tally.outcomes[group.decision.outcome] ?? 0) + 1;
      const line = `${JSON.stringify(resultLine(job, group))}\n`;
      bytes += line.length;
      await write(jsonl, line);
      await write(csv, csvRow(profile, job, group));
      for (const [output, r] of Object.entries(group.enrichment?.resolution ?? {})) {
        for (const entry of r.review) {
          tally.review += 1;
          await write(review, `${JSON.stringify({ groupId: group.groupId, output, ...entry })}\n`);
        }
      }
      last = group.groupId;
      if (++groups >= o.limit) break;
    }
  } catch (err) {
    // A read that failed part-way must not leave a truncated results file at its key (ending the streams would
    // complete the uploads): they fail with it, and a multipart one is aborted rather than left with its parts.
    const cause = uploadFailed ?? err;
    for (const stream of streams) stream.destroy(cause as Error);
    await Promise.allSettled(uploads);
    throw cause;
  }
  for (const stream of streams) stream.end();
  await Promise.all(uploads);
  return { groups, last, tally, bytes };
}

/** Segments `0..n-1` of a job's `file`, one after another. */
async function* segments(deps: PipelineDeps, jobId: string, n: number, file: ResultFile): AsyncGenerator<Buffer> {
  for (let i = 0; i < n; i++) yield* (await deps.objects.get(deps.resultsBucket, segmentKey(jobId, i, file))).body as AsyncIterable<Buffer>;
}

export interface WriteResultsOptions {
  /** Where an earlier finalize of the job stopped. */
  cursor?: FinalizeCursor;
  /**
   * Epoch ms after which no further segment is begun (at least one is written per call), nor a join that would not
   * end by then (unless the call began with every segment written); none: write them all.
   */
  deadline?: number;
  /**
   * Records the cursor after each segment; false (the lease lost) stops the writing. Without it (a backfill) the
   * results are written in one pass, straight to their files.
   */
  save?: (cursor: FinalizeCursor) => Promise<boolean>;
  /** Whether the lease is still held (checked before each segment, the join and the summary). */
  held?: () => boolean;
  /** Groups per segment (`SEGMENT_GROUPS`). */
  segmentGroups?: number;
}

/** What `writeResults` ends with: the results written, the writing paused at its deadline, or the lease lost. */
export type WriteResultsOutcome = { written: { status: ReturnType<typeof finalStatus>; counts: JobCounts; keys: JobResults; finishedAt: string } } | { paused: FinalizeCursor } | { lost: true };

/**
 * The pace a join is expected to keep (bytes of staged results a second, all three files together): at ~1.5 bytes
 * staged per JSONL byte, 40 MB/s is below what a function streams S3 to S3 and what the local S3 does here.
 */
const JOIN_BYTES_PER_SECOND = 40 * 1024 * 1024;

/**
 * Writes a job's results JSONL and CSV (and its review lines) and its summary from the stored groups, recounting
 * their outcomes. Used when a job finalizes and again when a backfill has finished the job's pending work. A job of
 * at most `segmentGroups` groups (or any, without `save`) is written in one pass; a larger one segment by segment to
 * staged objects, the cursor saved after each, and the segments then joined into the results files, so that a
 * finalize of any size goes on where the last one stopped (at its deadline, or killed) within a function's timeout.
 */
export async function writeResults(deps: PipelineDeps, job: Job, o: WriteResultsOptions = {}): Promise<WriteResultsOutcome> {
  const keys = resultKeys(job.jobId);
  const profile = await deps.profiles.at(job.profile, job.profileVersion);
  const limit = o.segmentGroups ?? SEGMENT_GROUPS;
  const held = o.held ?? (() => true);
  let cursor = o.cursor;
  if (!o.save || (!cursor && job.counts.groups <= limit)) {
    // Small: the groups straight into the results files, however many the read finds.
    const { tally } = await writeSegment(deps, job, profile, { jsonl: keys.jsonl, csv: keys.csv, review: keys.review! }, { limit: Number.POSITIVE_INFINITY, header: true });
    if (!held()) return { lost: true };
    return { written: await writeSummary(deps, job, tally) };
  }
  cursor ??= { segments: 0, tally: emptyTally() };
  const late = (needMs = 0) => o.deadline !== undefined && Date.now() + needMs >= o.deadline;
  for (let written = 0; !cursor.done; written++) {
    if (written > 0 && late()) return { paused: cursor };
    if (!held()) return { lost: true };
    const index: number = cursor.segments;
    const segment = await writeSegment(deps, job, profile, { jsonl: segmentKey(job.jobId, index, 'jsonl'), csv: segmentKey(job.jobId, index, 'csv'), review: segmentKey(job.jobId, index, 'review') }, { after: cursor.after, limit, header: index === 0 });
    deps.crashPoint?.('finalize.staged');
    cursor = { segments: index + 1, after: segment.last ?? cursor.after, bytes: (cursor.bytes ?? 0) + segment.bytes, tally: addTally(cursor.tally, segment.tally), ...(segment.groups < limit ? { done: true } : {}) };
    if (!(await o.save(cursor))) return { lost: true };
    deps.crashPoint?.('finalize.segment-saved');
    deps.logger.info('results segment written', { jobId: job.jobId, segment: index, groups: segment.groups });
  }
  // The join gets a call of its own unless it is expected to end by this one's deadline.
  if (!o.cursor?.done && late((1.5 * (cursor.bytes ?? 0) * 1000) / JOIN_BYTES_PER_SECOND)) return { paused: cursor };
  if (!held()) return { lost: true };
  try {
    await joinSegments(deps, job.jobId, cursor.segments);
  } catch (err) {
    // A staged segment gone (its prefix expired under a job left FINALIZING that long): the results start over.
    if ((err as { name?: string }).name !== 'NoSuchKey') throw err;
    deps.logger.warn('a staged results segment is gone; the results are written again from the first group', { jobId: job.jobId });
    const fresh = { segments: 0, tally: emptyTally() };
    return (await o.save(fresh)) ? { paused: fresh } : { lost: true };
  }
  if (!held()) return { lost: true };
  return { written: await writeSummary(deps, job, cursor.tally) };
}

/**
 * Joins each results file from its `n` staged segments, streamed (S3's own pace: no group is read again). One that
 * fails fails the others: their sources are destroyed (closing the segment being read) before the error is thrown.
 */
async function joinSegments(deps: PipelineDeps, jobId: string, n: number): Promise<void> {
  const keys = resultKeys(jobId);
  const files = ['jsonl', 'csv', 'review'] as const;
  const sources = files.map((file) => Readable.from(segments(deps, jobId, n, file)));
  const uploads = files.map((file, i) => deps.objects.put(deps.resultsBucket, file === 'review' ? keys.review! : keys[file], sources[i]!, CONTENT_TYPES[file]));
  const settled = await Promise.allSettled(
    uploads.map((upload) =>
      upload.catch((err: unknown) => {
        for (const source of sources) source.destroy(err as Error);
        throw err;
      }),
    ),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Writes the job's summary.json from its groups' tally; returns its final status and counts. */
async function writeSummary(deps: PipelineDeps, job: Job, tally: Tally): Promise<Extract<WriteResultsOutcome, { written: unknown }>['written']> {
  const keys = resultKeys(job.jobId);
  const { review, outcomes, ...recount } = tally;
  const counts: JobCounts = { ...job.counts, ...recount };
  const status = finalStatus(counts);
  const finishedAt = deps.now().toISOString();
  const summary: JobSummary = {
    jobId: job.jobId,
    profile: job.profile,
    ...(job.profileVersion ? { profileVersion: job.profileVersion } : {}),
    mode: job.mode,
    source: { bucket: job.bucket, key: job.key, etag: job.etag, size: job.size },
    status,
    counts,
    outcomes,
    review,
    provider: deps.provider.name,
    timings: { ...job.timings, finishedAt },
    results: keys,
  };
  await deps.objects.put(deps.resultsBucket, keys.summary, `${JSON.stringify(summary, null, 2)}\n`, 'application/json');
  return { status, counts, keys, finishedAt };
}
