// Under test: `sluice topics` — skipped (with the reason) below the profile's threshold; on a generated
// 5,000-claim set, topics whose members match the generator's hidden themes (purity ≥ 0.7), every group
// assigned. (Same records → same topics is checked on the domain function in test/unit/topics.test.ts.)
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { readFileSync } from 'node:fs';
import type { CallRecord } from '../../src/local/local-iam.ts';
import type { TopicRunRecord } from '../../src/pipeline/ports.ts';
import { runTopics } from '../../src/pipeline/topics.ts';
import { grantCheck } from '../helpers/factories.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';

let rt: LocalRuntime;
const calls: CallRecord[] = [];
beforeAll(async () => {
  rt = await startLocalRuntime({ logLevel: 'SILENT', onAwsCall: (c) => calls.push(c) });
});
afterAll(async () => {
  await rt?.stop();
});

async function drop(key: string, claims: number, seed: number) {
  const generated = generateClaims({ seed, claims, notesPerClaim: 1, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: toCsv(generated.header, generated.rows) }));
  const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 420_000 });
  return { job, generated };
}

describe('sluice topics', () => {
  it('skips below the threshold and says why', async () => {
    await drop('incoming/claims/small.csv', 40, 71);
    const run = await runTopics(rt.operatorDeps(), { profile: 'claims' });
    expect(run.skipped).toBe(true);
    expect(run.reason).toMatch(/^40 groups enriched since the start; topics need at least 1000$/);
  });

  it('finds the generator’s themes on 5,000 claims and assigns every group', async () => {
    const { job, generated } = await drop('incoming/claims/five-thousand.csv', 5000, 72);
    expect(job.counts.groups).toBe(5000);
    // The weekly topics λ, with the Scheduled Event from events/.
    const [run] = (await rt.invokeScheduled('topics', JSON.parse(readFileSync('events/topics-scheduled.json', 'utf8')))) as TopicRunRecord[];
    if (!run) throw new Error('no topic run');
    expect(run.skipped).toBe(false);
    // The config bucket is read only once a profile version is pushed (failures.test.ts and profile-versions.test.ts push one).
    expect(grantCheck(calls, 'topics', ['s3:AbortMultipartUpload', 's3:GetObject on bucket config'])).toEqual({ denied: [], unused: [] });
    expect(run.topics).toHaveLength(7);
    expect(run.labelSource).toBe('terms'); // no LLM configured here
    for (const t of run.topics!) {
      expect(t.terms).toHaveLength(6);
      expect(Number.isFinite(t.coherence)).toBe(true);
    }
    const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: run.detail! }));
    const assigned = (await r.Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l) as { jobId: string; groupId: string; topic: number });
    const theme = new Map(generated.claims.map((c) => [c.claimId, c.theme]));
    const mine = assigned.filter((a) => a.jobId === job.jobId);
    expect(assigned.length).toBe(run.records); // every group with a summary has its topic
    expect(mine.length).toBeGreaterThan(4000);
    expect(run.topics!.reduce((n, t) => n + t.size, 0)).toBe(run.records);
    let pure = 0;
    for (const t of run.topics!) {
      const counts = new Map<string, number>();
      for (const a of mine.filter((x) => x.topic === t.id)) counts.set(theme.get(a.groupId)!, (counts.get(theme.get(a.groupId)!) ?? 0) + 1);
      pure += Math.max(0, ...counts.values());
    }
    expect(pure / mine.length).toBeGreaterThanOrEqual(0.7);

    // The next run has nothing new to cluster, and says so.
    const again = await runTopics(rt.operatorDeps(), { profile: 'claims', force: true });
    expect(again).toMatchObject({ skipped: true, reason: expect.stringContaining('since the last topic run') });
  }, 480_000);
});
