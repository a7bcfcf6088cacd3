// Under test: writing a job's results when the read of its groups fails part-way (a timeout while the store is
// busy): no truncated results file is left at its keys (the uploads fail with the read; lib-storage aborts a
// multipart one); the error reaches the finalizer, which gives its lease up so that the next try writes the whole
// file at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore } from '../../src/adapters/s3-object-store.ts';
import { type FinalizeCursor, JobStatus, emptyCounts, resultKeys } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { GroupItem } from '../../src/pipeline/ports.ts';
import { FINALIZE_LEASE_MS, FINALIZE_MARGIN_MS, maybeFinalize, segmentKey, withInvocationDeadline, writeResults } from '../../src/pipeline/finalize-job.ts';
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

/** The id of the `g`th group (G001…: in key order). */
const id = (g: number) => `G${String(g).padStart(3, '0')}`;

/** A job of `groups` decided groups, every count written. */
async function decidedJob(jobId: string, groups: number) {
  const at = new Date().toISOString();
  await rt.store.createJob({ jobId, bucket: 'b', key: `incoming/claims/${jobId}.csv`, etag: 'e', size: 1, profile: 'claims', mode: 'fast', status: JobStatus.PROCESSING, counts: emptyCounts(), timings: { receivedAt: at } });
  await rt.store.recordIngestCounts(jobId, { rows: groups, accepted: groups, rejected: 0, duplicates: 0, groups }, 1);
  const enrichment = { outputs: {}, provider: 'offline', model: 'm', promptVersion: 'p', mode: 'fast' as const, stages: {}, eligibleNoteIds: ['n1'], ineligible: [], provenance: { chunkIds: [] } };
  for (let g = 1; g <= groups; g++) {
    await rt.store.saveEnrichment(jobId, id(g), 1, enrichment as never, 0, { key: `records/${jobId}/p0000.jsonl`, start: 0, end: 1 }, at);
    await rt.store.saveDecision(jobId, id(g), { outcome: 'yes', rule: 'r', reason: 'x', rules: [], basedOn: {} } as never, at);
  }
  await rt.store.openLedger(jobId, [{ shard: 0, expected: groups }]);
  await rt.store.countGroups(jobId, 0, Array.from({ length: groups }, (_, g) => ({ groupId: id(g + 1), marks: { enriched: true, pending: false, settled: 'decided' as const } })));
  return (await rt.store.getJob(jobId))!;
}

/** A job of 25 decided groups with every results segment (of 10 groups) staged; `cursor()` is the last one `save` kept. */
async function stagedJob(jobId: string) {
  const job = await decidedJob(jobId, 25);
  let saved: FinalizeCursor | undefined;
  const save = async (cursor: FinalizeCursor) => {
    saved = cursor;
    return true;
  };
  for (let call = 0; call < 5 && !saved?.done; call++) await writeResults(deps(), job, { cursor: saved, deadline: 0, save, segmentGroups: 10 });
  expect(saved).toMatchObject({ segments: 3, done: true });
  return { job, save, cursor: () => saved };
}

/** The pipeline's dependencies writeResults uses, its group reads failing after `failAfter` groups when given. */
function deps(failAfter?: number, over: Partial<PipelineDeps> = {}): PipelineDeps {
  const store = {
    tryStartFinalize: rt.store.tryStartFinalize.bind(rt.store),
    renewFinalize: rt.store.renewFinalize.bind(rt.store),
    completeJob: rt.store.completeJob.bind(rt.store),
    saveFinalizeCursor: rt.store.saveFinalizeCursor.bind(rt.store),
    getJob: rt.store.getJob.bind(rt.store),
    async *listGroups(jobId: string, after?: string) {
      let n = 0;
      for await (const group of rt.store.listGroups(jobId, after)) {
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
    expect(lines.map((l) => JSON.parse(l).groupId).sort()).toEqual(['G001', 'G002', 'G003', 'G004', 'G005']);
    expect(written).toMatchObject({ written: { counts: { decided: 5, failed: 0 } } });
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

  it('writes a large job’s results a segment at a time, each call going on where the last saved cursor stopped (also after a kill), and joins them whole', async () => {
    // Prepare: 25 groups, segments of 10; the second save fails as a kill after its segment was written would
    const job = await decidedJob('j-segments', 25);
    const afters: Array<string | undefined> = [];
    const store = deps().store;
    const reads = {
      ...store,
      listGroups(jobId: string, after?: string) {
        afters.push(after);
        return store.listGroups(jobId, after);
      },
    };
    let saved: FinalizeCursor | undefined;
    let saves = 0;
    const save = async (cursor: FinalizeCursor) => {
      if (++saves === 2) throw new Error('killed before its cursor was saved');
      saved = cursor;
      return true;
    };
    const d = deps(undefined, { store: reads } as unknown as Partial<PipelineDeps>);
    // Act: calls whose deadline has passed (each writes one segment), until the results are written
    const outcomes: string[] = [];
    for (let call = 0; call < 10 && !outcomes.includes('written'); call++) {
      const outcome = await writeResults(d, job, { cursor: saved, deadline: 0, save, segmentGroups: 10 }).catch(() => ({ killed: true }));
      outcomes.push(Object.keys(outcome)[0]!);
    }
    // Assess: each call read from where the last saved cursor stopped (the killed one's segment read again)
    // and the join had a call of its own
    expect(outcomes).toEqual(['paused', 'killed', 'paused', 'paused', 'written']);
    expect(afters).toEqual([undefined, 'G010', 'G010', 'G020']);
    expect(saved).toMatchObject({ segments: 3, after: 'G025', done: true, tally: { decided: 25, failed: 0 } });
    // Assess: whole files: every group once and in order, the CSV's header once, the summary's counts
    const s3 = rt.clients.s3;
    const Bucket = rt.names.buckets.results;
    const keys = resultKeys(job.jobId);
    const text = async (Key: string) => (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
    const want = Array.from({ length: 25 }, (_, g) => id(g + 1));
    expect((await text(keys.jsonl)).trim().split('\n').map((l) => JSON.parse(l).groupId)).toEqual(want);
    const csv = (await text(keys.csv)).trim().split('\n');
    expect(csv[0]).toMatch(/^job_id,group_id,/);
    expect(csv.slice(1).map((l) => l.split(',')[1])).toEqual(want);
    expect(JSON.parse(await text(keys.summary))).toMatchObject({ counts: { groups: 25, decided: 25, failed: 0 }, outcomes: { yes: 25 } });
  });

  it('finalizes a large job over several finalizes: each pauses at its deadline, saves its cursor and gives its lease up, and the next goes on', async () => {
    // Prepare
    const job = await decidedJob('j-pauses', 25);
    const d = deps();
    // Act: finalizes whose deadline has passed, one after another at once
    const results: boolean[] = [];
    const cursors: Array<number | undefined> = [];
    for (let call = 0; call < 10 && !results.includes(true); call++) {
      // the job as it was before any finalize: the cursor saved since is read again under the lease
      results.push(await maybeFinalize(d, job, { deadline: 0, segmentGroups: 10 }));
      const now = (await rt.store.getJob(job.jobId))!;
      cursors.push(now.finalizeCursor?.segments);
    }
    // Assess: three segments over three finalizes (none kept out by the last one's lease), the join in a fourth, then the job complete
    expect(results).toEqual([false, false, false, true]);
    expect(cursors).toEqual([1, 2, 3, undefined]);
    const done = (await rt.store.getJob(job.jobId))!;
    expect(done).toMatchObject({ status: JobStatus.COMPLETE, counts: { groups: 25, decided: 25, failed: 0 } });
    const lines = (await (await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: resultKeys(job.jobId).jsonl }))).Body!.transformToString()).trim().split('\n');
    expect(lines).toHaveLength(25);
  });

  it('does not begin a finalize in an invocation with less than its margin left, and takes over only leases from before a given time', async () => {
    // Prepare
    const job = await decidedJob('j-late', 3);
    const d = deps();
    // Act and assess: 10 s left in the invocation, less than the margin: the lease is not even taken
    expect(await withInvocationDeadline(Date.now() + FINALIZE_MARGIN_MS - 10_000, () => maybeFinalize(d, job))).toBe(false);
    expect((await rt.store.getJob(job.jobId))!.status).toBe(JobStatus.PROCESSING);
    // Prepare: a finalizer took the lease a moment ago (as a handler process beside a runtime's pass on start)
    const t = Date.now();
    expect(await rt.store.tryStartFinalize(job.jobId, t + FINALIZE_LEASE_MS, t)).toBe(true);
    const held = (await rt.store.getJob(job.jobId))!;
    // Act and assess: a pass that began before it took the lease does not take it over; one that began later does
    expect(await maybeFinalize(d, held, { takeOverBefore: t - 1_000 + FINALIZE_LEASE_MS })).toBe(false);
    expect(await maybeFinalize(d, held, { takeOverBefore: t + 1_000 + FINALIZE_LEASE_MS })).toBe(true);
    expect((await rt.store.getJob(job.jobId))!.status).toBe(JobStatus.COMPLETE);
  });

  it('starts the results over from the first group when a staged segment is gone (its staging expired), and writes them whole', async () => {
    // Prepare: every segment staged, then the second segment's JSONL gone
    const { job, save, cursor } = await stagedJob('j-gone');
    await rt.clients.s3.send(new DeleteObjectCommand({ Bucket: rt.names.buckets.results, Key: segmentKey(job.jobId, 1, 'jsonl') }));
    // Act: the join
    const outcome = await writeResults(deps(), job, { cursor: cursor(), save, segmentGroups: 10 });
    // Assess: the cursor saved back to its start, no results file written
    expect(outcome).toEqual({ paused: { segments: 0, tally: expect.objectContaining({ decided: 0 }) } });
    expect(cursor()).toMatchObject({ segments: 0 });
    const keys = resultKeys(job.jobId);
    for (const Key of [keys.jsonl, keys.summary]) await expect(rt.clients.s3.send(new HeadObjectCommand({ Bucket: rt.names.buckets.results, Key }))).rejects.toMatchObject({ name: 'NotFound' });
    // Act: going on from there
    let last: Awaited<ReturnType<typeof writeResults>> | undefined;
    for (let call = 0; call < 6 && !(last && 'written' in last); call++) last = await writeResults(deps(), job, { cursor: cursor(), deadline: 0, save, segmentGroups: 10 });
    // Assess: every group once, in order, and the summary's counts not doubled
    expect(last).toMatchObject({ written: { counts: { groups: 25, decided: 25 } } });
    const jsonl = await (await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: keys.jsonl }))).Body!.transformToString();
    expect(jsonl.trim().split('\n').map((l) => JSON.parse(l).groupId)).toEqual(Array.from({ length: 25 }, (_, g) => id(g + 1)));
  });

  it('writes neither the joined files nor the summary once its lease is lost', async () => {
    // Prepare: every segment staged, then the lease lost
    const { job, save, cursor } = await stagedJob('j-lost');
    // Act
    const outcome = await writeResults(deps(), job, { cursor: cursor(), save, segmentGroups: 10, held: () => false });
    // Assess
    expect(outcome).toEqual({ lost: true });
    const keys = resultKeys(job.jobId);
    for (const Key of [keys.jsonl, keys.csv, keys.summary]) await expect(rt.clients.s3.send(new HeadObjectCommand({ Bucket: rt.names.buckets.results, Key }))).rejects.toMatchObject({ name: 'NotFound' });
  });
});
