/**
 * Backfill: the expensive work the fast path left for later. Pages through the sparse `pending` index
 * oldest first (no scan), takes each group with a conditional lease (two concurrent runs never process
 * the same group), enriches it in full, decides it again, and once a job has nothing pending rewrites its
 * results files. Stops before its deadline; the next run resumes with what is still pending. While the
 * LLM is unavailable (breaker open) groups are given back, still pending.
 */
import { decideGroup } from '../domain/decide/decide-group.ts';
import { enrichGroup } from '../domain/enrich/enrich-group.ts';
import { TERMINAL_STATUSES } from '../domain/job.ts';
import { type ProfileBackfill, loadProfile, listProfiles } from '../profiles/profile.ts';
import type { PipelineDeps } from './deps.ts';
import { readNotes } from './process-group.ts';
import { backfillDocuments } from './documents.ts';
import { writeResults } from './finalize-job.ts';
import type { PendingItem } from './ports.ts';

export interface BackfillOptions {
  /** Groups to finish at most in this run. */
  limit: number;
  /** Epoch ms by which the run must have stopped (a Lambda's deadline minus a margin). */
  deadline: number;
  leaseMs?: number;
  /** Pending keys to work through; by default every expensive stage of every profile, then `pending_llm`. */
  keys?: string[];
  /** A profile's scheduled backfill: only its groups, these outputs, facets matching. */
  only?: ProfileBackfill;
  /** The hourly run: groups of profiles that have schedules of their own are left to those. */
  leaveScheduled?: boolean;
  onProgress?: (report: BackfillReport) => void;
}

export interface BackfillReport {
  done: number;
  /** Groups given back because the LLM is unavailable. */
  stillPending: number;
  /** Groups another run holds, already done, or whose job has not ended yet. */
  skipped: number;
  /** Groups whose enrichment failed this time (a bad answer); they stay pending for the next run. */
  errors: number;
  jobsRefreshed: string[];
  /** True when the run stopped for its deadline or its limit with work left. */
  stoppedEarly: boolean;
}

const PAGE = 25;

export function pendingKeys(): string[] {
  const stages = new Set<string>();
  for (const name of listProfiles()) {
    const p = loadProfile(name);
    for (const o of p.outputs) if (o.cost === 'expensive') stages.add(o.name);
  }
  return [...[...stages].map((s) => `pending_${s}`), 'pending_llm'];
}

export async function runBackfill(deps: PipelineDeps, o: BackfillOptions): Promise<BackfillReport> {
  const report: BackfillReport = { done: 0, stillPending: 0, skipped: 0, errors: 0, jobsRefreshed: [], stoppedEarly: false };
  const touched = new Set<string>();
  const leaseMs = o.leaseMs ?? 5 * 60_000;
  const keys = o.keys ?? (o.only ? [...o.only.outputs.map((x) => `pending_${x}`), 'pending_llm'] : pendingKeys());
  outer: for (const key of keys) {
    let after: string | undefined;
    do {
      const page = await deps.store.listPending(key, PAGE, after);
      for (const item of page.items) {
        if (report.done >= o.limit || Date.now() >= o.deadline) {
          report.stoppedEarly = true;
          break outer;
        }
        const outcome = await backfillGroup(deps, item, leaseMs, o.only, Boolean(o.leaveScheduled));
        if (outcome === 'done') {
          report.done += 1;
          touched.add(item.jobId);
        } else if (outcome === 'still_pending') report.stillPending += 1;
        else report.skipped += 1;
        o.onProgress?.(report);
      }
      after = page.next;
    } while (after);
  }
  // Results files are rewritten from the stored groups (and the counts recounted) for every job touched.
  for (const jobId of touched) {
    const job = await deps.store.getJob(jobId);
    if (!job) continue;
    const outcome = await writeResults(deps, job); // in one pass: no cursor, no deadline, no lease
    if (!('written' in outcome)) continue;
    const { counts } = outcome.written;
    await deps.store.refreshJobCounts(jobId, counts, deps.now().toISOString());
    report.jobsRefreshed.push(jobId);
  }
  deps.logger.info('backfill run', { done: report.done, stillPending: report.stillPending, skipped: report.skipped, errors: report.errors, jobsRefreshed: report.jobsRefreshed.length, stoppedEarly: report.stoppedEarly });
  return report;
}

/** Whether a group is this run's to backfill: a profile's schedule takes its groups whose facets match; the hourly run the others'. */
async function isOurs(deps: PipelineDeps, item: PendingItem, profile: string, only: ProfileBackfill | undefined, leaveScheduled: boolean): Promise<boolean> {
  if (!only) return !(leaveScheduled && (await deps.profiles.active(profile)).schedules.length);
  if (profile !== only.profile) return false;
  if (!Object.keys(only.where).length) return true;
  const facets = (await deps.store.getGroup(item.jobId, item.groupId))?.enrichment?.facets ?? {};
  return Object.entries(only.where).every(([facet, want]) => (Array.isArray(want) ? want : [want]).includes(facets[facet] ?? ''));
}

async function backfillGroup(deps: PipelineDeps, item: PendingItem, leaseMs: number, only: ProfileBackfill | undefined, leaveScheduled: boolean): Promise<'done' | 'still_pending' | 'skipped' | 'error'> {
  const job = await deps.store.getJob(item.jobId);
  // A job still running is finalized by its own pipeline first; its pending groups wait for the next run.
  if (!job || !TERMINAL_STATUSES.has(job.status)) return 'skipped';
  if (!(await isOurs(deps, item, job.profile, only, leaveScheduled))) return 'skipped';
  const now = Date.now();
  const leaseUntil = now + leaseMs;
  if (!(await deps.store.leasePending(item.jobId, item.groupId, leaseUntil, now))) return 'skipped';
  const profile = await deps.profiles.at(job.profile, job.profileVersion);
  const group = await deps.store.getGroup(item.jobId, item.groupId);
  if (!group?.notes) {
    await deps.store.releasePending(item.jobId, item.groupId, leaseUntil);
    deps.logger.warn('a pending group has no stored notes; it stays pending', { jobId: item.jobId, groupId: item.groupId });
    return 'error';
  }
  const notes = await readNotes(deps, group.notes);
  let enrichment;
  try {
    // A documents group is its documents enriched one by one and rolled up (`src/pipeline/documents.ts`).
    enrichment = profile.documents
      ? await backfillDocuments(deps, profile, item.jobId, item.groupId, notes, group.enrichment?.facets)
      : await enrichGroup(profile, item.groupId, notes, deps.provider, 'full');
  } catch (err) {
    await deps.store.releasePending(item.jobId, item.groupId, leaseUntil);
    deps.logger.warn('backfill of a group failed; it stays pending', { jobId: item.jobId, groupId: item.groupId, error: (err as Error).name });
    return 'error';
  }
  if (Object.values(enrichment.stages).includes('pending')) {
    await deps.store.releasePending(item.jobId, item.groupId, leaseUntil);
    return 'still_pending';
  }
  const decision = await decideGroup(profile, enrichment);
  // The job's counts are recounted from its groups when its results are rewritten below.
  if (!(await deps.store.saveBackfill(item.jobId, item.groupId, enrichment, decision, leaseUntil, deps.now().toISOString()))) return 'skipped';
  return 'done';
}
