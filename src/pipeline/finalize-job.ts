/**
 * Finalizing a job: exactly one invocation (the one that takes the lease) writes the results JSONL and
 * CSV and the summary, recounts the group outcomes from the stored groups, and sets the final status.
 * A finalizer that dies leaves an expiring lease; the next message for the job takes it over.
 */
import { once } from 'node:events';
import { PassThrough, type Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import * as z from 'zod';
import { decisionSchema } from '../domain/decide/decide-group.ts';
import { enrichmentSchema, modeSchema } from '../domain/enrich/enrich-group.ts';
import { GroupStatus, type Job, type JobCounts, JobStatus, allGroupsSettled, finalStatus, jobCountsSchema, jobResultsSchema, jobTimingsSchema, ledgerClosed, resultKeys } from '../domain/job.ts';
import type { PipelineDeps } from './deps.ts';
import type { OutputSpec } from '../profiles/profile.ts';
import type { Profile } from '../profiles/profile.ts';
import type { GroupItem } from './ports.ts';

/** Short, and renewed while results are written: a finalizer that died is replaced within a minute. */
export const FINALIZE_LEASE_MS = 60_000;
const RENEW_EVERY_MS = 15_000;

/**
 * Finalizes the job if every group is settled and nobody else holds the lease. `takeOver` treats a held
 * lease as expired: only for a local runtime starting on its own state folder, whose every lease belonged
 * to a process that is gone.
 */
export async function maybeFinalize(deps: PipelineDeps, job: Job, o: { takeOver?: boolean } = {}): Promise<boolean> {
  // FINALIZING: an earlier finalizer may have died; its lease says when it may be replaced.
  if (!allGroupsSettled(job) && !(job.status === JobStatus.FINALIZING && ledgerClosed(job))) return false;
  const now = deps.now().getTime();
  let leaseUntil = now + FINALIZE_LEASE_MS;
  if (!(await deps.store.tryStartFinalize(job.jobId, leaseUntil, o.takeOver ? Number.MAX_SAFE_INTEGER : now))) return false;
  deps.crashPoint?.('finalize.leased');
  let renewing = Promise.resolve();
  const renew = setInterval(() => {
    const next = deps.now().getTime() + FINALIZE_LEASE_MS;
    renewing = renewing.then(async () => {
      if (await deps.store.renewFinalize(job.jobId, leaseUntil, next)) leaseUntil = next;
    }).catch(() => undefined);
  }, RENEW_EVERY_MS);
  try {
    const { status, counts, keys, finishedAt } = await writeResults(deps, job).catch(async (err: unknown) => {
      // A finalize that failed (not one that died) gives its lease up, so the message retried for it, or the next
      // reconciler pass, finalizes at once rather than a lease later; conditional on the lease being still its own.
      clearInterval(renew);
      await renewing;
      await deps.store.renewFinalize(job.jobId, leaseUntil, 0).catch(() => undefined);
      throw err;
    });
    deps.crashPoint?.('finalize.written');
    clearInterval(renew);
    await renewing;
    if (!(await deps.store.completeJob(job.jobId, status, counts, keys, finishedAt, leaseUntil))) {
      deps.logger.warn('finalize lease lost; another finalizer ends the job', { jobId: job.jobId });
      return false;
    }
    deps.logger.info('job finalized', { jobId: job.jobId, status, ...counts });
    return true;
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

/**
 * Writes a job's results JSONL and CSV and its summary from the stored groups, recounting their outcomes.
 * Used when a job finalizes and again when a backfill has finished the job's pending work.
 */
export async function writeResults(deps: PipelineDeps, job: Job) {
  const keys = resultKeys(job.jobId);
  const jsonl = new PassThrough();
  const profile = await deps.profiles.at(job.profile, job.profileVersion);
  const csv = stringify({ header: true, columns: csvColumns(profile) });
  const review = new PassThrough();
  const streams = [jsonl, csv, review];
  let uploadFailed: unknown;
  // An upload that fails stops reading its stream: every stream is failed with it, so that a write waiting for room
  // (see `write`) ends the finalize instead of waiting for ever.
  const uploads = [
    deps.objects.put(deps.resultsBucket, keys.jsonl, jsonl, 'application/x-ndjson'),
    deps.objects.put(deps.resultsBucket, keys.csv, csv as unknown as PassThrough, 'text/csv'),
    deps.objects.put(deps.resultsBucket, keys.review!, review, 'application/x-ndjson'),
  ].map((upload) =>
    upload.catch((err: unknown) => {
      uploadFailed ??= err;
      for (const stream of streams) stream.destroy(err as Error);
      throw err;
    }),
  );
  for (const upload of uploads) upload.catch(() => undefined);
  let reviewCount = 0;
  const recount = { enriched: 0, pending: 0, decided: 0, failed: 0 };
  const outcomes: Record<string, number> = {};
  try {
    for await (const group of deps.store.listGroups(job.jobId)) {
      if (group.enrichment) recount.enriched += 1;
      if (group.enrichment && Object.values(group.enrichment.stages).includes('pending')) recount.pending += 1;
      if (group.status === 'DECIDED') recount.decided += 1;
      if (group.status === 'FAILED') recount.failed += 1;
      if (group.decision) outcomes[group.decision.outcome] = (outcomes[group.decision.outcome] ?? 0) + 1;
      await write(jsonl, `${JSON.stringify(resultLine(job, group))}\n`);
      await write(csv, csvRow(profile, job, group));
      for (const [output, r] of Object.entries(group.enrichment?.resolution ?? {})) {
        for (const entry of r.review) {
          reviewCount += 1;
          await write(review, `${JSON.stringify({ groupId: group.groupId, output, ...entry })}\n`);
        }
      }
    }
  } catch (err) {
    // A read that failed part-way must not leave a truncated results file at its key (ending the streams would
    // complete the uploads): they fail with it, and a multipart one is aborted rather than left with its parts.
    const cause = uploadFailed ?? err;
    for (const stream of streams) stream.destroy(cause as Error);
    await Promise.allSettled(uploads);
    throw cause;
  }
  jsonl.end();
  csv.end();
  review.end();
  await Promise.all(uploads);
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
    review: reviewCount,
    provider: deps.provider.name,
    timings: { ...job.timings, finishedAt },
    results: keys,
  };
  await deps.objects.put(deps.resultsBucket, keys.summary, `${JSON.stringify(summary, null, 2)}\n`, 'application/json');
  return { status, counts, keys, finishedAt };
}
