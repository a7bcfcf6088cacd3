/**
 * Local EventBridge: fires the topology's schedules through the same handlers with the real Scheduled
 * Event shape, for `sluice dev`. `speed` compresses time for a demo (3600: an hourly rule fires every
 * second). rate() and cron() expressions (UTC, on a clock running `speed` times faster from the start) fire.
 */
import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import { nextCron } from '../topology/cron.ts';

const UNIT_MS: Record<string, number> = { minute: 60_000, minutes: 60_000, hour: 3_600_000, hours: 3_600_000, day: 86_400_000, days: 86_400_000 };

/** The period of a `rate(N unit)` expression in ms, or undefined for anything else. */
export function rateMs(expression: string): number | undefined {
  const m = /^rate\((\d+)\s+(minutes?|hours?|days?)\)$/.exec(expression.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2]!;
  if (n < 1 || (n === 1) !== !unit.endsWith('s')) return undefined; // EventBridge: "1 hour", "2 hours"
  return n * UNIT_MS[unit]!;
}

export function scheduledEvent(ruleArn: string, region: string, account: string, at = new Date(), detail: Record<string, unknown> = {}): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [ruleArn],
    detail,
  };
}

export interface LocalScheduleOptions {
  schedules: Array<{ name: string; expression: string; ruleArn: string; detail?: Record<string, unknown>; fire: (event: ScheduledEvent) => Promise<unknown> }>;
  region: string;
  account: string;
  speed: number;
  onEvent?: (message: string, data: Record<string, unknown>) => void;
}

export function startSchedules(o: LocalScheduleOptions): { stop(): Promise<void>; fired: Record<string, number> } {
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  const fired: Record<string, number> = {};
  const started = Date.now();
  const clock = () => new Date(started + (Date.now() - started) * o.speed); // the schedules' time, `speed` times faster
  for (const s of o.schedules) {
    const period = rateMs(s.expression);
    let next = period === undefined ? nextCron(s.expression, clock()) : undefined;
    if (period === undefined && !next) {
      o.onEvent?.('schedule not fired locally (neither rate() nor cron())', { schedule: s.name, expression: s.expression });
      continue;
    }
    let busy = false;
    const run = (at = clock()) => {
      if (busy) return; // like a reserved concurrency of 1: a run still going skips this tick
      busy = true;
      fired[s.name] = (fired[s.name] ?? 0) + 1;
      const p = s
          .fire(scheduledEvent(s.ruleArn, o.region, o.account, at, s.detail))
          .then((result) => o.onEvent?.('schedule fired', { schedule: s.name, result }))
          .catch((err) => o.onEvent?.('scheduled run failed', { schedule: s.name, error: String(err) }))
          .finally(() => {
            busy = false;
            running.delete(p);
          });
      running.add(p);
    };
    if (period !== undefined) timers.push(setInterval(run, Math.max(period / o.speed, 50)));
    else {
      // cron(): look often enough to fire near the due time on the fast clock, at most every second.
      timers.push(
        setInterval(() => {
          if (!next || clock() < next) return;
          const due = next; // the event carries its due time, as EventBridge's does
          next = nextCron(s.expression, clock());
          run(due);
        }, Math.min(1000, Math.max(50, 60_000 / o.speed))),
      );
    }
  }
  return {
    fired,
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...running]);
    },
  };
}
