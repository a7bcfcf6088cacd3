// Under test: writing a job's results when the read of its groups fails part-way (a timeout while the store is
// busy): no truncated results file is left at its keys (the uploads fail with the read; lib-storage aborts a
// multipart one); the error reaches the finalizer, which gives its lease up so that the next try writes the whole
// file at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore } from '../../src/adapters/s3-object-store.ts';
import { JobStatus, emptyCounts, resultKeys } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { GroupItem } from '../../src/pipeline/ports.ts';
import { maybeFinalize, writeResults } from '../../src/pipeline/finalize-job.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

const state = mkdtempSync(join(tmpdir(), 'sluice-finalize-'));
let rt: LocalRuntime;
beforeAll(async () => {
  rt = await startLocalRuntime({ stateDir: state, pollers: false, logLevel: 'SILENT' });
});
afterAll(async () => {
  await rt?.stop();
  rmSync(state, { recursive: true, force: true });
});

/** A job of `groups` decided groups, every count written. */
async function decidedJob(jobId: string, groups: number) {
  const at = new Date().toISOString();
  await rt.store.createJob({ jobId, bucket: 'b', key: `incoming/claims/${jobId}.csv`, etag: 'e', size: 1, profile: 'claims', mode: 'fast', status: JobStatus.PROCESSING, counts: emptyCounts(), timings: { receivedAt: at } });
  await rt.store.recordIngestCounts(jobId, { rows: groups, accepted: groups, rejected: 0, duplicates: 0, groups }, 1);
  const enrichment = { outputs: {}, provider: 'offline', model: 'm', promptVersion: 'p', mode: 'fast' as const, stages: {}, eligibleNoteIds: ['n1'], ineligible: [], provenance: { chunkIds: [] } };
  for (let g = 1; g <= groups; g++) {
    await rt.store.saveEnrichment(jobId, `G${g}`, 1, enrichment as never, 0, { key: `records/${jobId}/p0000.jsonl`, start: 0, end: 1 }, at);
    await rt.store.saveDecision(jobId, `G${g}`, { outcome: 'yes', rule: 'r', reason: 'x', rules: [], basedOn: {} } as never, at);
  }
  await rt.store.openLedger(jobId, [{ shard: 0, expected: groups }]);
  await rt.store.countGroups(jobId, 0, Array.from({ length: groups }, (_, g) => ({ groupId: `G${g + 1}`, marks: { enriched: true, pending: false, settled: 'decided' as const } })));
  return (await rt.store.getJob(jobId))!;
}

/** The pipeline's dependencies writeResults uses, its group reads failing after `failAfter` groups when given. */
function deps(failAfter?: number, over: Partial<PipelineDeps> = {}): PipelineDeps {
  const store = {
    tryStartFinalize: rt.store.tryStartFinalize.bind(rt.store),
    renewFinalize: rt.store.renewFinalize.bind(rt.store),
    completeJob: rt.store.completeJob.bind(rt.store),
    async *listGroups(jobId: string) {
      let n = 0;
      for await (const group of rt.store.listGroups(jobId)) {
        if (n++ === failAfter) throw Object.assign(new Error('the read timed out'), { name: 'TimeoutError' });
        yield group;
      }
    },
  };
  return { resultsBucket: rt.names.buckets.results, objects: createObjectStore(rt.clients.s3), store, profiles: { at: async () => loadProfile('claims') }, provider: { name: 'offline' }, now: () => new Date(), logger: { info() {}, warn() {} }, ...over } as unknown as PipelineDeps;
}

describe('writing a job’s results', () => {
  it('leaves no truncated results file when the read of its groups fails part-way, and writes them whole when it does not', async () => {
    // Prepare
    const job = await decidedJob('j-finalize', 5);
    const keys = resultKeys(job.jobId);
    const s3 = rt.clients.s3;
    const Bucket = rt.names.buckets.results;
    // Act: the read fails after two groups
    await expect(writeResults(deps(2), job)).rejects.toThrow('the read timed out');
    // Assess: nothing at the results' keys, also once an upload still under way would have landed
    await new Promise((r) => setTimeout(r, 1000));
    for (const Key of [keys.jsonl, keys.csv, keys.review!]) await expect(s3.send(new HeadObjectCommand({ Bucket, Key }))).rejects.toMatchObject({ name: 'NotFound' });
    // Act: again, the read whole
    const written = await writeResults(deps(), job);
    // Assess: every group's line
    const lines = (await (await s3.send(new GetObjectCommand({ Bucket, Key: keys.jsonl }))).Body!.transformToString()).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).groupId).sort()).toEqual(['G1', 'G2', 'G3', 'G4', 'G5']);
    expect(written.counts).toMatchObject({ decided: 5, failed: 0 });
  });

  it('ends with the upload’s error, not waiting for ever, when an upload fails part-way through a long job', async () => {
    // Prepare: 20,000 groups to write (one stored group read again and again), the JSONL's upload failing after its first piece
    const job = await decidedJob('j-upload', 1);
    let group: GroupItem | undefined;
    for await (const g of rt.store.listGroups(job.jobId)) group = g;
    const store = {
      async *listGroups() {
        for (let i = 0; i < 20_000; i++) yield { ...group!, groupId: `G${i}` };
      },
    };
    const objects = {
      async put(_bucket: string, key: string, body: AsyncIterable<unknown>) {
        for await (const _ of body) if (key.endsWith('.jsonl')) throw Object.assign(new Error('We encountered an internal error'), { name: 'InternalError' });
      },
    };
    // Act and assess
    await expect(writeResults(deps(undefined, { store, objects } as unknown as Partial<PipelineDeps>), job)).rejects.toThrow('We encountered an internal error');
  }, 20_000);

  it('gives its lease up when the finalize fails, so the message retried for it finalizes at once, not a lease later', async () => {
    // Prepare
    const job = await decidedJob('j-retry', 3);
    // Act: the first finalize's read fails after one group
    await expect(maybeFinalize(deps(1), job)).rejects.toThrow('the read timed out');
    const between = (await rt.store.getJob(job.jobId))!;
    // Act: the retry comes at once (well within the 60 s lease the first took)
    const finalized = await maybeFinalize(deps(), between);
    // Assess: the retry took the lease and ended the job with every group counted
    expect(between.status).toBe(JobStatus.FINALIZING);
    expect(finalized).toBe(true);
    expect(await rt.store.getJob(job.jobId)).toMatchObject({ status: JobStatus.COMPLETE, counts: { groups: 3, decided: 3, failed: 0 } });
  });
});
