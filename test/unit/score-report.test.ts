// Under test: the pure parts of scoring — the report computed from item records (accuracy over the scored
// items, judge verdicts taking precedence, flips against the previous run), the judge's answer validation,
// and Cohen's kappa.
import { describe, expect, it } from 'vitest';
import { loadBenchmark } from '../../src/scoring/benchmark.ts';
import { cohensKappa } from '../../src/scoring/calibrate.ts';
import { JudgeAnswerError, validateVerdicts } from '../../src/scoring/judge.ts';
import { computeReport } from '../../src/scoring/report.ts';
import { textReport } from '../../src/cli/score.ts';
import type { FieldVerdict } from '../../src/scoring/score-item.ts';
import type { ScoreItemRecord, ScoreRun } from '../../src/scoring/score-store.ts';

const full = loadBenchmark('claims-v1');
const bench = { ...full, items: full.items.slice(0, 4) };
const [a, b, c, d] = bench.items.map((i) => i.id) as [string, string, string, string];

const run: ScoreRun = {
  runId: 'r2',
  benchmark: 'claims-v1',
  benchmarkVersion: bench.version,
  promptVersion: 'enrich-v1',
  provider: 'openai',
  model: 'm',
  judge: 'j',
  concurrency: { predict: 3, compare: 10, judge: 5 },
  itemCount: 4,
  status: 'done',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:10.000Z',
};

function scored(id: string, o: { decision: string; facts: boolean; judge?: 'pass' | 'fail' }): ScoreItemRecord {
  const item = bench.items.find((i) => i.id === id)!;
  const decision = String(item.expected.decision);
  const fields: FieldVerdict[] = [
    { field: 'decision', method: 'exact', score: o.decision === decision ? 1 : 0, correct: o.decision === decision, expected: item.expected.decision, predicted: o.decision },
    { field: 'causeCode', method: 'exact', score: 1, correct: true, expected: item.expected.causeCode, predicted: item.expected.causeCode },
    { field: 'keyFacts', method: 'judge', score: o.facts ? 1 : 0, correct: o.facts, expected: item.expected.keyFacts, predicted: 'text', needsJudge: true },
  ];
  return {
    id,
    status: 'scored',
    prediction: { decision: o.decision, outputs: { causeCode: item.expected.causeCode, lossDescription: 'text' }, provider: 'openai' },
    fields,
    needsJudge: true,
    ...(o.judge ? { judge: { verdict: o.judge, reason: `judge says ${o.judge}`, mode: 'batch' as const, by: 'j', chunk: a } } : {}),
    predictSpan: [1000, 3000],
    compareSpan: [3000, 3100],
  };
}

describe('the score report', () => {
  const expectedOf = (id: string) => String(bench.items.find((i) => i.id === id)!.expected.decision);

  it('computes accuracy over the scored items only, with failures and skips beside it, and lets the judge decide free text', () => {
    const records = [
      scored(a, { decision: expectedOf(a), facts: false, judge: 'pass' }), // overlap said no, judge says yes
      scored(b, { decision: 'no', facts: true, judge: 'fail' }),
      { id: c, status: 'failed' as const, error: 'LlmUnavailableError', reason: '500' },
      // d has no record at all: reported failed, never dropped
    ];
    const r = computeReport(run, bench, records);
    expect(r.totals).toMatchObject({ items: 4, scored: 2, failed: 2, skipped: 0 });
    expect(r.fields.keyFacts).toMatchObject({ correct: 1, scored: 2, accuracy: 0.5 });
    expect(r.fields.decision!.correct).toBe(expectedOf(b) === 'no' ? 2 : 1);
    expect(r.failures.map((f) => [f.id, f.error])).toEqual([
      [c, 'LlmUnavailableError'],
      [d, 'NoRecord'],
    ]);
    expect(r.mistakes.find((m) => m.id === b && m.field === 'keyFacts')).toMatchObject({ judgeReason: 'judge says fail' });
    expect(r.phases).toMatchObject({ predictMs: 2000, compareMs: 100, judgeMs: null, totalMs: 10_000 });
  });

  it("the text report lists the calibration's disagreements, not only --json", () => {
    const r = computeReport(run, bench, [scored(a, { decision: expectedOf(a), facts: true, judge: 'pass' })]);
    const calibration = { items: 2, compared: 2, agreement: 0.5, kappa: 0, batchCalls: 1, singleCalls: 2, batchErrors: [], singleErrors: [], disagreements: [{ id: a, batch: 'pass' as const, single: 'fail' as const, batchReason: 'all facts named', singleReason: 'one fact missing' }] };
    const text = textReport(r, calibration);
    expect(text).toContain(`disagree ${a}: batched pass (all facts named) / single fail (one fact missing)`);
  });

  it('lists the items that flipped since the previous run', () => {
    const before = [scored(a, { decision: expectedOf(a), facts: true }), scored(b, { decision: expectedOf(b), facts: false }), scored(c, { decision: expectedOf(c), facts: true })];
    const now = [scored(a, { decision: expectedOf(a) === 'yes' ? 'no' : 'yes', facts: true }), scored(b, { decision: expectedOf(b), facts: true }), { id: c, status: 'failed' as const, error: 'E', reason: 'r' }];
    const r = computeReport(run, bench, now, { runId: 'r1', items: before });
    expect(r.flips).toEqual({ previousRunId: 'r1', fixed: [b], broke: [a], nowFailed: [c] });
  });
});

describe("the judge's answer", () => {
  const items = [
    { id: 'x1', expected: ['a'], predicted: 'a' },
    { id: 'x2', expected: ['b'], predicted: 'c' },
  ];
  it('accepts one verdict per id', () => {
    expect(validateVerdicts(items, { verdicts: [{ id: 'x2', verdict: 'fail', reason: 'r' }, { id: 'x1', verdict: 'pass', reason: 'r' }] })).toHaveLength(2);
  });
  it('refuses missing, repeated and unknown ids, naming them', () => {
    expect(() => validateVerdicts(items, { verdicts: [{ id: 'x1', verdict: 'pass', reason: 'r' }, { id: 'x1', verdict: 'pass', reason: 'r' }, { id: 'x9', verdict: 'fail', reason: 'r' }] })).toThrow(
      new JudgeAnswerError("the judge's answer is not one verdict per id: missing x2; repeated x1; unknown x9"),
    );
    expect(() => validateVerdicts(items, { verdicts: [{ id: 'x1', verdict: 'maybe', reason: '' }] })).toThrow(/does not match the schema: verdicts\.0\.verdict/);
  });
});

describe("Cohen's kappa", () => {
  it('matches a hand-computed value and its limits', () => {
    // observed 0.75; chance 0.5·0.25 + 0.5·0.75 = 0.5; kappa (0.75 − 0.5)/(1 − 0.5) = 0.5
    expect(cohensKappa(['pass', 'pass', 'fail', 'fail'], ['pass', 'fail', 'fail', 'fail'])).toBeCloseTo(0.5, 10);
    expect(cohensKappa(['pass', 'fail'], ['pass', 'fail'])).toBe(1);
    expect(cohensKappa(['pass', 'fail'], ['fail', 'pass'])).toBe(-1);
    expect(cohensKappa(['pass', 'pass'], ['pass', 'pass'])).toBeNull();
  });
});
