/**
 * `sluice score BENCHMARK`: one run of the scoring state machine on the local runtime (the deployed ASL),
 * its report as text or JSON, optionally as an HTML file, and optionally a judge calibration.
 */
import { writeFileSync } from 'node:fs';
import type { LocalRuntime } from '../local/runtime.ts';
import { ExecutionFailedError } from '../local/state-machines.ts';
import type { Benchmark } from '../scoring/benchmark.ts';
import { type Calibration, calibrate, calibrationInputs } from '../scoring/calibrate.ts';
import { type TrendPoint, renderHtmlReport } from '../scoring/html-report.ts';
import type { ScoreReport } from '../scoring/report.ts';
import { judgeOptions, newRunId } from '../scoring/score-steps.ts';

export interface ScoreOptions {
  sequential: boolean;
  maxConcurrency?: number;
  calibrate?: number;
  html?: string;
  json: boolean;
  /** Progress lines on stderr while the run goes. */
  progress: boolean;
  retryIntervalMs?: number;
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);

/** Runs the state machine and returns the exit code (0 the run completed, 1 the execution failed). */
export async function scoreBenchmark(rt: LocalRuntime, b: Benchmark, o: ScoreOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const runId = newRunId();
  const input = { benchmark: b.name, runId, ...(o.sequential ? { sequential: true } : {}), ...(o.maxConcurrency ? { maxConcurrency: o.maxConcurrency } : {}) };
  const timer = o.progress ? setInterval(() => void progress(rt, runId, b.items.length), 2000) : undefined;
  try {
    await rt.execute('score', input, o.retryIntervalMs === undefined ? {} : { retryIntervalMs: o.retryIntervalMs });
  } catch (err) {
    if (!(err instanceof ExecutionFailedError)) throw err;
    process.stderr.write(`sluice score: the run ${runId} failed: ${err.error}: ${err.reason}\n`);
    return 1;
  } finally {
    if (timer) clearInterval(timer);
  }
  const report = (await rt.scoreStore.getRun(runId))?.report as ScoreReport | undefined;
  if (!report) throw new Error(`score run ${runId} finished without a report`);
  let calibration: Calibration | undefined;
  if (o.calibrate) {
    const inputs = calibrationInputs(b, await rt.scoreStore.listItems(runId), o.calibrate);
    calibration = await calibrate(rt.scoring.judge, inputs, { batchSize: b.config.scoring.judgeBatchSize, ...judgeOptions(b) });
  }
  if (o.html) {
    const runs = await rt.scoreStore.listRuns(b.name, 30);
    const trend: TrendPoint[] = runs.reverse().map((r) => ({ runId: r.runId, startedAt: r.startedAt, accuracy: (r.accuracy ?? {}) as TrendPoint['accuracy'] }));
    writeFileSync(o.html, renderHtmlReport(report, trend));
  }
  if (o.json) out.write(`${JSON.stringify({ ...report, ...(calibration ? { calibration } : {}) })}\n`);
  else out.write(`${textReport(report, calibration, o.html)}\n`);
  return 0;
}

async function progress(rt: LocalRuntime, runId: string, total: number) {
  const items = await rt.scoreStore.listItems(runId).catch(() => []);
  const by = (s: string) => items.filter((i) => i.status === s).length;
  process.stderr.write(`score ${runId}: ${items.length}/${total} items predicted or settled (scored ${by('scored')}, failed ${by('failed')}, skipped ${by('skipped')})\n`);
}

export function textReport(r: ScoreReport, calibration?: Calibration, html?: string): string {
  const t = r.totals;
  const width = Math.max(10, ...Object.keys(r.fields).map((f) => f.length));
  const lines = [
    `sluice score ${r.run.benchmark}: run ${r.run.runId} on the state machine (provider ${r.run.provider}, judge ${r.run.judge}, predict concurrency ${r.run.concurrency.predict})`,
    `  items ${t.items}: scored ${t.scored}, failed ${t.failed}, skipped ${t.skipped}`,
    ...Object.entries(r.fields).map(([f, a]) => `  ${f.padEnd(width)} ${pct(a.accuracy).padStart(6)}  (${a.correct}/${a.scored}, ${a.method}, weight ${a.weight})`),
    `  weighted score ${pct(t.weightedScore)}; all fields right ${t.allFieldsCorrect}/${t.scored}${t.failed + t.skipped ? ` — accuracy is over the scored items; ${t.failed} failed, ${t.skipped} skipped` : ''}`,
    `  ${r.confusion.decision} (expected → predicted): ${r.confusion.labels.map((e) => `${e}: ${r.confusion.labels.map((p) => `${p} ${r.confusion.counts[e]?.[p] ?? 0}`).join(', ')}`).join(' | ')}`,
    `  judge: ${r.judge.needed} items, ${r.judge.batchVerdicts} in ${r.judge.batchCalls} batch calls, ${r.judge.singleVerdicts} singly, ${r.judge.fallbacks} kept the overlap score`,
    `  phases: predict ${r.phases.predictMs ?? '—'} ms, compare ${r.phases.compareMs ?? '—'} ms, judge ${r.phases.judgeMs ?? '—'} ms, run ${r.phases.totalMs} ms`,
    r.flips ? `  since run ${r.flips.previousRunId}: fixed ${r.flips.fixed.length}${r.flips.fixed.length ? ` (${r.flips.fixed.join(', ')})` : ''}, broke ${r.flips.broke.length}${r.flips.broke.length ? ` (${r.flips.broke.join(', ')})` : ''}, newly failed ${r.flips.nowFailed.length}` : '  no previous run to compare with',
  ];
  for (const f of r.failures.slice(0, 20)) lines.push(`  ${f.status.padEnd(7)} ${f.id}: ${f.error}: ${f.reason}`);
  if (r.failures.length > 20) lines.push(`  … and ${r.failures.length - 20} more (--json or --html for all)`);
  if (calibration) {
    lines.push(
      `  calibration on ${calibration.items} items: batched vs single agreement ${pct(calibration.agreement)}, Cohen's kappa ${calibration.kappa === null ? 'n/a' : calibration.kappa.toFixed(3)} (${calibration.compared} compared, ${calibration.batchCalls} batch + ${calibration.singleCalls} single calls${calibration.batchErrors.length ? `, ${calibration.batchErrors.length} invalid batch answers` : ''})`,
      ...calibration.disagreements.map((d) => `    disagree ${d.id}: batched ${d.batch} (${d.batchReason}) / single ${d.single} (${d.singleReason})`),
    );
  }
  if (html) lines.push(`  report: ${html}`);
  return lines.join('\n');
}
