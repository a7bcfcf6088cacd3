/**
 * EventBridge `cron(minutes hours day-of-month month day-of-week year)` expressions, read with croner for
 * validation and for the local scheduler's next firing time (UTC, as EventBridge rules are).
 */
import { Cron } from 'croner';

const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/**
 * The croner pattern of an EventBridge cron expression, or the reason it is not one EventBridge takes.
 * @example croner('cron(0 2 * * ? *)') // { pattern: '0 2 * * *' }
 */
export function cronPattern(expression: string): { pattern: string } | { error: string } {
  const m = /^cron\((.*)\)$/.exec(expression.trim());
  if (!m) return { error: 'not a cron(...) expression' };
  const fields = m[1]!.trim().split(/\s+/);
  if (fields.length !== 6) return { error: `cron() takes 6 fields (minutes hours day-of-month month day-of-week year), not ${fields.length}` };
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?')) return { error: 'one of day-of-month and day-of-week must be ?, not both or neither' };
  if (year !== '*') return { error: 'the year field must be * here (a schedule that stops is not supported)' };
  // EventBridge numbers days 1-7 from Sunday; croner 0-6: names mean the same to both.
  const day = dow.replace(/\d+/g, (n) => (Number(n) >= 1 && Number(n) <= 7 ? DAYS[Number(n) - 1]! : n));
  const pattern = [min, hour, dom === '?' ? '*' : dom, month, dow === '?' ? '*' : day].join(' ');
  try {
    new Cron(pattern, { timezone: 'UTC', paused: true });
  } catch (err) {
    return { error: (err as Error).message };
  }
  return { pattern };
}

/** The first time after `after` an EventBridge cron expression fires (UTC). */
export function nextCron(expression: string, after: Date): Date | undefined {
  const p = cronPattern(expression);
  if ('error' in p) return undefined;
  return new Cron(p.pattern, { timezone: 'UTC', paused: true }).nextRun(after) ?? undefined;
}
