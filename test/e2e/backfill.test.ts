// Under test: backfill after a fast-mode run — pending summaries finished through the LLM (simulator),
// oldest first from the sparse index without a scan, never twice under two concurrent runs, counts and
// results files updated; a run stops at its limit and the next resumes; with the LLM down items stay pending.
import { readFileSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import { type Simulator, startSimulator } from '../../src/llm/simulator.ts';
import { runBackfill } from '../../src/pipeline/backfill.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { grantCheck } from '../helpers/factories.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';

let sim: Simulator;
let rt: LocalRuntime;
const operations: string[] = [];
const calls: CallRecord[] = [];

beforeAll(async () => {
  sim = await startSimulator({ seed: 17, latencyMs: 5 });
  rt = await startLocalRuntime({
    logLevel: 'SILENT',
    onAwsCall: (c) => calls.push(c),
    llm: {
      apiKey: 'sk-simulated',
      baseURL: sim.url,
      model: 'gpt-sim',
      maxInFlight: 4,
      timeoutMs: 2_000,
      maxRetries: 0,
      cacheTtlDays: 1,
      breaker: { name: 'openai', threshold: 2, cooldownMs: 500, probeTimeoutMs: 5_000, closedReadTtlMs: 0 },
    },
  });
  rt.clients.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      operations.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countOperations' },
  );
});
afterAll(async () => {
  await rt?.stop();
  await sim?.stop();
});

async function dropFast(key: string, body: Buffer | string): Promise<Job> {
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: body, Metadata: { 'sluice-mode': 'fast' } }));
  return rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
}

const backfill = (limit = 10_000) => runBackfill(rt.operatorDeps(), { limit, deadline: Date.now() + 60_000 });

describe('backfill after a fast-mode run', () => {
  let job: Job;
  beforeAll(async () => {
    job = await dropFast('incoming/claims/claims-notes.csv', readFileSync('samples/claims-notes.csv'));
  });

  it('finishes every pending summary exactly once, without a scan, and rewrites the results', async () => {
    expect(job.counts.pending).toBeGreaterThan(50);
    expect(sim.stats.calls).toBe(0);
    const pending = job.counts.pending;

    const first = await backfill(5);
    expect(first).toMatchObject({ done: 5, stoppedEarly: true });
    const [a, b] = await Promise.all([backfill(), backfill()]); // two concurrent runs resume the rest
    expect(first.done + a.done + b.done).toBe(pending);
    expect(sim.stats.calls).toBe(pending);
    expect(operations).not.toContain('ScanCommand');
    expect(operations).toContain('QueryCommand');

    const after = (await rt.store.getJob(job.jobId))!;
    expect(after.counts).toMatchObject({ pending: 0, decided: job.counts.decided, groups: job.counts.groups });
    expect(after.status).toBe('COMPLETE_WITH_ERRORS');
    const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: after.results!.jsonl }));
    const lines = (await r.Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l));
    const eligible = lines.filter((l) => l.enrichment.eligibleNoteIds.length > 0);
    expect(eligible.length).toBe(pending);
    for (const l of eligible) {
      expect(l.enrichment).toMatchObject({ provider: 'openai', mode: 'full', stages: { summary: 'done' } });
      expect(l.enrichment.outputs.summary.length).toBeGreaterThan(0);
      expect(l.decision.basedOn).toBeDefined();
    }
    expect((await rt.store.listPending('pending_lossDescription', 10)).items.filter((p) => p.jobId === job.jobId)).toEqual([]);
    expect((await backfill()).done).toBe(0);
  });
});

describe('backfill while the LLM is down', () => {
  it('leaves the items pending and says so; once the LLM is back the next run finishes them', async () => {
    const { header, rows } = generateClaims({ seed: 31, claims: 12, notesPerClaim: 2, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
    const job = await dropFast('incoming/claims/later.csv', toCsv(header, rows));
    const pending = job.counts.pending;
    expect(pending).toBeGreaterThan(5);

    sim.configure({ down: true });
    const down = await backfill();
    expect(down.done).toBe(0);
    expect(down.stillPending).toBe(pending);
    expect((await rt.store.getJob(job.jobId))!.counts.pending).toBe(pending);

    sim.configure({ down: false });
    await new Promise((r) => setTimeout(r, 600)); // the breaker's cool-down; the next call is its probe
    const up = await backfill();
    expect(up.done).toBe(pending);
    expect((await rt.store.getJob(job.jobId))!.counts.pending).toBe(0);
  });
});

describe('the scheduled backfill λ', () => {
  it('runs from the Scheduled Event in events/, within its deadline, calling exactly what its access grants', async () => {
    const { header, rows } = generateClaims({ seed: 41, claims: 10, notesPerClaim: 2, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
    const job = await dropFast('incoming/claims/scheduled.csv', toCsv(header, rows));
    expect(job.counts.pending).toBeGreaterThan(3);
    const event = JSON.parse(readFileSync('events/backfill-scheduled.json', 'utf8'));
    const report = (await rt.invokeScheduled('backfill', event)) as { done: number; stoppedEarly: boolean };
    expect(report).toMatchObject({ done: job.counts.pending, stoppedEarly: false });
    expect((await rt.store.getJob(job.jobId))!.counts.pending).toBe(0);

    // The config bucket is read only once a profile version is pushed (failures.test.ts and profile-versions.test.ts push one).
    expect(grantCheck(calls, 'backfill', ['s3:AbortMultipartUpload', 's3:GetObject on bucket config'])).toEqual({ denied: [], unused: [] });
  });
});
