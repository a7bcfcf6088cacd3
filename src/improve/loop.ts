/**
 * The improvement loop, in-process: score the current version on train, cluster its failures, propose typed
 * edits per category, try each as a candidate on validation, keep those whose accuracy on their category's field
 * gains more than max(minGain, the run-to-run spread) with no field or tag falling by more than maxDrop, combine the kept ones and check the
 * combination again, and repeat until the target, the loop limit or nothing is kept. Test is scored only at
 * the end, start against final, with a paired bootstrap interval of the gain.
 */
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import { type Profile, compileProfile, profileVersion } from '../profiles/profile.ts';
import type { Benchmark } from '../scoring/benchmark.ts';
import type { Edit, ProfileData } from './edits.ts';
import type { Evaluation } from './evaluate.ts';
import { clusterFailures } from './failures.ts';
import { type Split, splitItems } from './splits.ts';
import { type LoopRecord, type Proposal, type RunSettings, type RunState, createImproveSteps, memoryRunStates, pairedBootstrap } from './steps.ts';

export type { LoopRecord, Proposal, Tried } from './steps.ts';

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
  const settings: RunSettings = {
    field: o.field ?? 'decision',
    seed: o.seed ?? 1,
    minGain: o.minGain ?? 0.02,
    maxDrop: o.maxDrop ?? 0.02,
    maxLoops: o.maxLoops ?? 3,
    ...(o.target !== undefined ? { target: o.target } : {}),
    proposer: o.budgetSpent ? 'llm' : 'offline',
    budgetCalls: o.budgetSpent ? Number.MAX_SAFE_INTEGER : 0,
    concurrency: o.concurrency ?? 4,
  };
  const states = memoryRunStates();
  const steps = createImproveSteps({
    states,
    benchmark: () => b,
    provider: o.provider,
    // The caller's proposer; its budget is its own (`budgetSpent`), checked before each loop.
    proposer: () => ({ propose: o.propose, calls: 0 }),
    onProgress: (_, m) => o.onProgress?.(m),
  });
  const runId = 'in-process';
  await steps.prepare({ runId, benchmark: b.name, start: o.data, settings });
  for (;;) {
    if (o.budgetSpent?.()) {
      const s = (await states.getState(runId))!;
      o.onProgress?.('the proposer has spent its budget; stopping');
      await states.putState({ ...s, stopped: 'budget' });
    }
    const p = await steps.propose(runId);
    if (p.done) break;
    for (const c of p.candidates) await steps.tryCandidate(runId, p.loop, c.index);
    if ((await steps.settle(runId)).done) {
      const s = (await states.getState(runId))!;
      if (s.stopped === 'nothingKept' && o.budgetSpent?.()) await states.putState({ ...s, stopped: 'budget' });
      break;
    }
  }
  return reportOf(await steps.finish(runId), b);
}

/** The report of a finished run. */
export function reportOf(s: RunState, b: Benchmark): ImproveReport {
  const splits = splitItems(b.items, { seed: s.seed });
  const version = (d: ProfileData) => profileVersion(d.profile, d.rules, d.prompt);
  return {
    benchmark: s.benchmark,
    profile: s.profile,
    field: s.field,
    seed: s.seed,
    splits: { train: splits.train.map((i) => i.id), validation: splits.validation.map((i) => i.id), test: splits.test.map((i) => i.id) },
    loops: s.loops,
    start: { train: s.startAccuracy.train, validation: s.startAccuracy.validation, test: s.test!.start },
    final: { train: s.train, validation: s.validation.accuracy, test: s.test!.final },
    testGain: s.testGain!,
    edits: s.accepted,
    stopped: s.stopped ?? 'maxLoops',
    versions: { start: version(s.start), final: version(s.current) },
    improved: s.accepted.length > 0,
    data: s.current,
  };
}

export { pairedBootstrap };
