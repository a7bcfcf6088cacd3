/**
 * The improvement loop as the `improve` state machine's steps (statemachines/improve.asl.json): prepare (score the
 * start on train and validation, twice for the spread) → propose (cluster the train failures, one proposal list
 * per loop) → try each candidate on validation (a Map, bounded concurrency) → settle (keep, combine, check again)
 * → … → finish (test, start against final, with its bootstrap interval). `improve()` in loop.ts drives the same
 * steps in one process.
 *
 * Each step reads the run's state, does its work and writes it back; a step run twice (a retry after a crash
 * between its work and its reply) finds its own result and returns it, so nothing is proposed, tried or
 * counted twice.
 */
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import { prng } from '../domain/random.ts';
import { type Profile, type ProfileData, compileProfile } from '../profiles/profile.ts';
import type { Benchmark } from '../scoring/benchmark.ts';
import { type Edit, applyEdit, describeEdit } from './edits.ts';
import { type Evaluation, evaluate, worstDrop } from './evaluate.ts';
import { type FailureCategory, clusterFailures } from './failures.ts';
import { type Split, splitItems } from './splits.ts';

/** An edit proposed for a category, or a proposal refused before it could be tried (with the reason). */
export type Proposal = { category: string; edit: Edit; rejected?: undefined } | { category: string; rejected: string; edit?: undefined };

export interface Tried {
  category: string;
  edit?: Edit;
  description: string;
  status: 'kept' | 'rejected' | 'invalid';
  /** Validation accuracy gain, on the field of the edit's category or the loop's (the larger), over the loop's current version. */
  gain?: number;
  drop?: { drop: number; where: string };
  reason: string;
  /** Too small a gain alone, but it fixed a validation item and broke none: tried again with the others like it. */
  weak?: boolean;
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

export type Stopped = 'target' | 'maxLoops' | 'nothingKept' | 'budget';

/** What a run is asked to do (the state machine's input, less its benchmark's data). */
export interface RunSettings {
  field: string;
  seed: number;
  minGain: number;
  maxDrop: number;
  maxLoops: number;
  target?: number;
  proposer: 'offline' | 'llm';
  budgetCalls: number;
  /** The proposer's estimated spend at most (USD); the loops stop once it is reached. */
  budgetUsd?: number;
  concurrency: number;
}

export interface RunState extends RunSettings {
  runId: string;
  benchmark: string;
  /** The benchmark's version the run learns from and is judged on. */
  benchmarkVersion?: string;
  profile: string;
  threshold: number;
  start: ProfileData;
  current: ProfileData;
  startAccuracy: { train: Record<string, number>; validation: Record<string, number> };
  train: Record<string, number>;
  validation: Evaluation;
  loops: LoopRecord[];
  accepted: Edit[];
  proposerCalls: number;
  /** The proposer's estimated spend so far (USD). */
  proposerCostUsd?: number;
  /** The loop whose proposals are stored (set by propose, cleared by settle). */
  proposing?: { loop: number; proposals: Proposal[]; categories: LoopRecord['categories'] };
  stopped?: Stopped;
  testGain?: { gain: number; low: number; high: number };
  test?: { start: Record<string, number>; final: Record<string, number> };
}

/** A tried candidate as its Map iteration stores it (its validation evaluation when it was kept). */
export interface TriedRecord extends Tried {
  evaluation?: Evaluation;
}

/** Items right on a field after and not before, and none the worse (fixed); wrong on a field after and right before (broken). */
function movedItems(before: Evaluation, after: Evaluation): { fixed: number; broken: number } {
  const was = new Map(before.items.map((i) => [i.id, new Map(i.verdicts.map((v) => [v.field, v.correct]))]));
  let fixed = 0;
  let broken = 0;
  for (const i of after.items) {
    const prior = was.get(i.id);
    if (i.verdicts.some((v) => !v.correct && prior?.get(v.field))) broken += 1;
    else if (i.verdicts.some((v) => v.correct && prior?.get(v.field) === false)) fixed += 1;
  }
  return { fixed, broken };
}

/** Where a run's state and its tried candidates are kept between steps (the config bucket, or memory). */
export interface RunStateStore {
  getState(runId: string): Promise<RunState | undefined>;
  putState(state: RunState): Promise<void>;
  putTried(runId: string, loop: number, index: number, tried: TriedRecord): Promise<void>;
  getTried(runId: string, loop: number, index: number): Promise<TriedRecord | undefined>;
}

export interface Proposer {
  propose(ctx: { data: ProfileData; profile: Profile; train: Evaluation; categories: FailureCategory[] }): Promise<Proposal[]>;
  readonly calls: number;
  readonly costUsd?: number;
}

export interface StepDeps {
  states: RunStateStore;
  /** The benchmark by name: the registry's active version deployed (`sluice benchmark push`), else the bundle's. */
  benchmark: (name: string) => Benchmark | Promise<Benchmark>;
  provider: EnrichmentProvider;
  /** A proposer of the kind asked for, allowed `calls` more LLM calls and `usd` more estimated spend. */
  proposer: (kind: RunSettings['proposer'], calls: number, usd?: number) => Proposer;
  onProgress?: (runId: string, message: string) => void;
}

export class ImproveStateError extends Error {
  override name = 'ImproveStateError';
}

const pct = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;
const overSpend = (s: RunState) => s.budgetUsd !== undefined && (s.proposerCostUsd ?? 0) >= s.budgetUsd;

export function createImproveSteps(deps: StepDeps) {
  const say = (runId: string, m: string) => deps.onProgress?.(runId, m);
  const load = async (runId: string) => {
    const s = await deps.states.getState(runId);
    if (!s) throw new ImproveStateError(`no improvement run ${runId}`);
    return s;
  };
  /** The run's benchmark: the version it started with (a run never mixes two). */
  const benchmarkOf = async (s: Pick<RunState, 'benchmark'> & { benchmarkVersion?: string }) => {
    const b = await deps.benchmark(s.benchmark);
    if (s.benchmarkVersion && b.version !== s.benchmarkVersion) throw new ImproveStateError(`benchmark ${s.benchmark} changed during the run (${s.benchmarkVersion} → ${b.version}); start a new run`);
    return b;
  };
  const compile = (name: string, data: ProfileData) => compileProfile(name, `improve candidate of ${name}`, data.profile, data.rules, data.prompt);
  const score = async (s: Pick<RunState, 'benchmark' | 'benchmarkVersion' | 'seed' | 'profile' | 'concurrency'>, data: ProfileData, split: Split) => {
    const b = await benchmarkOf(s);
    return evaluate(compile(s.profile, data), b.config, splitItems(b.items, { seed: s.seed })[split], deps.provider, s.concurrency);
  };

  return {
    /** Scores the starting version on train and validation (validation twice: the run-to-run spread sets the gate). */
    async prepare(o: { runId: string; benchmark: string; start: ProfileData; settings: RunSettings }): Promise<{ runId: string }> {
      const existing = await deps.states.getState(o.runId);
      if (existing) return { runId: o.runId };
      const b = await deps.benchmark(o.benchmark);
      const base = { runId: o.runId, benchmark: b.name, benchmarkVersion: b.version, profile: b.config.profile, ...o.settings };
      const train = await score(base, o.start, 'train');
      const validation = await score(base, o.start, 'validation');
      const again = await score(base, o.start, 'validation');
      const f = o.settings.field;
      const spread = Math.abs((again.accuracy[f] ?? 0) - (validation.accuracy[f] ?? 0));
      const threshold = Math.max(o.settings.minGain, spread);
      say(o.runId, `start: train ${pct(train.accuracy[f])}, validation ${pct(validation.accuracy[f])} ${f}; a candidate must gain > ${pct(threshold)} on validation`);
      await deps.states.putState({
        ...base,
        threshold,
        start: o.start,
        current: o.start,
        startAccuracy: { train: train.accuracy, validation: validation.accuracy },
        train: train.accuracy,
        validation,
        loops: [],
        accepted: [],
        proposerCalls: 0,
      });
      return { runId: o.runId };
    },

    /** The next loop's proposals (stored), or why the loops end. */
    async propose(runId: string): Promise<{ runId: string; loop: number; done: boolean; candidates: Array<{ index: number }> }> {
      const s = await load(runId);
      const loop = s.loops.length + 1;
      const reply = (p: Proposal[]) => ({ runId, loop, done: false, candidates: p.map((_, index) => ({ index })) });
      if (s.stopped) return { runId, loop, done: true, candidates: [] };
      if (s.proposing?.loop === loop) return reply(s.proposing.proposals);
      const stop = async (why: Stopped, message: string) => {
        say(runId, message);
        await deps.states.putState({ ...s, stopped: why });
        return { runId, loop, done: true, candidates: [] };
      };
      if (loop > s.maxLoops) return stop('maxLoops', `the loop limit (${s.maxLoops}) is reached`);
      if (s.target !== undefined && (s.train[s.field] ?? 0) >= s.target) return stop('target', `target ${pct(s.target)} reached on train`);
      if (s.proposer === 'llm' && (s.proposerCalls >= s.budgetCalls || overSpend(s))) return stop('budget', `the proposer has spent its budget (${s.proposerCalls} calls, about $${(s.proposerCostUsd ?? 0).toFixed(4)}); stopping`);
      const train = await score(s, s.current, 'train');
      const categories = clusterFailures(train);
      const proposer = deps.proposer(s.proposer, s.budgetCalls - s.proposerCalls, s.budgetUsd === undefined ? undefined : s.budgetUsd - (s.proposerCostUsd ?? 0));
      const proposals = await proposer.propose({ data: s.current, profile: compile(s.profile, s.current), train, categories });
      say(runId, `loop ${loop}: ${categories.reduce((n, c) => n + c.count, 0)} failures in ${categories.length} categories, ${proposals.length} edits proposed`);
      await deps.states.putState({
        ...s,
        proposerCalls: s.proposerCalls + proposer.calls,
        proposerCostUsd: (s.proposerCostUsd ?? 0) + (proposer.costUsd ?? 0),
        proposing: { loop, proposals, categories: categories.map((c) => ({ key: c.key, count: c.count, examples: c.items.slice(0, 5).map((i) => i.id) })) },
      });
      return reply(proposals);
    },

    /** One candidate: the edit applied to the current version, scored on validation, kept or rejected with the reason. */
    async tryCandidate(runId: string, loop: number, index: number): Promise<{ index: number; status: Tried['status'] }> {
      const done = await deps.states.getTried(runId, loop, index);
      if (done) return { index, status: done.status };
      const s = await load(runId);
      const p = s.proposing?.loop === loop ? s.proposing.proposals[index] : undefined;
      if (!p) throw new ImproveStateError(`run ${runId}: loop ${loop} has no proposal ${index}`);
      const record = await tryOne(s, p);
      await deps.states.putTried(runId, loop, index, record);
      return { index, status: record.status };
    },

    /** The loop's outcome: the kept edits combined (checked again), else the best alone; the next loop or the end. */
    async settle(runId: string): Promise<{ runId: string; done: boolean }> {
      const s = await load(runId);
      if (!s.proposing) return { runId, done: Boolean(s.stopped) };
      const { loop, proposals, categories } = s.proposing;
      const tried: TriedRecord[] = [];
      for (let i = 0; i < proposals.length; i++) {
        // A candidate whose iteration failed after its retries is tried here, once more.
        tried.push((await deps.states.getTried(runId, loop, i)) ?? (await tryOne(s, proposals[i]!)));
      }
      const kept = tried.filter((t) => t.status === 'kept').sort((a, b) => b.gain! - a.gain!);
      let next: { data: ProfileData; evaluation: Evaluation; edits: Edit[] } | undefined;
      // Edits that each fixed a validation item and broke none, too few alone to pass the gate, are tried together
      // (with the kept ones) as one candidate, which must pass the gate like any other: on 79 validation items one
      // item is 1.3 points, and a cause's missing words ("damp", "dripped", "meter") each fix one.
      const weak = tried.filter((t) => t.weak);
      if (weak.length > 1) {
        const together = applyAll(s.current, [...kept, ...weak]);
        const e = await score(s, together.data, 'validation');
        const gain = (e.accuracy[s.field] ?? 0) - (s.validation.accuracy[s.field] ?? 0);
        const drop = worstDrop(s.validation, e);
        const onTrain = gain > s.threshold && drop.drop <= s.maxDrop ? ((await score(s, together.data, 'train')).accuracy[s.field] ?? 0) : undefined;
        const passed = onTrain !== undefined && onTrain >= (s.train[s.field] ?? 0) && e.weighted >= Math.max(0, ...kept.map((k) => k.evaluation!.weighted));
        say(runId, `loop ${loop}: ${weak.length} edits too small alone, tried together${kept.length ? ` with the ${kept.length} kept` : ''}: ${s.field} ${gain >= 0 ? '+' : ''}${pct(gain)} on validation${passed ? ', accepted' : ''}`);
        if (passed) {
          next = { data: together.data, evaluation: e, edits: together.edits };
          for (const w of weak) {
            w.status = 'kept';
            w.reason = `${w.reason} alone; kept with ${weak.length - 1 + kept.length} others: together ${s.field} gains ${pct(gain)} on validation, none broken alone, nothing falls more than ${pct(s.maxDrop)}`;
          }
        }
      }
      if (kept.length && !next) {
        const combined = applyAll(s.current, kept);
        const e = await score(s, combined.data, 'validation');
        const best = kept[0]!;
        next =
          e.weighted >= best.evaluation!.weighted && worstDrop(s.validation, e).drop <= s.maxDrop
            ? { data: combined.data, evaluation: e, edits: combined.edits }
            : { data: applyEdit(s.current, best.edit!), evaluation: best.evaluation!, edits: [best.edit!] };
      }
      const record: LoopRecord = { loop, train: s.train, validation: s.validation.accuracy, categories, tried: tried.map(({ evaluation: _e, ...t }) => t), accepted: next?.edits ?? [] };
      if (!next) {
        say(runId, `loop ${loop}: no edit passed the gate; stopping`);
        const stopped: Stopped = s.proposer === 'llm' && (s.proposerCalls >= s.budgetCalls || overSpend(s)) ? 'budget' : 'nothingKept';
        await deps.states.putState({ ...s, proposing: undefined, loops: [...s.loops, record], stopped });
        return { runId, done: true };
      }
      const train = await score(s, next.data, 'train');
      say(runId, `loop ${loop}: ${next.edits.length} edits accepted; train ${pct(train.accuracy[s.field])}, validation ${pct(next.evaluation.accuracy[s.field])} ${s.field}`);
      await deps.states.putState({ ...s, proposing: undefined, loops: [...s.loops, record], current: next.data, validation: next.evaluation, train: train.accuracy, accepted: [...s.accepted, ...next.edits] });
      return { runId, done: false };
    },

    /** Test, scored only now: start against final, with a paired bootstrap interval of the gain. */
    async finish(runId: string): Promise<RunState> {
      const s = await load(runId);
      if (s.test) return s;
      const startTest = await score(s, s.start, 'test');
      const finalTest = await score(s, s.current, 'test');
      const done = { ...s, stopped: s.stopped ?? 'maxLoops', test: { start: startTest.accuracy, final: finalTest.accuracy }, testGain: pairedBootstrap(startTest, finalTest, s.field, s.seed) };
      await deps.states.putState(done);
      return done;
    },
  };

  async function tryOne(s: RunState, p: Proposal): Promise<TriedRecord> {
    if (p.rejected !== undefined) return { category: p.category, description: 'a proposal that is not an edit', status: 'invalid', reason: p.rejected };
    const description = describeEdit(p.edit);
    let candidate: ProfileData;
    try {
      candidate = applyEdit(s.current, p.edit);
      compile(s.profile, candidate);
    } catch (err) {
      return { category: p.category, edit: p.edit, description, status: 'invalid', reason: (err as Error).message };
    }
    const e = await score(s, candidate, 'validation');
    // Judged on the field its category is about (`category: BILLING → OTHER` on category) or the loop's own field,
    // whichever gains more (a cause keyword may fix decisions before it fixes two causes), the others guarded by the drop.
    const field = p.category.split(':')[0]!;
    const gainOn = (f: string) => (e.accuracy[f] ?? 0) - (s.validation.accuracy[f] ?? 0);
    const target = field in e.accuracy && gainOn(field) >= gainOn(s.field) ? field : s.field;
    const gain = gainOn(target);
    const drop = worstDrop(s.validation, e);
    // An edit mined from train must not lose there what it gains on validation: one that passed by chance among
    // many tried on the same validation items is caught here.
    const onTrain = gain > s.threshold && drop.drop <= s.maxDrop ? (await score(s, candidate, 'train')).accuracy[target] ?? 0 : undefined;
    const trainFalls = onTrain !== undefined && onTrain < (s.train[target] ?? 0);
    const ok = gain > s.threshold && drop.drop <= s.maxDrop && !trainFalls;
    const reason = ok
      ? `${target} gains ${pct(gain)} on validation`
      : gain <= s.threshold
        ? `${target} gains ${pct(gain)}, not more than ${pct(s.threshold)}`
        : trainFalls
          ? `${target} gains ${pct(gain)} on validation but falls ${pct((s.train[target] ?? 0) - onTrain!)} on train`
          : `${drop.where} falls ${pct(drop.drop)}`;
    const moved = ok || gain <= 0 ? undefined : movedItems(s.validation, e);
    const weak = moved !== undefined && gain <= s.threshold && moved.fixed > 0 && moved.broken === 0;
    return { category: p.category, edit: p.edit, description, status: ok ? 'kept' : 'rejected', gain, drop, reason, ...(ok ? { evaluation: e } : {}), ...(weak ? { weak } : {}) };
  }
}

/** Edits applied one after another; one that adds what an earlier one added is left out. */
function applyAll(data: ProfileData, tried: Tried[]): { data: ProfileData; edits: Edit[] } {
  const edits: Edit[] = [];
  for (const t of tried) {
    try {
      data = applyEdit(data, t.edit!);
      edits.push(t.edit!);
    } catch {
      // two edits adding the same thing: the second adds nothing
    }
  }
  return { data, edits };
}

/** A run's state kept in memory (the in-process loop, tests). */
export function memoryRunStates(): RunStateStore {
  const states = new Map<string, RunState>();
  const tried = new Map<string, TriedRecord>();
  return {
    getState: async (id) => structuredClone(states.get(id)),
    putState: async (s) => void states.set(s.runId, structuredClone(s)),
    putTried: async (id, loop, i, t) => void tried.set(`${id}/${loop}/${i}`, structuredClone(t)),
    getTried: async (id, loop, i) => structuredClone(tried.get(`${id}/${loop}/${i}`)),
  };
}

/** The gain in `field` accuracy from `a` to `b` on the same items, and a 95 % interval from 2,000 paired resamples. */
export function pairedBootstrap(a: Evaluation, b: Evaluation, field: string, seed: number): { gain: number; low: number; high: number } {
  const right = (e: Evaluation) => new Map(e.items.map((i) => [i.id, i.verdicts.find((v) => v.field === field)?.correct ? 1 : 0]));
  const ra = right(a);
  const rb = right(b);
  const diffs = a.items.map((i) => (rb.get(i.id) ?? 0) - (ra.get(i.id) ?? 0));
  const n = diffs.length;
  if (!n) return { gain: 0, low: 0, high: 0 };
  const gain = diffs.reduce((sum, d) => sum + d, 0) / n;
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

