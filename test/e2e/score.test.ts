// Under test: `sluice score` on the scoring state machine (the deployed ASL on aws-local-stepfunctions) —
// totals that add up offline, failed predictions counted and shown, the breaker skipping with a reason,
// judge batching ⌈n/10⌉ calls with a per-item fallback, stored runs compared, calibration measured.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import type { LlmSettings } from '../../src/llm/llm-config.ts';
import { type Simulator, startSimulator } from '../../src/llm/simulator.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { listBenchmarks, loadBenchmark } from '../../src/scoring/benchmark.ts';
import { createOpenAiJudge } from '../../src/scoring/judge.ts';
import type { ScoreReport } from '../../src/scoring/report.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { grantCheck } from '../helpers/factories.ts';

const benchmark = loadBenchmark('claims-v1');
const N = benchmark.items.length;

function llm(sim: Simulator, o: { threshold?: number; cooldownMs?: number } = {}): LlmSettings {
  return {
    apiKey: 'sk-simulated',
    baseURL: sim.url,
    model: 'gpt-4o-mini',
    maxInFlight: 16,
    timeoutMs: 5_000,
    maxRetries: 0,
    cacheTtlDays: 1,
    breaker: { name: 'openai', threshold: o.threshold ?? 10_000, cooldownMs: o.cooldownMs ?? 600_000, probeTimeoutMs: 60_000 },
  };
}

async function score(rt: LocalRuntime, input: Record<string, unknown> = {}): Promise<ScoreReport> {
  const summary = (await rt.execute('score', { benchmark: 'claims-v1', ...input }, { retryIntervalMs: 5 })) as { runId: string };
  return (await rt.scoreStore.getRun(summary.runId))!.report as ScoreReport;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** What every report must satisfy: its parts add up to the whole. */
function expectConsistent(r: ScoreReport) {
  expect(r.totals.items).toBe(N);
  expect(r.totals.scored + r.totals.failed + r.totals.skipped).toBe(N);
  expect(r.failures).toHaveLength(r.totals.failed + r.totals.skipped);
  expect(Object.keys(r.fields)).toEqual(['decision', 'causeCode', 'keyFacts']);
  for (const [f, a] of Object.entries(r.fields)) {
    expect(a.scored).toBe(r.totals.scored);
    expect(a.correct + r.mistakes.filter((m) => m.field === f).length).toBe(r.totals.scored);
    expect(a.accuracy).toBeCloseTo(a.correct / r.totals.scored, 10);
  }
  const cells = Object.values(r.confusion.counts).flatMap((row) => Object.values(row));
  expect(cells.reduce((a, b) => a + b, 0)).toBe(r.totals.scored);
  const diagonal = r.confusion.labels.reduce((s, l) => s + (r.confusion.counts[l]?.[l] ?? 0), 0);
  expect(diagonal).toBe(r.fields.decision!.correct);
}

describe('sluice score (CLI, offline provider)', () => {
  const state = mkdtempSync(join(tmpdir(), 'sluice-score-'));
  const sluice = (...args: string[]) => spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', state], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OPENAI_API_KEY: '' } });

  it('--json runs the state machine and returns totals whose per-item verdicts add up', () => {
    const r = sluice('score', 'claims-v1', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ScoreReport;
    expectConsistent(report);
    expect(report.totals).toMatchObject({ scored: N, failed: 0, skipped: 0 });
    expect(report.run).toMatchObject({ provider: 'offline', judge: 'offline:set-overlap', status: 'done', concurrency: { predict: 3, compare: 10 } });
    // The offline provider is not perfect on this benchmark: the benchmark discriminates.
    expect(report.fields.decision!.accuracy).toBeLessThan(1);
    expect(report.judge.batchCalls).toBe(Math.ceil(report.judge.needed / 10));
    expect(report.flips).toBeNull();
  });

  it('stores runs per benchmark, newest first, and compares each run with the one before', () => {
    const second = JSON.parse(sluice('score', 'claims-v1', '--json', '--sequential').stdout) as ScoreReport;
    expect(second.run.concurrency).toEqual({ predict: 1, compare: 1, judge: 1 });
    const listed = JSON.parse(sluice('score', 'claims-v1', '--runs', '--json').stdout) as Array<{ runId: string }>;
    expect(listed).toHaveLength(2);
    expect(listed[0]!.runId).toBe(second.run.runId);
    // Same provider, same benchmark: nothing flipped.
    expect(second.flips).toEqual({ previousRunId: listed[1]!.runId, fixed: [], broke: [], nowFailed: [] });
  });

  it('refuses an unknown benchmark and bad flags with exit code 2', () => {
    const unknown = sluice('score', 'claims-v9');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain(`unknown benchmark "claims-v9" (known: ${listBenchmarks().join(', ')})`);
    expect(listBenchmarks()).toEqual(expect.arrayContaining(['claims-v1', 'claims-v2', 'claims-v3', 'deals-v1', 'social-v1']));
    expect(sluice('score', 'claims-v1', '--concurrency', '0').status).toBe(2);
  });
});

describe('scoring against the simulated provider', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ latencyMs: 5 });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('with 30% of predictions failing after retries, the run completes: those items failed with their reason, accuracy over the rest', async () => {
    sim.configure({ faults: { persistent: 0.3 } });
    sim.resetStats();
    const calls: CallRecord[] = [];
    const rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT', llm: llm(sim), onAwsCall: (c) => calls.push(c) });
    try {
      const r = await score(rt);
      expectConsistent(r);
      expect(r.totals.skipped).toBe(0);
      // Roughly 30% of the prediction requests can never succeed (seeded): between 15% and 45% of the items.
      expect(r.totals.failed).toBeGreaterThanOrEqual(0.15 * N);
      expect(r.totals.failed).toBeLessThanOrEqual(0.45 * N);
      for (const f of r.failures) expect(f).toMatchObject({ status: 'failed', error: 'LlmUnavailableError', reason: expect.stringContaining('always fails') });
      // Each failed item was tried three times (the ASL's Retry: two retries after the first attempt).
      expect(sim.stats.outcomes.persistent).toBeGreaterThanOrEqual(3 * r.totals.failed);
      expect(r.fields.decision!.scored).toBe(N - r.totals.failed);
      // Local IAM: the score function made only calls its topology access grants, and used every grant.
      // The config bucket is read only once a profile version is pushed (failures.test.ts and profile-versions.test.ts push one).
      expect(grantCheck(calls, 'score', ['s3:GetObject on bucket config'])).toEqual({ denied: [], unused: [] });
    } finally {
      await rt.stop();
      sim.configure({ faults: { persistent: 0 } });
    }
  });

  it('once the shared breaker opens, the remaining items are skipped with the reason and no more calls go out', async () => {
    sim.configure({ down: true });
    sim.resetStats();
    const rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT', llm: llm(sim, { threshold: 3 }) });
    try {
      const r = await score(rt);
      expectConsistent(r);
      // Only items with no eligible note are scored: they need no LLM call at all.
      const noCall = benchmark.items.filter((i) => i.expected.decision === 'not_applicable').length;
      expect(r.totals.scored).toBe(noCall);
      // The first items' calls open the breaker; their retries, and every later item, find it open.
      expect(r.totals.skipped).toBeGreaterThan(N / 2);
      const skipped = r.failures.filter((f) => f.status === 'skipped');
      for (const f of skipped) expect(f).toMatchObject({ error: 'BreakerOpenError', reason: expect.stringContaining('circuit breaker is open') });
      // Without the breaker every item would make 3 calls (180); with it, a few items' worth.
      expect(sim.stats.calls).toBeLessThan(30);
    } finally {
      await rt.stop();
      sim.configure({ down: false });
    }
  });

  it('judges in batches of 10 (⌈n/10⌉ calls), and a malformed batch answer is judged again item by item', async () => {
    const judge = createOpenAiJudge(llm(sim));
    const rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT', scoring: { provider: createOfflineProvider(), judge } });
    try {
      sim.resetStats();
      const r = await score(rt);
      expectConsistent(r);
      const n = r.judge.needed;
      expect(n).toBeGreaterThan(20);
      const calls = Object.values(sim.stats.judgeCalls).reduce((a, b) => a + b, 0);
      expect(calls).toBe(Math.ceil(n / 10));
      expect(sim.stats.judgeCalls[10]).toBe(Math.floor(n / 10));
      expect(r.judge).toMatchObject({ batchVerdicts: n, batchCalls: Math.ceil(n / 10), singleVerdicts: 0, fallbacks: 0 });

      // Every multi-item answer now leaves one id out: each chunk fails validation and is judged singly.
      sim.configure({ faults: { judgeOmit: 1 } });
      sim.resetStats();
      const again = await score(rt);
      expectConsistent(again);
      expect(sim.stats.outcomes.judgeOmit).toBe(Math.ceil(n / 10));
      expect(sim.stats.judgeCalls[1]).toBe(n);
      expect(again.judge).toMatchObject({ batchVerdicts: 0, singleVerdicts: n, fallbacks: 0 });
      // The verdicts are the same either way (the simulated judge is deterministic per item).
      expect(again.fields.keyFacts!.correct).toBe(r.fields.keyFacts!.correct);
    } finally {
      await rt.stop();
      sim.configure({ faults: { judgeOmit: 0 } });
    }
  });

  it('--calibrate judges the same items batched and singly and reports agreement and kappa', async () => {
    const state = mkdtempSync(join(tmpdir(), 'sluice-calibrate-'));
    sim.resetStats();
    // Asynchronously: the simulator answers from this process.
    const r = await run(process.execPath, ['bin/sluice.mjs', 'score', 'claims-v1', '--json', '--calibrate', '20', '--state', state], {
      ...process.env,
      OPENAI_API_KEY: 'sk-simulated',
      OPENAI_BASE_URL: sim.url,
      SLUICE_LLM_MAX_RETRIES: '0',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as ScoreReport & { calibration: { items: number; compared: number; agreement: number; kappa: number | null; batchCalls: number; singleCalls: number } };
    expect(out.calibration).toMatchObject({ items: 20, compared: 20, batchCalls: 2, singleCalls: 20 });
    expect(out.calibration.agreement).toBe(1);
    // The run's own judging plus the calibration's 2 batch and 20 single calls.
    expect(sim.stats.judgeCalls[1]).toBe(20);
  });
});
