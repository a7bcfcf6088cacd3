/**
 * A finished score run's report, computed from its item records: totals whose parts add up, per-field
 * accuracy over the scored items (failures and skips counted beside it, never folded in), the
 * decision's confusion matrix, per-phase wall times, the judge's work, failures with reasons, the
 * mistakes with expected vs predicted, and the items that flipped since the previous run.
 */
import type { Benchmark } from './benchmark.ts';
import type { FieldVerdict } from './score-item.ts';
import type { ScoreItemRecord, ScoreRun, Span } from './score-store.ts';

/** The benchmark's fields, in its config's order. */
export const fieldsOf = (b: Benchmark): string[] => Object.keys(b.config.fields);

export interface FieldAccuracy {
  method: string;
  weight: number;
  correct: number;
  scored: number;
  /** correct / scored; null when nothing was scored. */
  accuracy: number | null;
}

export interface ScoreReport {
  run: ScoreRun;
  totals: { items: number; scored: number; failed: number; skipped: number; allFieldsCorrect: number; weightedScore: number | null };
  /** Per field of the benchmark, in its config's order. */
  fields: Record<string, FieldAccuracy>;
  /** The profile's decision (`decision` names it): counts[expected][predicted] over the scored items. */
  confusion: { decision: string; labels: string[]; counts: Record<string, Record<string, number>> };
  phases: { predictMs: number | null; compareMs: number | null; judgeMs: number | null; totalMs: number };
  judge: { name: string; needed: number; batchVerdicts: number; batchCalls: number; singleVerdicts: number; fallbacks: number; passed: number; failed: number };
  failures: Array<{ id: string; status: 'failed' | 'skipped'; error: string; reason: string }>;
  mistakes: Array<{ id: string; tags: string[]; field: string; expected: unknown; predicted: unknown; judgeReason?: string }>;
  flips: { previousRunId: string; fixed: string[]; broke: string[]; nowFailed: string[] } | null;
}

/** Whether a field of a scored item is right: the judge's verdict when it gave one, else the deterministic comparison. */
export function fieldCorrect(record: ScoreItemRecord, f: FieldVerdict): boolean {
  if (f.needsJudge && record.judge?.verdict) return record.judge.verdict === 'pass';
  return f.correct;
}

function fieldScore(record: ScoreItemRecord, f: FieldVerdict): number {
  if (f.needsJudge && record.judge?.verdict) return record.judge.verdict === 'pass' ? 1 : 0;
  return f.score;
}

const allCorrect = (r: ScoreItemRecord) => r.status === 'scored' && (r.fields ?? []).every((f) => fieldCorrect(r, f));

function phaseMs(spans: Array<Span | undefined>): number | null {
  const s = spans.filter((x): x is Span => Array.isArray(x));
  return s.length ? Math.max(...s.map((x) => x[1])) - Math.min(...s.map((x) => x[0])) : null;
}

export function computeReport(run: ScoreRun, benchmark: Benchmark, records: ScoreItemRecord[], previous?: { runId: string; items: ScoreItemRecord[] }): ScoreReport {
  const byId = new Map(records.map((r) => [r.id, r]));
  // Every benchmark item is accounted for: one with no record at all is reported failed, never dropped.
  const all: ScoreItemRecord[] = benchmark.items.map((i) => byId.get(i.id) ?? { id: i.id, status: 'failed', error: 'NoRecord', reason: 'the run left no record of this item' });
  const scored = all.filter((r) => r.status === 'scored');
  const fields = Object.fromEntries(
    fieldsOf(benchmark).map((name) => {
      const spec = benchmark.config.fields[name]!;
      const verdicts = scored.map((r) => ({ r, f: r.fields?.find((f) => f.field === name) })).filter((x): x is { r: ScoreItemRecord; f: FieldVerdict } => !!x.f);
      const correct = verdicts.filter(({ r, f }) => fieldCorrect(r, f)).length;
      return [name, { method: spec.method, weight: spec.weight, correct, scored: verdicts.length, accuracy: verdicts.length ? correct / verdicts.length : null }];
    }),
  );

  const weightOf = (f: string) => benchmark.config.fields[f]?.weight ?? 0;
  const weights = fieldsOf(benchmark).reduce((s, f) => s + weightOf(f), 0);
  const weighted = scored.map((r) => (r.fields ?? []).reduce((s, f) => s + weightOf(f.field) * fieldScore(r, f), 0) / weights);

  const labels = [...new Set(benchmark.items.map((i) => String(i.expected.decision)))].sort();
  const expectedDecision = new Map(benchmark.items.map((i) => [i.id, i.expected.decision]));
  const counts: Record<string, Record<string, number>> = {};
  for (const r of scored) {
    const expected = String(expectedDecision.get(r.id));
    const predicted = String(r.prediction?.decision);
    if (!labels.includes(predicted)) labels.push(predicted);
    (counts[expected] ??= {})[predicted] = (counts[expected]?.[predicted] ?? 0) + 1;
  }

  const judged = scored.filter((r) => r.needsJudge);
  const tags = new Map(benchmark.items.map((i) => [i.id, i.tags]));
  const mistakes: ScoreReport['mistakes'] = [];
  for (const r of scored) {
    for (const f of r.fields ?? []) {
      if (fieldCorrect(r, f)) continue;
      mistakes.push({ id: r.id, tags: tags.get(r.id) ?? [], field: f.field, expected: f.expected, predicted: f.predicted, ...(f.needsJudge && r.judge ? { judgeReason: r.judge.reason } : {}) });
    }
  }

  let flips: ScoreReport['flips'] = null;
  if (previous) {
    const before = new Map(previous.items.map((r) => [r.id, r]));
    const fixed: string[] = [];
    const broke: string[] = [];
    const nowFailed: string[] = [];
    for (const r of all) {
      const p = before.get(r.id);
      if (!p) continue;
      if (p.status === 'scored' && r.status !== 'scored') nowFailed.push(r.id);
      if (p.status !== 'scored' || r.status !== 'scored') continue;
      if (!allCorrect(p) && allCorrect(r)) fixed.push(r.id);
      if (allCorrect(p) && !allCorrect(r)) broke.push(r.id);
    }
    flips = { previousRunId: previous.runId, fixed, broke, nowFailed };
  }

  return {
    run,
    totals: {
      items: all.length,
      scored: scored.length,
      failed: all.filter((r) => r.status === 'failed' || r.status === 'predicted').length,
      skipped: all.filter((r) => r.status === 'skipped').length,
      allFieldsCorrect: scored.filter(allCorrect).length,
      weightedScore: weighted.length ? weighted.reduce((a, b) => a + b, 0) / weighted.length : null,
    },
    fields,
    confusion: { decision: benchmark.decision, labels, counts },
    phases: {
      predictMs: phaseMs(all.map((r) => r.predictSpan)),
      compareMs: phaseMs(all.map((r) => r.compareSpan)),
      judgeMs: phaseMs(all.map((r) => r.judgeSpan)),
      totalMs: Date.parse(run.finishedAt ?? run.startedAt) - Date.parse(run.startedAt),
    },
    judge: {
      name: run.judge,
      needed: judged.length,
      batchVerdicts: judged.filter((r) => r.judge?.mode === 'batch').length,
      batchCalls: new Set(judged.filter((r) => r.judge?.mode === 'batch').map((r) => r.judge?.chunk)).size,
      singleVerdicts: judged.filter((r) => r.judge?.mode === 'single').length,
      fallbacks: judged.filter((r) => !r.judge || r.judge.mode === 'fallback').length,
      passed: judged.filter((r) => r.judge?.verdict === 'pass').length,
      failed: judged.filter((r) => r.judge?.verdict === 'fail').length,
    },
    failures: all
      .filter((r) => r.status !== 'scored')
      .map((r) => ({ id: r.id, status: r.status === 'skipped' ? 'skipped' : 'failed', error: r.error ?? (r.status === 'predicted' ? 'NotCompared' : 'Unknown'), reason: r.reason ?? 'predicted but never compared' })),
    mistakes,
    flips,
  };
}

/** What a benchmark's run listing keeps of a report: enough for trends and for `sluice score` output. */
export function reportSummary(r: ScoreReport): Record<string, unknown> & { runId: string } {
  return {
    runId: r.run.runId,
    benchmark: r.run.benchmark,
    startedAt: r.run.startedAt,
    finishedAt: r.run.finishedAt,
    promptVersion: r.run.promptVersion,
    profileVersion: r.run.profileVersion,
    benchmarkVersion: r.run.benchmarkVersion,
    provider: r.run.provider,
    judge: r.run.judge,
    totals: r.totals,
    accuracy: Object.fromEntries(Object.entries(r.fields).map(([f, a]) => [f, a.accuracy])),
  };
}
