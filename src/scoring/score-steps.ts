/**
 * The work of each Task state of the scoring state machine (`statemachines/score.asl.json`). The state
 * carries ids and statuses only; predictions, verdicts, judgements and timings go to the score store as
 * each phase produces them, so the payload stays small whatever the benchmark's size.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import { type ProfileSource, bundledProfiles } from '../profiles/registry.ts';
import { type Benchmark, BenchmarkError, loadBenchmark } from './benchmark.ts';
import { type Judge, type JudgeInput, type JudgeOptions, judgeName } from './judge.ts';
import { type ScoreReport, computeReport, reportSummary } from './report.ts';
import { compareItem, judgeInput, predictItem } from './score-item.ts';
import type { ItemJudgement, ScoreRun, ScoreStore } from './score-store.ts';

export interface ScoreDeps {
  store: ScoreStore;
  provider: EnrichmentProvider;
  judge: Judge;
  /** The benchmark by name (the registry's active version); the bundled files when absent. */
  benchmark?: (name: string) => Benchmark | Promise<Benchmark>;
  /** The profiles (the active version at prepare, pinned for the run); the bundled ones when absent. */
  profiles?: ProfileSource;
  now?: () => number;
  log?: (message: string, data: Record<string, unknown>) => void;
}

/** What starts a score run (the state machine's input). */
export const scoreInputSchema = z
  .object({
    benchmark: z.string().min(1),
    /** Items predicted at once; the benchmark config's `scoring.predictConcurrency` (3) when absent. */
    maxConcurrency: z.int().min(1).max(40).optional(),
    /** One item at a time in every phase, and one item per judge call: the notebook baseline. */
    sequential: z.boolean().optional(),
    runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
    /** Score this version of the profile (pushed to the registry) instead of the active one. */
    profileVersion: z.string().regex(/^v-[0-9a-f]{12}$/).optional(),
  })
  .strict();
export type ScoreInput = z.infer<typeof scoreInputSchema>;

const ids = z.array(z.string().min(1));
const resultSchema = z.object({ id: z.string(), status: z.string(), error: z.string().optional(), reason: z.string().optional(), needsJudge: z.boolean().optional() });
export const scoreTaskSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('prepare'), input: z.unknown() }),
  z.object({ step: z.literal('predict'), runId: z.string(), benchmark: z.string(), profileVersion: z.string().optional(), id: z.string() }),
  z.object({ step: z.literal('compare'), runId: z.string(), benchmark: z.string(), profileVersion: z.string().optional(), result: resultSchema }),
  z.object({ step: z.literal('planJudge'), runId: z.string(), results: z.array(resultSchema), batchSize: z.int().min(1) }),
  z.object({ step: z.literal('judgeChunk'), runId: z.string(), benchmark: z.string(), ids }),
  z.object({ step: z.literal('judgeItem'), runId: z.string(), benchmark: z.string(), id: z.string(), chunkError: z.string() }),
  z.object({ step: z.literal('judgeFallback'), runId: z.string(), id: z.string(), reason: z.string() }),
  z.object({ step: z.literal('report'), runId: z.string(), benchmark: z.string() }),
]);
export type ScoreTask = z.infer<typeof scoreTaskSchema>;

/** The input is not a score task or a valid score input: not retried, the run fails with this message. */
export class ScoreInputError extends Error {
  override name = 'ScoreInputError';
}

export interface Prepared {
  runId: string;
  benchmark: string;
  /** The profile version the run scores (every predict and compare uses it). */
  profileVersion: string;
  items: Array<{ id: string }>;
  concurrency: ScoreRun['concurrency'];
  judgeBatchSize: number;
}

export function createScoreSteps(deps: ScoreDeps) {
  const now = deps.now ?? Date.now;
  const benchmarks = new Map<string, Benchmark>();
  // The benchmark source given (the registry's active version, re-read after its TTL), else the bundle's, read once.
  const benchmarkOf = async (name: string): Promise<Benchmark> => {
    if (deps.benchmark) return deps.benchmark(name);
    let b = benchmarks.get(name);
    if (!b) benchmarks.set(name, (b = loadBenchmark(name)));
    return b;
  };
  const profiles = deps.profiles ?? bundledProfiles;
  const profileOf = (b: Benchmark, version?: string) => (version ? profiles.at(b.config.profile, version) : profiles.active(b.config.profile));
  const itemOf = (b: Benchmark, id: string) => {
    const item = b.items.find((i) => i.id === id);
    if (!item) throw new BenchmarkError(`benchmark ${b.name} has no item ${id}`);
    return item;
  };
  const log = deps.log ?? (() => undefined);

  async function judgeInputs(runId: string, b: Benchmark, itemIds: string[]): Promise<JudgeInput[]> {
    return Promise.all(
      itemIds.map(async (id) => {
        const record = await deps.store.getItem(runId, id);
        if (!record?.prediction) throw new ScoreInputError(`run ${runId}: item ${id} has no prediction to judge`);
        return judgeInput(b, itemOf(b, id), record.prediction);
      }),
    );
  }

  async function recordJudgements(runId: string, verdicts: Array<{ id: string; judgement: ItemJudgement }>, span: [number, number]) {
    await Promise.all(verdicts.map((v) => deps.store.updateItem(runId, v.id, { judge: v.judgement, judgeSpan: span })));
  }

  return {
    async prepare(input: unknown): Promise<Prepared> {
      const parsed = scoreInputSchema.safeParse(input);
      if (!parsed.success) throw new ScoreInputError(`score input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`);
      const b = await benchmarkOf(parsed.data.benchmark);
      const s = b.config.scoring;
      const concurrency = parsed.data.sequential
        ? { predict: 1, compare: 1, judge: 1 }
        : { predict: parsed.data.maxConcurrency ?? s.predictConcurrency, compare: s.compareConcurrency, judge: s.judgeConcurrency };
      const profile = await profileOf(b, parsed.data.profileVersion);
      const run: ScoreRun = {
        runId: parsed.data.runId ?? newRunId(new Date(now())),
        benchmark: b.name,
        benchmarkVersion: b.version,
        provider: deps.provider.name,
        model: deps.provider.model,
        promptVersion: deps.provider.promptVersion === 'per-profile' ? profile.enrichment.promptVersion : deps.provider.promptVersion,
        profileVersion: profile.version,
        judge: judgeName(deps.judge, judgeOptions(b)),
        concurrency,
        itemCount: b.items.length,
        status: 'running',
        startedAt: new Date(now()).toISOString(),
      };
      await deps.store.startRun(run);
      log('score run started', { runId: run.runId, benchmark: b.name, items: b.items.length });
      return { runId: run.runId, benchmark: b.name, profileVersion: profile.version, items: b.items.map((i) => ({ id: i.id })), concurrency, judgeBatchSize: parsed.data.sequential ? 1 : s.judgeBatchSize };
    },

    async predict(t: Extract<ScoreTask, { step: 'predict' }>) {
      const b = await benchmarkOf(t.benchmark);
      const start = now();
      const prediction = await predictItem(await profileOf(b, t.profileVersion), itemOf(b, t.id), deps.provider);
      await deps.store.updateItem(t.runId, t.id, { status: 'predicted', prediction, predictSpan: [start, now()] });
      return { id: t.id, status: 'predicted' };
    },

    async compare(t: Extract<ScoreTask, { step: 'compare' }>) {
      const { id, status } = t.result;
      if (status === 'failed' || status === 'skipped') {
        await deps.store.updateItem(t.runId, id, { status, error: t.result.error, reason: t.result.reason ?? 'no reason given' });
        return { id, status };
      }
      const b = await benchmarkOf(t.benchmark);
      const start = now();
      const record = await deps.store.getItem(t.runId, id);
      if (!record?.prediction) throw new ScoreInputError(`run ${t.runId}: item ${id} has no prediction to compare`);
      const fields = compareItem(await profileOf(b, t.profileVersion), b.config, itemOf(b, id), record.prediction);
      const needsJudge = fields.some((f) => f.needsJudge);
      await deps.store.updateItem(t.runId, id, { status: 'scored', fields, needsJudge, compareSpan: [start, now()] });
      return { id, status: 'scored', needsJudge };
    },

    planJudge(t: Extract<ScoreTask, { step: 'planJudge' }>): string[][] {
      const judged = t.results.filter((r) => r.status === 'scored' && r.needsJudge).map((r) => r.id);
      const chunks: string[][] = [];
      for (let i = 0; i < judged.length; i += t.batchSize) chunks.push(judged.slice(i, i + t.batchSize));
      return chunks;
    },

    async judgeChunk(t: Extract<ScoreTask, { step: 'judgeChunk' }>) {
      const b = await benchmarkOf(t.benchmark);
      const start = now();
      const verdicts = await deps.judge.judge(await judgeInputs(t.runId, b, t.ids), judgeOptions(b));
      await recordJudgements(
        t.runId,
        verdicts.map((v) => ({ id: v.id, judgement: { verdict: v.verdict, reason: v.reason, mode: 'batch', by: deps.judge.name, chunk: t.ids[0] } })),
        [start, now()],
      );
      return { judged: verdicts.length };
    },

    async judgeItem(t: Extract<ScoreTask, { step: 'judgeItem' }>) {
      const b = await benchmarkOf(t.benchmark);
      const start = now();
      const [v] = await deps.judge.judge(await judgeInputs(t.runId, b, [t.id]), judgeOptions(b));
      await recordJudgements(t.runId, [{ id: t.id, judgement: { verdict: v!.verdict, reason: v!.reason, mode: 'single', by: deps.judge.name, chunkError: t.chunkError } }], [start, now()]);
      return { judged: 1 };
    },

    async judgeFallback(t: Extract<ScoreTask, { step: 'judgeFallback' }>) {
      await deps.store.updateItem(t.runId, t.id, {
        judge: { reason: `not judged (${t.reason}); the deterministic key-fact overlap stands`, mode: 'fallback', by: deps.judge.name },
      });
      return { judged: 0 };
    },

    async report(t: Extract<ScoreTask, { step: 'report' }>) {
      const b = await benchmarkOf(t.benchmark);
      const run = await deps.store.getRun(t.runId);
      if (!run) throw new ScoreInputError(`score run ${t.runId} is unknown`);
      if (run.benchmarkVersion && run.benchmarkVersion !== b.version) {
        throw new ScoreInputError(`benchmark ${b.name} changed during run ${t.runId} (${run.benchmarkVersion} → ${b.version}); score it again`);
      }
      const items = await deps.store.listItems(t.runId);
      const previous = (await deps.store.listRuns(b.name, 5)).find((r) => r.runId !== t.runId);
      const previousItems = previous ? await deps.store.listItems(previous.runId) : undefined;
      const finishedAt = new Date(now()).toISOString();
      const finished: ScoreRun = { ...stripReport(run), status: 'done', finishedAt };
      const report: ScoreReport = computeReport(finished, b, items, previous && previousItems ? { runId: previous.runId, items: previousItems } : undefined);
      await deps.store.finishRun(finished, report, reportSummary(report));
      log('score run done', { runId: t.runId, scored: report.totals.scored, failed: report.totals.failed, skipped: report.totals.skipped });
      return reportSummary(report);
    },
  };
}

/** A run id that sorts by time: `20261125T020635-03226e6a`. */
export function newRunId(at = new Date()): string {
  return `${at.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
}

/** What the judge needs from the benchmark: its prompt, and the offline judge's key-fact threshold. */
export function judgeOptions(b: Benchmark): JudgeOptions {
  return b.judged ? { threshold: b.judged.threshold, prompt: b.judged.prompt, promptText: b.judged.promptText } : {};
}

function stripReport(run: ScoreRun & { report?: unknown }): ScoreRun {
  const { report: _r, ...rest } = run;
  return rest;
}

export type ScoreSteps = ReturnType<typeof createScoreSteps>;

/** Runs one Task state's work: the whole of the score function's handler, after parsing. */
export async function runScoreTask(steps: ScoreSteps, event: unknown): Promise<unknown> {
  const parsed = scoreTaskSchema.safeParse(event);
  if (!parsed.success) throw new ScoreInputError(`not a score task: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`);
  const t = parsed.data;
  switch (t.step) {
    case 'prepare':
      return steps.prepare(t.input);
    case 'predict':
      return steps.predict(t);
    case 'compare':
      return steps.compare(t);
    case 'planJudge':
      return steps.planJudge(t);
    case 'judgeChunk':
      return steps.judgeChunk(t);
    case 'judgeItem':
      return steps.judgeItem(t);
    case 'judgeFallback':
      return steps.judgeFallback(t);
    case 'report':
      return steps.report(t);
  }
}
