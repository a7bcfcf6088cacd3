// Under test: profiles' schedules — EventBridge cron() read with croner (UTC, days numbered as EventBridge numbers
// them), a bad schedule refused when the profile loads, and the local scheduler firing cron() on a fast clock.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScheduledEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { thrown } from '../helpers/factories.ts';
import { startSchedules } from '../../src/local/scheduler.ts';
import { loadProfile, profileSchedules } from '../../src/profiles/profile.ts';
import { cronPattern, nextCron } from '../../src/topology/cron.ts';

describe('cron() expressions', () => {
  it('fire when EventBridge would fire them, and are refused as EventBridge would refuse them', () => {
    expect(nextCron('cron(0 2 * * ? *)', new Date('2026-12-03T23:00:00Z'))).toEqual(new Date('2026-12-04T02:00:00Z'));
    expect(nextCron('cron(0 2 * * ? *)', new Date('2026-12-04T02:00:00Z'))).toEqual(new Date('2026-12-05T02:00:00Z'));
    // Day 2 is Monday for EventBridge (1 = Sunday); 2026-12-03 is a Thursday.
    expect(nextCron('cron(30 1 ? * 2 *)', new Date('2026-12-03T00:00:00Z'))).toEqual(new Date('2026-12-07T01:30:00Z'));
    expect(nextCron('cron(30 1 ? * MON *)', new Date('2026-12-03T00:00:00Z'))).toEqual(new Date('2026-12-07T01:30:00Z'));
    expect(cronPattern('cron(0 2 * * * *)')).toEqual({ error: 'one of day-of-month and day-of-week must be ?, not both or neither' });
    expect(cronPattern('cron(0 2 * * ?)')).toMatchObject({ error: expect.stringContaining('6 fields') });
    expect(cronPattern('cron(0 25 * * ? *)')).toMatchObject({ error: expect.stringContaining('hour') });
    expect(cronPattern('rate(1 hour)')).toEqual({ error: 'not a cron(...) expression' });
  });
});

describe("a profile's schedules", () => {
  const copy = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sched-'));
    cpSync('profiles/social', join(dir, 'social'), { recursive: true });
    return dir;
  };
  const edit = (dir: string, change: (p: Record<string, any>) => void) => {
    const path = join(dir, 'social', 'profile.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    change(json);
    writeFileSync(path, JSON.stringify(json));
  };

  it('are listed per profile with what each backfills (all expensive outputs unless named)', () => {
    expect(profileSchedules().find((s) => s.id === 'social-facebook-nightly')).toEqual({
      id: 'social-facebook-nightly',
      expression: 'cron(0 2 * * ? *)',
      description: expect.any(String),
      backfill: { profile: 'social', outputs: ['sentiment', 'enhancedEntities'], where: { platform: 'facebook' } },
    });
  });

  it('are refused with the file and path: a bad expression, a cheap output, an unknown facet', async () => {
    const dir = copy();
    edit(dir, (p) => {
      p.schedules[0].expression = 'cron(0 2 * * * *)';
      p.schedules[1].backfill.outputs = ['quickSentiment'];
      p.schedules[2].backfill.where = { country: 'PT' };
    });
    const { message } = await thrown(async () => loadProfile('social', dir));
    expect(message).toContain('social/profile.json: schedules.0.expression: one of day-of-month and day-of-week must be ?');
    expect(message).toContain('schedules.1.backfill.outputs.0: "quickSentiment" is not an expensive output (sentiment, enhancedEntities)');
    expect(message).toContain('schedules.2.backfill.where.country: not a facet of the profile (platform)');
  });
});

describe('the local scheduler', () => {
  it('fires a cron() schedule on its fast clock with the Scheduled Event shape and the schedule’s detail', async () => {
    const events: ScheduledEvent[] = [];
    const timers = startSchedules({
      region: 'us-east-1',
      account: '000000000000',
      speed: 36_000, // an hour in a tenth of a second
      schedules: [{ name: 'hourly', expression: 'cron(0 * * * ? *)', ruleArn: 'arn:aws:events:us-east-1:000000000000:rule/hourly', detail: { profile: 'social' }, fire: async (e) => void events.push(e) }],
    });
    for (const deadline = Date.now() + 5000; events.length < 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    await timers.stop();
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      expect(e).toMatchObject({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: { profile: 'social' } });
      expect(e.time).toMatch(/T\d\d:00:0\dZ$/); // on the hour of the fast clock
    }
  });
});
