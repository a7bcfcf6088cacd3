// Under test: the local runtime runs the reconciler itself, as the deployed schedule runs its function: once on start
// over every unfinished job a dead runtime left, then on its schedule. A job whose counts a crash lost (its groups
// decided, their counts not written) is counted again from its groups' marks and finalized, with no message to carry
// it: on the restart, and while the runtime runs. With handler processes, the passes after the start run in one
// of them (a finalize reads every group and writes the results: work for a process with a handler's memory limits).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JobStatus, TERMINAL_STATUSES, emptyCounts } from '../../src/domain/job.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';

const state = mkdtempSync(join(tmpdir(), 'sluice-reconcile-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

/** A job of three groups, all decided, whose counts a crash lost for two of them (a kill between the two writes). */
async function jobWithLostCounts(rt: LocalRuntime, jobId: string): Promise<void> {
  const at = new Date().toISOString();
  await rt.store.createJob({ jobId, bucket: 'b', key: `incoming/claims/${jobId}.csv`, etag: 'e', size: 1, profile: 'claims', mode: 'fast', status: JobStatus.PROCESSING, counts: emptyCounts(), timings: { receivedAt: at } });
  await rt.store.recordIngestCounts(jobId, { rows: 3, accepted: 3, rejected: 0, duplicates: 0, groups: 3 }, 1);
  await rt.store.openLedger(jobId, [{ shard: 0, expected: 3 }]);
  const enrichment = { outputs: {}, provider: 'offline', model: 'm', promptVersion: 'p', mode: 'fast' as const, stages: {}, eligibleNoteIds: ['n1'], ineligible: [], provenance: { chunkIds: [] } };
  for (const g of ['G1', 'G2', 'G3']) {
    await rt.store.saveEnrichment(jobId, g, 1, enrichment as never, 0, { key: `records/${jobId}/p0000.jsonl`, start: 0, end: 1 }, at);
    await rt.store.saveDecision(jobId, g, { outcome: 'yes', rule: 'r', reason: 'x', rules: [], basedOn: {} } as never, at);
  }
  await rt.store.countGroups(jobId, 0, [{ groupId: 'G1', marks: { enriched: true, pending: false, settled: 'decided' } }]);
}

/** The job once it has ended (or as it stands at the deadline). */
async function waitForEnd(rt: LocalRuntime, jobId: string, timeoutMs: number) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const job = await rt.store.getJob(jobId);
    if (job && TERMINAL_STATUSES.has(job.status)) return job;
  }
  return rt.store.getJob(jobId);
}

describe('the local runtime’s reconciler', () => {
  it('counts again and finalizes, on start, a job a dead runtime left with lost counts, and one that loses them while it runs', async () => {
    // Prepare: the job with lost counts, written by a runtime with no event sources, which then stops (as one killed)
    const before = await startLocalRuntime({ stateDir: state, pollers: false, logLevel: 'SILENT' });
    try {
      await jobWithLostCounts(before, 'j-left');
      expect((await before.store.getJob('j-left'))!.counts).toMatchObject({ groups: 3, decided: 1 });
    } finally {
      await before.stop();
    }
    // Act: a runtime started on the same state, its scheduled passes an hour apart: only the pass on start can find it
    const restarted = await startLocalRuntime({ stateDir: state, logLevel: 'SILENT', reconcile: { everySeconds: 3600, stallMs: 0 } });
    try {
      // Assess: counted again from the groups and finalized, with no message to carry it
      const left = await waitForEnd(restarted, 'j-left', 20_000);
      expect(left).toMatchObject({ status: JobStatus.COMPLETE, counts: { groups: 3, enriched: 3, decided: 3, failed: 0 } });
    } finally {
      await restarted.stop();
    }
    // Act: a runtime whose reconciler runs every second, and a job that loses its counts while it runs
    const rt = await startLocalRuntime({ stateDir: state, logLevel: 'SILENT', reconcile: { everySeconds: 1, stallMs: 0 } });
    try {
      await jobWithLostCounts(rt, 'j-while');
      // Assess: a scheduled pass finds it
      const found = await waitForEnd(rt, 'j-while', 20_000);
      expect(found).toMatchObject({ status: JobStatus.COMPLETE, counts: { groups: 3, enriched: 3, decided: 3, failed: 0 } });
    } finally {
      await rt.stop();
    }
  }, 90_000);

  it('runs its scheduled passes, and the finalize they lead to, in a handler process when there is one, not in the main process', async () => {
    // Prepare: the main process runs no queue function; one handler process; the main process's SDK calls recorded
    const calls: CallRecord[] = [];
    const rt = await startLocalRuntime({ logLevel: 'SILENT', functions: [], handlerProcesses: [['decide']], reconcile: { everySeconds: 1, stallMs: 0 }, onAwsCall: (c) => calls.push(c) });
    try {
      // The handler process up, and any pass this process ran before it was (and the one on start) ended
      for (const deadline = Date.now() + 30_000; rt.pids().handlers.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 2500));
      calls.length = 0;
      // Act: a job loses its counts while the runtime runs
      await jobWithLostCounts(rt, 'j-handler');
      // Assess: counted again and finalized, its results written, and none of it by the main process
      const found = await waitForEnd(rt, 'j-handler', 30_000);
      expect(found).toMatchObject({ status: JobStatus.COMPLETE, counts: { groups: 3, enriched: 3, decided: 3, failed: 0 } });
      expect(found!.results?.jsonl).toBeTruthy();
      expect(calls.filter((c) => c.fn === 'reconcile')).toEqual([]);
    } finally {
      await rt.stop();
    }
  }, 90_000);
});
