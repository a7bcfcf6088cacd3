// Under test: local EventBridge — the topology's rate() schedules fire the scheduled handlers with the real
// Scheduled Event shape (here the hourly backfill, time compressed), finishing a fast-mode job's pending work.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { rateMs, scheduledEvent } from '../../src/local/scheduler.ts';
import { startLocalRuntime } from '../../src/local/runtime.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';

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
