/**
 * The reconciler: finds the jobs that have not ended (sparse index, no scan) and makes sure each one
 * can. A job whose ledger is closed but that nobody finalized (its finalizer died, or its last message
 * went to a DLQ after a crash) is finalized; a job whose progress stalled has its groups' counts
 * replayed into its ledger (idempotent, so a replay of a healthy job changes nothing). Deployed it runs
 * on its schedule; locally the runtime runs it on start and on the same schedule, compressed.
 */
import { JobStatus, TERMINAL_STATUSES, allGroupsSettled, ledgerClosed } from '../domain/job.ts';
import type { PipelineDeps } from './deps.ts';
import { resumeDocumentGroups } from './document-groups.ts';
import { FINALIZE_LEASE_MS, type FinalizeOptions, maybeFinalize } from './finalize-job.ts';
import { type GroupMarks, groupToken, shardHolds } from './ledger.ts';

export interface ReconcileOptions {
  /** A job whose settled count has not moved for this long is replayed; 0 replays every active job. */
  stallMs: number;
  /** Epoch ms by which the run stops (a Lambda's deadline minus a margin). */
  deadline: number;
  /** Finalize leases taken before this pass began are taken over (a local runtime on start: their holders are gone). */
  takeOverLeases?: boolean;
}

export interface ReconcileReport {
  /** Jobs looked at (not ended). */
  jobs: number;
  finalized: string[];
  /** Jobs whose ledger was missing counts, with how many groups were counted again. */
  repaired: Array<{ jobId: string; groups: number }>;
  /** Documents jobs with groups sent again to be rolled up (all their documents stored, no roll-up). */
  resumed: Array<{ jobId: string; groups: number }>;
  /** Stalled jobs with groups that have no outcome yet: their messages are in flight, or in a DLQ. */
  waiting: Array<{ jobId: string; unsettled: number }>;
  /** Jobs the pass could not reconcile, with the error (each logged; the pass went on to the next job). */
  errors: Array<{ jobId: string; error: string }>;
}

/**
 * One pass over every job not ended.
 * @example await reconcileJobs(deps, { stallMs: 120_000, deadline: Date.now() + 60_000 })
 */
export async function reconcileJobs(deps: PipelineDeps, o: ReconcileOptions): Promise<ReconcileReport> {
  const report: ReconcileReport = { jobs: 0, finalized: [], repaired: [], resumed: [], waiting: [], errors: [] };
  // Leases from before this pass began ended by a minute after it at the latest; one taken since ends later.
  const finalize = { deadline: o.deadline, ...(o.takeOverLeases ? { takeOverBefore: deps.now().getTime() + FINALIZE_LEASE_MS } : {}) };
  for await (const jobId of deps.store.listActiveJobs()) {
    if (Date.now() >= o.deadline) break;
    // One job that cannot be reconciled (its profile version gone, a store error) is reported and passed over:
    // it must not keep every job after it from being looked at, pass after pass.
    try {
      await reconcileJob(deps, jobId, o, finalize, report);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      report.errors.push({ jobId, error });
      deps.logger.error('job not reconciled', { jobId, error });
    }
  }
  if (report.finalized.length || report.repaired.length || report.resumed.length) {
    deps.logger.warn('reconciled jobs', { jobs: report.jobs, finalized: report.finalized, repaired: report.repaired, resumed: report.resumed });
  }
  return report;
}

async function reconcileJob(deps: PipelineDeps, jobId: string, o: ReconcileOptions, takeOver: FinalizeOptions, report: ReconcileReport): Promise<void> {
  const job = await deps.store.getJob(jobId);
  if (!job || TERMINAL_STATUSES.has(job.status)) return;
  report.jobs += 1;
  if (job.status !== JobStatus.PROCESSING && job.status !== JobStatus.FINALIZING) return; // ingest retries itself
  if (ledgerClosed(job)) {
    if (await maybeFinalize(deps, job, takeOver)) report.finalized.push(jobId);
    return;
  }
  const settled = job.counts.decided + job.counts.failed;
  const at = deps.now();
  const mark = job.reconcileMark;
  const stalled = o.stallMs === 0 || (mark !== undefined && mark.settled === settled && at.getTime() - Date.parse(mark.at) >= o.stallMs);
  if (!stalled) {
    if (mark?.settled !== settled) await deps.store.markReconciled(jobId, settled, at.toISOString());
    return;
  }
  const replayed = await replayLedger(deps, jobId);
  if (replayed.groups) report.repaired.push({ jobId, groups: replayed.groups });
  if ((await deps.profiles.at(job.profile, job.profileVersion)).documents) {
    const { resent } = await resumeDocumentGroups(deps, jobId, o.deadline);
    if (resent) report.resumed.push({ jobId, groups: resent });
  }
  const after = await deps.store.getJob(jobId);
  if (after && (allGroupsSettled(after) || after.status === JobStatus.FINALIZING) && (await maybeFinalize(deps, after, takeOver))) report.finalized.push(jobId);
  else if (after && !TERMINAL_STATUSES.has(after.status)) {
    report.waiting.push({ jobId, unsettled: after.counts.groups - after.counts.decided - after.counts.failed });
    await deps.store.markReconciled(jobId, after.counts.decided + after.counts.failed, deps.now().toISOString());
  }
}

/** Counts again every stored group whose state its ledger shard does not hold yet. */
async function replayLedger(deps: PipelineDeps, jobId: string): Promise<{ groups: number }> {
  const shards = new Map((await deps.store.readLedger(jobId)).map((s) => [s.shard, s]));
  // Missing counts are gathered per shard and written 100 members at a time.
  const missing = new Map<number, Array<{ groupId: string; marks: GroupMarks }>>();
  const flush = async (shard: number) => {
    const members = missing.get(shard) ?? [];
    missing.delete(shard);
    if (members.length) await deps.store.countGroups(jobId, shard, members);
  };
  let groups = 0;
  for await (const group of deps.store.listGroupMarks(jobId)) {
    if (group.shard === undefined) continue;
    const shard = shards.get(group.shard);
    const { marks } = group;
    if (!shard || shardHolds(shard, groupToken(group.groupId), marks)) continue;
    const members = missing.get(group.shard) ?? missing.set(group.shard, []).get(group.shard)!;
    members.push({ groupId: group.groupId, marks });
    groups += 1;
    if (members.length >= 100) await flush(group.shard);
  }
  for (const shard of [...missing.keys()]) await flush(shard);
  return { groups };
}

/** How long a reconciler pass waits before calling a job stalled: longer than a finalize lease. */
export const DEFAULT_STALL_MS = 2 * FINALIZE_LEASE_MS;
