/**
 * `npm run bench:score` (part of `npm run bench`): the scoring state machine on the first 20 items of
 * claims-v1, predicting and judging with the OpenAI provider against the loopback simulator at a fixed
 * latency. Side by side in one process: sequential (one item at a time, one item per judge call — the
 * notebook way), then the state machine at predict MaxConcurrency 3 and 10 (judge in batches of 10).
 * Reports wall times, the speed-up over sequential, each run against its concurrency bound, and the
 * judge calls (= ⌈judged items / 10⌉ when batched).
 * Options: --items N (20), --latency MS (1000), --out FILE.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startSimulator } from '../src/llm/simulator.ts';
import { startLocalRuntime } from '../src/local/runtime.ts';
import type { ScoreReport } from '../src/scoring/report.ts';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '20' },
    latency: { type: 'string', default: '1000' },
    out: { type: 'string', default: 'docs/benchmarks/score.json' },
  },
});
const n = Number(values.items);
const latency = Number(values.latency);

// A benchmark of the first n items of claims-v1, in a folder of its own.
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-score-'));
const src = join(import.meta.dirname, '../benchmarks');
writeFileSync(join(dir, 'bench.jsonl'), `${readFileSync(join(src, 'claims-v1.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, n).join('\n')}\n`);
writeFileSync(join(dir, 'bench.config.json'), readFileSync(join(src, 'claims-v1.config.json')));
mkdirSync(join(dir, 'prompts'));
writeFileSync(join(dir, 'prompts/claims-judge-v1.md'), readFileSync(join(src, 'prompts/claims-judge-v1.md')));
process.env.SLUICE_BENCHMARKS_DIR = dir;

const sim = await startSimulator({ latencyMs: latency });
const rt = await startLocalRuntime({
  pollers: false,
  logLevel: 'SILENT',
  llm: {
    apiKey: 'sk-simulated',
    baseURL: sim.url,
    model: 'gpt-sim',
    maxInFlight: 32,
    timeoutMs: 30_000,
    maxRetries: 2,
    cacheTtlDays: 1,
    breaker: { name: 'openai', threshold: 20, cooldownMs: 30_000, probeTimeoutMs: 60_000 },
  },
});

interface Row {
  mode: string;
  predictConcurrency: number;
  wallMs: number;
  predictCalls: number;
  judged: number;
  judgeCalls: number;
  boundMs: number;
  ofBound: number;
  scored: number;
  failed: number;
}

async function measure(mode: string, input: Record<string, unknown>): Promise<Row> {
  sim.resetStats();
  const t0 = performance.now();
  const summary = (await rt.execute('score', { benchmark: 'bench', ...input })) as { runId: string };
  const wallMs = performance.now() - t0;
  const r = (await rt.scoreStore.getRun(summary.runId))!.report as ScoreReport;
  const judgeCalls = Object.values(sim.stats.judgeCalls).reduce((a, b) => a + b, 0);
  const predictCalls = sim.stats.calls - judgeCalls;
  const c = r.run.concurrency;
  // The least wall time these calls allow at this concurrency: rounds of calls, each one latency long.
  const boundMs = (Math.ceil(predictCalls / c.predict) + Math.ceil(judgeCalls / c.judge)) * latency;
  process.stderr.write(`${mode}: ${Math.round(wallMs)} ms, ${predictCalls} predict + ${judgeCalls} judge calls, bound ${boundMs} ms\n`);
  return { mode, predictConcurrency: c.predict, wallMs: Math.round(wallMs), predictCalls, judged: r.judge.needed, judgeCalls, boundMs, ofBound: round(wallMs / boundMs), scored: r.totals.scored, failed: r.totals.failed + r.totals.skipped };
}

const round = (v: number) => Math.round(v * 100) / 100;

try {
  const sequential = await measure('sequential', { sequential: true });
  const c3 = await measure('state machine', { maxConcurrency: 3 });
  const c10 = await measure('state machine', { maxConcurrency: 10 });
  const rows = [sequential, c3, c10].map((r) => ({ ...r, speedup: round(sequential.wallMs / r.wallMs) }));
  const report = {
    command: `npm run bench:score -- --items ${n} --latency ${latency}`,
    at: new Date().toISOString(),
    items: n,
    latencyMs: latency,
    rows,
    targets: {
      speedupAt10: { target: '>= 13', measured: rows[2]!.speedup, met: rows[2]!.speedup >= 13 },
      ofBoundAt10: { target: '<= 1.2', measured: rows[2]!.ofBound, met: rows[2]!.ofBound <= 1.2 },
      judgeCallsBatched: { target: 'ceil(judged / 10)', measured: rows[2]!.judgeCalls, expected: Math.ceil(rows[2]!.judged / 10), met: rows[2]!.judgeCalls === Math.ceil(rows[2]!.judged / 10) },
    },
  };
  mkdirSync('docs/benchmarks', { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
  console.table(rows);
  console.log(JSON.stringify(report.targets, null, 2));
} finally {
  await rt.stop();
  await sim.stop();
}
