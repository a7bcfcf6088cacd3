// Under test: local EventBridge — the topology's rate() schedules fire the scheduled handlers with the real
// Scheduled Event shape (here the hourly backfill, time compressed), finishing a fast-mode job's pending work;
// a profile's own cron() backfills take their platform's groups only.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { rateMs, scheduledEvent } from '../../src/local/scheduler.ts';
import { startLocalRuntime } from '../../src/local/runtime.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';
import { generateSocial, toCsv as socialCsv } from '../../scripts/lib/social-generator.ts';
import type { BackfillReport } from '../../src/pipeline/backfill.ts';
import { profileSchedules } from '../../src/profiles/profile.ts';

describe('schedule expressions', () => {
  it('reads rate() as EventBridge does and refuses what it would refuse', () => {
    expect(rateMs('rate(1 hour)')).toBe(3_600_000);
    expect(rateMs('rate(15 minutes)')).toBe(900_000);
    expect(rateMs('rate(2 days)')).toBe(172_800_000);
    expect(rateMs('rate(1 hours)')).toBeUndefined();
    expect(rateMs('rate(2 hour)')).toBeUndefined();
    expect(rateMs('cron(0 3 * * ? *)')).toBeUndefined();
    expect(scheduledEvent('arn:aws:events:us-east-1:000000000000:rule/r', 'us-east-1', '000000000000', new Date('2026-11-24T03:00:00.123Z'))).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: '2026-11-24T03:00:00Z',
      resources: ['arn:aws:events:us-east-1:000000000000:rule/r'],
      detail: {},
    });
  });
});

describe('sluice dev schedules', () => {
  it('fires the hourly backfill (3600× faster), which finishes a fast-mode job', async () => {
    const rt = await startLocalRuntime({ logLevel: 'SILENT', schedules: { speed: 3600 } });
    try {
      const { header, rows } = generateClaims({ seed: 51, claims: 15, notesPerClaim: 2, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
      const Key = 'incoming/claims/scheduled.csv';
      const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key, Body: toCsv(header, rows), Metadata: { 'sluice-mode': 'fast' } }));
      const jobId = jobIdFor(rt.names.buckets.drop, Key, put.ETag!);
      const job = await rt.waitForJob(jobId, { timeoutMs: 30_000 });
      expect(job.mode).toBe('fast');
      let pending = job.counts.pending;
      for (const deadline = Date.now() + 20_000; pending > 0 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
        pending = (await rt.store.getJob(jobId))!.counts.pending;
      }
      expect(pending).toBe(0);
      // The results files were rewritten by the scheduled run: nothing in them is pending any more.
      for (let i = 0; i < 50; i++) {
        const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: job.results!.jsonl }));
        const lines = (await r.Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l));
        if (lines.every((l) => !Object.values(l.enrichment.stages).includes('pending'))) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('the results files still show pending stages');
    } finally {
      await rt.stop();
    }
  });
});

describe("a profile's own backfill schedules", () => {
  it('backfill only their platform, the hourly run leaves the profile to them, and the last one takes the rest', async () => {
    const rt = await startLocalRuntime({ logLevel: 'SILENT' });
    try {
      const { header, rows, threads } = generateSocial({ seed: 5, threads: 24 });
      const Key = 'incoming/social/scheduled.csv';
      const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key, Body: socialCsv(header, rows), Metadata: { 'sluice-mode': 'fast' } }));
      const jobId = jobIdFor(rt.names.buckets.drop, Key, put.ETag!);
      const job = await rt.waitForJob(jobId, { timeoutMs: 30_000 });
      expect(job.counts.pending).toBe(threads.length); // sentiment and enhanced entities wait in fast mode
      const own = Object.fromEntries(profileSchedules().map((s) => [s.id, s]));
      const fire = (detail: Record<string, unknown>) =>
        rt.invokeScheduled('backfill', scheduledEvent('arn:aws:events:us-east-1:000000000000:rule/r', 'us-east-1', '000000000000', new Date(), detail)) as Promise<BackfillReport>;
      const pendingOn = async () => {
        const by: Record<string, number> = {};
        for await (const g of rt.store.listGroups(jobId)) if (Object.values(g.enrichment!.stages).includes('pending')) by[g.enrichment!.facets!.platform!] = (by[g.enrichment!.facets!.platform!] ?? 0) + 1;
        return by;
      };
      const count = (p: string) => threads.filter((t) => t.platform === p).length;

      const facebook = await fire(own['social-facebook-nightly']!.backfill);
      expect(facebook.done).toBe(count('facebook'));
      expect(await pendingOn()).toEqual(Object.fromEntries(['customer_care', 'instagram', 'tiktok'].filter(count).map((p) => [p, count(p)])));

      const hourly = await fire({});
      expect(hourly.done).toBe(0); // social has schedules of its own

      const rest = await fire(own['social-rest-nightly']!.backfill);
      expect(rest.done).toBe(threads.length - count('facebook'));
      expect(await pendingOn()).toEqual({});
      expect((await rt.store.getJob(jobId))!.counts.pending).toBe(0);
    } finally {
      await rt.stop();
    }
  });
});
