/**
 * Local EventBridge: fires the topology's schedules through the same handlers with the real Scheduled
 * Event shape, for `sluice dev`. `speed` compresses time for a demo (3600: an hourly rule fires every
 * second). rate() expressions are supported; cron() ones are reported and not fired locally.
 */
import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';

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

export function scheduledEvent(ruleArn: string, region: string, account: string, at = new Date()): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [ruleArn],
    detail: {},
  };
}

export interface LocalScheduleOptions {
  schedules: Array<{ name: string; expression: string; ruleArn: string; fire: (event: ScheduledEvent) => Promise<unknown> }>;
  region: string;
  account: string;
  speed: number;
  onEvent?: (message: string, data: Record<string, unknown>) => void;
}

export function startSchedules(o: LocalScheduleOptions): { stop(): Promise<void>; fired: Record<string, number> } {
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  const fired: Record<string, number> = {};
  for (const s of o.schedules) {
    const period = rateMs(s.expression);
    if (period === undefined) {
      o.onEvent?.('schedule not fired locally (only rate() expressions are)', { schedule: s.name, expression: s.expression });
      continue;
    }
    let busy = false;
    timers.push(
      setInterval(() => {
        if (busy) return; // like a reserved concurrency of 1: a run still going skips this tick
        busy = true;
        fired[s.name] = (fired[s.name] ?? 0) + 1;
        const p = s
          .fire(scheduledEvent(s.ruleArn, o.region, o.account))
          .then((result) => o.onEvent?.('schedule fired', { schedule: s.name, result }))
          .catch((err) => o.onEvent?.('scheduled run failed', { schedule: s.name, error: String(err) }))
          .finally(() => {
            busy = false;
            running.delete(p);
          });
        running.add(p);
      }, Math.max(period / o.speed, 50)),
    );
  }
  return {
    fired,
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...running]);
    },
  };
}
