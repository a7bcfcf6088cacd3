/** Handlers of the scheduled functions: the EventBridge Scheduled Event in, a report out. */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { type BackfillReport, runBackfill } from '../pipeline/backfill.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';

export type ScheduledHandler = (event: ScheduledEvent, context: Context) => Promise<unknown>;

/** Time kept back from the Lambda deadline to rewrite results files and log before the function is stopped. */
const MARGIN_MS = 60_000;

/** backfill λ: works until its limit (SLUICE_BACKFILL_LIMIT) or shortly before its deadline; the next run resumes. */
export function createBackfillHandler(deps: PipelineDeps, limit = Number(process.env.SLUICE_BACKFILL_LIMIT || 5000)): (event: ScheduledEvent, context: Context) => Promise<BackfillReport> {
  return async (event, context) => {
    const remaining = context.getRemainingTimeInMillis();
    const report = await runBackfill(deps, { limit, deadline: Date.now() + Math.max(remaining - MARGIN_MS, remaining / 2) });
    deps.logger.info('scheduled backfill', { scheduledAt: event.time, ...report, jobsRefreshed: report.jobsRefreshed.length });
    return report;
  };
}
