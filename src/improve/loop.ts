/**
 * The improvement loop, in-process: score the current version on train, cluster its failures, propose typed
 * edits per category, try each as a candidate on validation, keep those whose accuracy on their category's field
 * gains more than max(minGain, the run-to-run spread) with no field or tag falling by more than maxDrop, combine the kept ones and check the
 * combination again, and repeat until the target, the loop limit or nothing is kept. Test is scored only at
 * the end, start against final, with a paired bootstrap interval of the gain.
 */
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import { prng } from '../domain/random.ts';
import { type Profile, compileProfile } from '../profiles/profile.ts';
import type { Benchmark } from '../scoring/benchmark.ts';
import { type Edit, type ProfileData, applyEdit, describeEdit } from './edits.ts';
import { type Evaluation, evaluate, worstDrop } from './evaluate.ts';
import { clusterFailures } from './failures.ts';
import { type Split, splitItems } from './splits.ts';

/** An edit proposed for a category, or a proposal refused before it could be tried (with the reason). */
export type Proposal = { category: string; edit: Edit; rejected?: undefined } | { category: string; rejected: string; edit?: undefined };

export interface Tried {
  category: string;
  edit?: Edit;
  description: string;
  status: 'kept' | 'rejected' | 'invalid';
  /** Validation accuracy gain, on the field of the edit's category, over the loop's current version. */
  gain?: number;
  drop?: { drop: number; where: string };
  reason: string;
}

export interface LoopRecord {
  loop: number;
  train: Record<string, number>;
  validation: Record<string, number>;
  categories: Array<{ key: string; count: number; examples: string[] }>;
  tried: Tried[];
  /** The edits this loop accepted (all kept ones combined, or the best one when the combination failed the gate). */
  accepted: Edit[];
}

export interface ImproveOptions {
  benchmark: Benchmark;
  /** The starting version's data and where its folder is (for error messages). */
  data: ProfileData;
  folder: string;
  provider: EnrichmentProvider;
  propose: (ctx: { data: ProfileData; profile: Profile; train: Evaluation; categories: ReturnType<typeof clusterFailures> }) => Promise<Proposal[]>;
  /** Stop once the train accuracy of `field` reaches it. */
  target?: number;
  field?: string;
  maxLoops?: number;
  minGain?: number;
  maxDrop?: number;
  seed?: number;
  concurrency?: number;
  /** The proposer has spent its budget: the loop stops before the next round of proposals. */
  budgetSpent?: () => boolean;
  onProgress?: (message: string) => void;
}

export interface ImproveReport {
  benchmark: string;
  profile: string;
  field: string;
  seed: number;
  splits: Record<Split, string[]>;
  loops: LoopRecord[];
  start: Record<Split, Record<string, number>>;
  final: Record<Split, Record<string, number>>;
  /** `field`'s accuracy gain on test, final over start, with its paired bootstrap 95 % interval. */
  testGain: { gain: number; low: number; high: number };
  edits: Edit[];
  /** Why the loops ended. */
  stopped: 'target' | 'maxLoops' | 'nothingKept' | 'budget';
  /** The profile's version (content hash) at the start and at the end. */
  versions: { start: string; final: string };
  /** Whether the final version differs from the start (a run that finds nothing better changes nothing). */
  improved: boolean;
  data: ProfileData;
}

/** Compiles a version's data into a profile, as `loadProfile` would from its folder. */
export function compile(name: string, folder: string, data: ProfileData): Profile {
  const profile = compileProfile(name, folder, data.profile, data.rules, data.prompt);
  return profile;
}

export async function improve(o: ImproveOptions): Promise<ImproveReport> {
  const b = o.benchmark;
  const field = o.field ?? 'decision';
  const seed = o.seed ?? 1;
  const minGain = o.minGain ?? 0.02;
  const maxDrop = o.maxDrop ?? 0.02;
  const say = o.onProgress ?? (() => undefined);
  const name = b.config.profile;
  const splits = splitItems(b.items, { seed });
  const score = (data: ProfileData, split: Split) => evaluate(compile(name, o.folder, data), b.config, splits[split], o.provider, o.concurrency);

  let current = o.data;
  const startEval = { train: await score(current, 'train'), validation: await score(current, 'validation') };
  // Run-to-run spread: the same version scored twice on validation (0 with a deterministic provider).
  const again = await score(current, 'validation');
  const spread = Math.abs((again.accuracy[field] ?? 0) - (startEval.validation.accuracy[field] ?? 0));
  const threshold = Math.max(minGain, spread);
  say(`start: train ${pct(startEval.train.accuracy[field])}, validation ${pct(startEval.validation.accuracy[field])} ${field}; a candidate must gain > ${pct(threshold)} on validation`);

  const loops: LoopRecord[] = [];
  const accepted: Edit[] = [];
  let train = startEval.train;
  let validation = startEval.validation;
  let stopped: ImproveReport['stopped'] = 'maxLoops';
  for (let loop = 1; loop <= (o.maxLoops ?? 3); loop++) {
    if (o.target !== undefined && (train.accuracy[field] ?? 0) >= o.target) {
      say(`target ${pct(o.target)} reached on train`);
      stopped = 'target';
      break;
    }
    if (o.budgetSpent?.()) {
      say('the proposer has spent its budget; stopping');
      stopped = 'budget';
      break;
    }
    const categories = clusterFailures(train);
    const profile = compile(name, o.folder, current);
    const proposals = await o.propose({ data: current, profile, train, categories });
    say(`loop ${loop}: ${categories.reduce((s, c) => s + c.count, 0)} failures in ${categories.length} categories, ${proposals.length} edits proposed`);
    const tried: Tried[] = [];
    const kept: Array<{ edit: Edit; gain: number; data: ProfileData; eval: Evaluation }> = [];
    for (const p of proposals) {
      if (p.rejected !== undefined) {
        tried.push({ category: p.category, description: 'a proposal that is not an edit', status: 'invalid', reason: p.rejected });
        continue;
      }
      const description = describeEdit(p.edit);
      let candidate: ProfileData;
      try {
        candidate = applyEdit(current, p.edit);
        compile(name, o.folder, candidate);
      } catch (err) {
        tried.push({ category: p.category, edit: p.edit, description, status: 'invalid', reason: (err as Error).message });
        continue;
      }
      const e = await score(candidate, 'validation');
      // Judged on the field its category is about (`category: BILLING → OTHER` on category), the others guarded by the drop.
      const target = p.category.split(':')[0]! in e.accuracy ? p.category.split(':')[0]! : field;
      const gain = (e.accuracy[target] ?? 0) - (validation.accuracy[target] ?? 0);
      const drop = worstDrop(validation, e);
      const ok = gain > threshold && drop.drop <= maxDrop;
      const reason = ok ? `${target} gains ${pct(gain)} on validation` : gain <= threshold ? `${target} gains ${pct(gain)}, not more than ${pct(threshold)}` : `${drop.where} falls ${pct(drop.drop)}`;
      tried.push({ category: p.category, edit: p.edit, description, status: ok ? 'kept' : 'rejected', gain, drop, reason });
      if (ok) kept.push({ edit: p.edit, gain, data: candidate, eval: e });
    }
    let acceptedNow: Edit[] = [];
    let next: { data: ProfileData; eval: Evaluation } | undefined;
    if (kept.length) {
      // All kept edits together, checked again; else the best one alone.
      let combined: ProfileData | undefined = current;
      const applied: Edit[] = [];
      for (const k of kept.sort((a, b) => b.gain - a.gain)) {
        try {
          combined = applyEdit(combined!, k.edit);
          applied.push(k.edit);
        } catch {
          // two edits adding the same thing: the second adds nothing
        }
      }
      const e = await score(combined!, 'validation');
      const best = kept[0]!;
      if (e.weighted >= best.eval.weighted && worstDrop(validation, e).drop <= maxDrop) {
        next = { data: combined!, eval: e };
        acceptedNow = applied;
      } else {
        next = { data: best.data, eval: best.eval };
        acceptedNow = [best.edit];
      }
    }
    loops.push({
      loop,
      train: train.accuracy,
      validation: validation.accuracy,
      categories: categories.map((c) => ({ key: c.key, count: c.count, examples: c.items.slice(0, 5).map((i) => i.id) })),
      tried,
      accepted: acceptedNow,
    });
    if (!next) {
      say(`loop ${loop}: no edit passed the gate; stopping`);
      stopped = o.budgetSpent?.() ? 'budget' : 'nothingKept';
      break;
    }
    current = next.data;
    validation = next.eval;
    train = await score(current, 'train');
    accepted.push(...acceptedNow);
    say(`loop ${loop}: ${acceptedNow.length} edits accepted; train ${pct(train.accuracy[field])}, validation ${pct(validation.accuracy[field])} ${field}`);
  }

  const startTest = await score(o.data, 'test');
  const finalTest = await score(current, 'test');
  return {
    benchmark: b.name,
    profile: name,
    field,
    seed,
    splits: { train: splits.train.map((i) => i.id), validation: splits.validation.map((i) => i.id), test: splits.test.map((i) => i.id) },
    loops,
    start: { train: startEval.train.accuracy, validation: startEval.validation.accuracy, test: startTest.accuracy },
    final: { train: train.accuracy, validation: validation.accuracy, test: finalTest.accuracy },
    testGain: pairedBootstrap(startTest, finalTest, field, seed),
    edits: accepted,
    stopped,
    versions: { start: compile(name, o.folder, o.data).version, final: compile(name, o.folder, current).version },
    improved: accepted.length > 0,
    data: current,
  };
}

const pct = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;

/** The gain in `field` accuracy from `a` to `b` on the same items, and a 95 % interval from 2,000 paired resamples. */
export function pairedBootstrap(a: Evaluation, b: Evaluation, field: string, seed: number): { gain: number; low: number; high: number } {
  const right = (e: Evaluation) => new Map(e.items.map((i) => [i.id, i.verdicts.find((v) => v.field === field)?.correct ? 1 : 0]));
  const ra = right(a);
  const rb = right(b);
  const diffs = a.items.map((i) => (rb.get(i.id) ?? 0) - (ra.get(i.id) ?? 0));
  const n = diffs.length;
  if (!n) return { gain: 0, low: 0, high: 0 };
  const gain = diffs.reduce((s, d) => s + d, 0) / n;
  const random = prng(seed);
  const means: number[] = [];
  for (let r = 0; r < 2000; r++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += diffs[Math.floor(random() * n)]!;
    means.push(sum / n);
  }
  means.sort((x, y) => x - y);
  return { gain, low: means[Math.floor(0.025 * means.length)]!, high: means[Math.floor(0.975 * means.length)]! };
}
