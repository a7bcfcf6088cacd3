/**
 * Judge calibration: the same items judged in batches and one at a time, and how far the two agree —
 * raw agreement and Cohen's kappa (agreement beyond what the verdicts' base rates give by chance) —
 * so batching's effect on the verdicts is measured instead of assumed.
 */
import type { Benchmark } from './benchmark.ts';
import type { Judge, JudgeInput, JudgeOptions } from './judge.ts';
import { judgeInput } from './score-item.ts';
import type { ScoreItemRecord } from './score-store.ts';

type Verdict = 'pass' | 'fail';

/** Cohen's kappa of two raters' pass/fail verdicts; null when chance agreement is total (both raters constant and equal). */
export function cohensKappa(a: Verdict[], b: Verdict[]): number | null {
  if (a.length !== b.length || !a.length) throw new Error('kappa needs two equally long, non-empty lists of verdicts');
  const n = a.length;
  const observed = a.filter((v, i) => v === b[i]).length / n;
  const passA = a.filter((v) => v === 'pass').length / n;
  const passB = b.filter((v) => v === 'pass').length / n;
  const chance = passA * passB + (1 - passA) * (1 - passB);
  if (chance === 1) return null;
  return (observed - chance) / (1 - chance);
}

export interface Calibration {
  items: number;
  /** Items both ways produced a verdict for (a batch whose answer was invalid leaves its items out). */
  compared: number;
  agreement: number | null;
  kappa: number | null;
  batchCalls: number;
  singleCalls: number;
  batchErrors: string[];
  singleErrors: string[];
  disagreements: Array<{ id: string; batch: Verdict; single: Verdict; batchReason: string; singleReason: string }>;
}

/** The first `n` judged items of a run, as the judge saw them. */
export function calibrationInputs(b: Benchmark, records: ScoreItemRecord[], n: number): JudgeInput[] {
  const items = new Map(b.items.map((i) => [i.id, i]));
  const order = new Map(b.items.map((i, k) => [i.id, k]));
  return records
    .filter((r) => r.status === 'scored' && r.needsJudge && r.prediction)
    .sort((x, y) => order.get(x.id)! - order.get(y.id)!)
    .slice(0, n)
    .map((r) => judgeInput(b, items.get(r.id)!, r.prediction!));
}

export async function calibrate(judge: Judge, inputs: JudgeInput[], o: { batchSize: number } & JudgeOptions): Promise<Calibration> {
  const { batchSize: _b, ...opts } = o;
  const batched = new Map<string, { verdict: Verdict; reason: string }>();
  const batchErrors: string[] = [];
  let batchCalls = 0;
  for (let i = 0; i < inputs.length; i += o.batchSize) {
    const chunk = inputs.slice(i, i + o.batchSize);
    batchCalls += 1;
    try {
      for (const v of await judge.judge(chunk, opts)) batched.set(v.id, v);
    } catch (err) {
      batchErrors.push(`${chunk[0]!.id}…: ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
  const single = new Map<string, { verdict: Verdict; reason: string }>();
  const singleErrors: string[] = [];
  for (const input of inputs) {
    try {
      const [v] = await judge.judge([input], opts);
      if (v) single.set(v.id, v);
    } catch (err) {
      singleErrors.push(`${input.id}: ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
  const both = inputs.filter((i) => batched.has(i.id) && single.has(i.id));
  const a = both.map((i) => batched.get(i.id)!.verdict);
  const b = both.map((i) => single.get(i.id)!.verdict);
  return {
    items: inputs.length,
    compared: both.length,
    agreement: both.length ? a.filter((v, k) => v === b[k]).length / both.length : null,
    kappa: both.length ? cohensKappa(a, b) : null,
    batchCalls,
    singleCalls: inputs.length,
    batchErrors,
    singleErrors,
    disagreements: both
      .filter((i) => batched.get(i.id)!.verdict !== single.get(i.id)!.verdict)
      .map((i) => ({ id: i.id, batch: batched.get(i.id)!.verdict, single: single.get(i.id)!.verdict, batchReason: batched.get(i.id)!.reason, singleReason: single.get(i.id)!.reason })),
  };
}
