/**
 * The improve function's work: each Task state of the `improve` state machine (statemachines/improve.asl.json)
 * invokes it with a `step`. The loop's steps are in steps.ts; here the run is recorded (listed by
 * `sluice improve --runs`), the improved version pushed to the registry when the run ends, and promoted — by
 * the Promote state with `autoPromote`, else by `sluice improve approve` while the execution waits on its task token.
 * Only a version whose edits passed the validation gate is ever pushed, so nothing that failed it can be activated.
 */
import * as z from 'zod';
import { type ProfileSource, type VersionRegistry, activate, pushProfile } from '../profiles/registry.ts';
import type { Benchmark } from '../scoring/benchmark.ts';
import type { ScoreStore } from '../scoring/score-store.ts';
import { newRunId } from '../scoring/score-steps.ts';
import { reportOf } from './loop.ts';
import { type StepDeps, createImproveSteps } from './steps.ts';

export const improveInputSchema = z
  .object({
    benchmark: z.string().min(1),
    runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
    target: z.number().min(0).max(1).optional(),
    maxLoops: z.int().min(1).max(20).default(3),
    seed: z.int().min(0).default(1),
    proposer: z.enum(['offline', 'llm']).default('offline'),
    budgetCalls: z.int().min(1).default(20),
    /** The LLM proposer's estimated spend at most, in USD (tokens at SLUICE_PRICE_PER_1K_*_TOKENS). */
    budgetUsd: z.number().positive().optional(),
    /** Activate the improved version at once (it passed the gate); else the execution waits for approve or reject. */
    autoPromote: z.boolean().default(false),
  })
  .strict();
export type ImproveInput = z.input<typeof improveInputSchema>;

export const improveTaskSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('prepare'), input: z.unknown() }),
  z.object({ step: z.literal('propose'), runId: z.string() }),
  z.object({ step: z.literal('try'), runId: z.string(), loop: z.int().min(1), index: z.int().min(0) }),
  z.object({ step: z.literal('settle'), runId: z.string() }),
  z.object({ step: z.literal('finish'), runId: z.string() }),
  z.object({ step: z.literal('promote'), runId: z.string() }),
  z.object({ step: z.literal('awaitApproval'), runId: z.string(), taskToken: z.string().min(1) }),
]);

/** The input or a task is not what the state machine sends: not retried, the execution fails with this message. */
export class ImproveInputError extends Error {
  override name = 'ImproveInputError';
}

/** Run statuses: RUNNING → NOTHING_TO_PROMOTE, or CANDIDATE → PROMOTED (auto) or AWAITING_APPROVAL → APPROVED | REJECTED. */
export type ImproveStatus = 'RUNNING' | 'NOTHING_TO_PROMOTE' | 'CANDIDATE' | 'PROMOTED' | 'AWAITING_APPROVAL' | 'APPROVED' | 'REJECTED';

export interface ImproveTaskDeps extends Omit<StepDeps, 'onProgress'> {
  runs: ScoreStore;
  registry: VersionRegistry;
  profiles: ProfileSource;
  benchmark: (name: string) => Benchmark | Promise<Benchmark>;
  now?: () => Date;
  log?: (message: string, data: Record<string, unknown>) => void;
}

export function createImproveTask(deps: ImproveTaskDeps) {
  const now = deps.now ?? (() => new Date());
  const steps = createImproveSteps({ ...deps, onProgress: (runId, message) => deps.log?.('improve', { runId, message }) });
  const runOf = async (runId: string) => {
    const run = await deps.runs.getImproveRun(runId);
    if (!run) throw new ImproveInputError(`no improvement run ${runId}`);
    return run;
  };
  return async (event: unknown): Promise<unknown> => {
    const parsed = improveTaskSchema.safeParse(event);
    if (!parsed.success) throw new ImproveInputError(`not an improve task: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`);
    const t = parsed.data;
    switch (t.step) {
      case 'prepare': {
        const input = improveInputSchema.safeParse(t.input);
        if (!input.success) throw new ImproveInputError(`improve input: ${input.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`);
        const o = input.data;
        let b: Benchmark;
        try {
          b = await deps.benchmark(o.benchmark);
        } catch (err) {
          throw new ImproveInputError((err as Error).message);
        }
        const start = await deps.profiles.active(b.config.profile);
        const runId = o.runId ?? newRunId(now());
        if (!(await deps.runs.getImproveRun(runId))) {
          await deps.runs.putImproveRun({ runId, benchmark: b.name, profile: start.name, startedAt: now().toISOString(), status: 'RUNNING', proposer: o.proposer, autoPromote: o.autoPromote, versions: { start: start.version } });
        }
        const settings = { field: 'decision', seed: o.seed, minGain: 0.02, maxDrop: 0.02, maxLoops: o.maxLoops, ...(o.target !== undefined ? { target: o.target } : {}), proposer: o.proposer, budgetCalls: o.budgetCalls, ...(o.budgetUsd !== undefined ? { budgetUsd: o.budgetUsd } : {}), concurrency: 4 };
        await steps.prepare({ runId, benchmark: b.name, start: start.data, settings });
        return { runId, autoPromote: o.autoPromote };
      }
      case 'propose':
        return steps.propose(t.runId);
      case 'try':
        return steps.tryCandidate(t.runId, t.loop, t.index);
      case 'settle':
        return steps.settle(t.runId);
      case 'finish': {
        const state = await steps.finish(t.runId);
        const report = reportOf(state, await deps.benchmark(state.benchmark));
        const { data: final, ...figures } = report;
        // The improved version goes to the registry, not active: promotion is the next state's (or a person's).
        const version = report.improved ? (await pushProfile(deps.registry, state.profile, final, `improve ${t.runId}`)).version : undefined;
        const status: ImproveStatus = report.improved ? 'CANDIDATE' : 'NOTHING_TO_PROMOTE';
        await deps.runs.updateImproveRun(t.runId, { ...figures, status, finishedAt: now().toISOString(), ...(version ? { candidate: version } : {}), proposerCalls: state.proposerCalls, proposerCostUsd: Math.round((state.proposerCostUsd ?? 0) * 1e6) / 1e6 });
        return { improved: report.improved, version: version ?? null };
      }
      case 'promote': {
        const run = await runOf(t.runId);
        if (run.status === 'PROMOTED') return { promoted: run.candidate };
        if (run.status !== 'CANDIDATE') throw new ImproveInputError(`run ${t.runId} is ${String(run.status)}: nothing to promote`);
        await activate(deps.registry, 'profile', String(run.profile), String(run.candidate), `improve ${t.runId}`, (await deps.profiles.at(String(run.profile), undefined)).version);
        await deps.runs.updateImproveRun(t.runId, { status: 'PROMOTED', promotedAt: now().toISOString() }, 'CANDIDATE');
        return { promoted: run.candidate };
      }
      case 'awaitApproval': {
        const run = await runOf(t.runId);
        if (run.status === 'AWAITING_APPROVAL' && run.taskToken === t.taskToken) return {};
        // A new attempt of the waiting state brings a new token: the run waits on that one.
        const from = run.status === 'AWAITING_APPROVAL' ? 'AWAITING_APPROVAL' : 'CANDIDATE';
        if ((await deps.runs.updateImproveRun(t.runId, { status: 'AWAITING_APPROVAL', taskToken: t.taskToken }, from)) === 'conflict') {
          throw new ImproveInputError(`run ${t.runId} is ${String(run.status)}, not a candidate awaiting approval`);
        }
        return {};
      }
    }
  };
}

/**
 * `sluice improve approve|reject RUN`: the decision on a run awaiting approval. Approving activates its version
 * (idempotent: a retried approve activates nothing twice) and then tells the waiting execution.
 * @returns the run's version and the version it replaced, or refuses with the run's status.
 */
export async function decideRun(
  deps: { runs: ScoreStore; registry: VersionRegistry; base: (profile: string) => Promise<string>; sendTaskOutcome: (token: string, outcome: Record<string, unknown>) => Promise<void>; now?: () => Date },
  runId: string,
  decision: 'approved' | 'rejected',
): Promise<{ status: ImproveStatus; version: string; previous?: string }> {
  const now = deps.now ?? (() => new Date());
  const run = await deps.runs.getImproveRun(runId);
  if (!run) throw new ImproveInputError(`no improvement run ${runId} (see \`sluice improve BENCHMARK --runs\`)`);
  const target: ImproveStatus = decision === 'approved' ? 'APPROVED' : 'REJECTED';
  if (run.status !== 'AWAITING_APPROVAL' && run.status !== target) throw new ImproveInputError(`run ${runId} is ${String(run.status)}, not awaiting approval`);
  let previous: string | undefined;
  if (decision === 'approved') {
    previous = (await activate(deps.registry, 'profile', String(run.profile), String(run.candidate), `approve ${runId}`, await deps.base(String(run.profile)))).previous;
  }
  if (run.status === 'AWAITING_APPROVAL') await deps.runs.updateImproveRun(runId, { status: target, decidedAt: now().toISOString() }, 'AWAITING_APPROVAL');
  await deps.sendTaskOutcome(String(run.taskToken), { decision });
  return { status: target, version: String(run.candidate), ...(previous ? { previous } : {}) };
}
