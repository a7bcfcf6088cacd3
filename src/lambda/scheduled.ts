/** Handlers of the scheduled functions: the EventBridge Scheduled Event in, a report out. */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { type BackfillReport, runBackfill } from '../pipeline/backfill.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { type Alert, type MetricsReport, computeMetrics } from '../pipeline/metrics.ts';
import type { TopicRunRecord } from '../pipeline/ports.ts';
import { DEFAULT_STALL_MS, type ReconcileReport, reconcileJobs } from '../pipeline/reconcile.ts';
import { listProfiles, profileBackfillSchema } from '../profiles/profile.ts';
import type { TopicNamer } from '../llm/topic-namer.ts';

export type ScheduledHandler = (event: ScheduledEvent, context: Context) => Promise<unknown>;

/** Time kept back from the Lambda deadline to rewrite results files and log before the function is stopped. */
const MARGIN_MS = 60_000;

/** backfill λ: works until its limit (SLUICE_BACKFILL_LIMIT) or shortly before its deadline; the next run resumes. */
export function createBackfillHandler(deps: PipelineDeps, limit = Number(process.env.SLUICE_BACKFILL_LIMIT || 5000)): (event: ScheduledEvent, context: Context) => Promise<BackfillReport> {
  return async (event, context) => {
    const remaining = context.getRemainingTimeInMillis();
    // A profile's schedule carries what it backfills in the event's detail; the hourly rule's detail is empty.
    const only = Object.keys(event.detail ?? {}).length ? profileBackfillSchema.parse(event.detail) : undefined;
    const report = await runBackfill(deps, { limit, deadline: Date.now() + Math.max(remaining - MARGIN_MS, remaining / 2), ...(only ? { only } : { leaveScheduled: true }) });
    deps.logger.info('scheduled backfill', { scheduledAt: event.time, ...(only ? { profile: only.profile, outputs: only.outputs } : {}), ...report, jobsRefreshed: report.jobsRefreshed.length });
    deps.metrics?.add('GroupsBackfilled', report.done);
    deps.metrics?.add('GroupsStillPending', report.stillPending);
    return report;
  };
}

/**
 * reconcile λ: finalizes settled jobs nobody finalized and replays the counts of jobs stalled for
 * SLUICE_RECONCILE_STALL_SECONDS (default 120).
 */
export function createReconcileHandler(deps: PipelineDeps, stallMs = Number(process.env.SLUICE_RECONCILE_STALL_SECONDS || DEFAULT_STALL_MS / 1000) * 1000) {
  return async (_event: ScheduledEvent, context: Context): Promise<ReconcileReport> => {
    const remaining = context.getRemainingTimeInMillis();
    const report = await reconcileJobs(deps, { stallMs, deadline: Date.now() + Math.max(remaining - MARGIN_MS, remaining / 2) });
    deps.metrics?.add('JobsReconciled', report.finalized.length + report.repaired.length);
    if (report.errors.length) deps.metrics?.add('JobsNotReconciled', report.errors.length);
    return report;
  };
}

export interface AlertSink {
  publish(alert: Alert): Promise<void>;
}

/**
 * metrics λ: the previous day's metrics (the day before the schedule's time); each alert is stored by
 * `computeMetrics` and published to the alert sink (SNS deployed).
 */
export function createMetricsHandler(deps: PipelineDeps, o: { dlqDepths: () => Promise<Record<string, number>>; alerts: AlertSink; pricePer1kPromptTokens?: number }) {
  return async (event: ScheduledEvent, _context: Context): Promise<MetricsReport> => {
    const at = new Date(event.time);
    const day = new Date(at.getTime() - 86_400_000).toISOString().slice(0, 10);
    const report = await computeMetrics(deps, {
      day,
      now: at,
      dlqDepths: o.dlqDepths,
      pricePer1kPromptTokens: o.pricePer1kPromptTokens ?? Number(process.env.SLUICE_PRICE_PER_1K_PROMPT_TOKENS || 0.00015),
    });
    for (const alert of report.alerts) await o.alerts.publish(alert);
    deps.metrics?.add('QualityAlerts', report.alerts.length);
    deps.metrics?.add('BacklogSize', report.backlog.size);
    return report;
  };
}

/** topics λ: a topic run for every profile (each skips, with its reason, below its threshold). */
export function createTopicsHandler(deps: PipelineDeps, namer?: () => Promise<TopicNamer | undefined>) {
  return async (_event: ScheduledEvent, _context: Context): Promise<TopicRunRecord[]> => {
    const runs: TopicRunRecord[] = [];
    const named = await namer?.();
    // Loaded here, not with the module: the local handler process that runs the reconciler loads this module too,
    // and topic discovery's k-means is ~6 MB of it (measured) that only the topics function needs.
    const { runTopics } = await import('../pipeline/topics.ts');
    for (const profile of listProfiles()) runs.push(await runTopics(deps, { profile, namer: named }));
    return runs;
  };
}
