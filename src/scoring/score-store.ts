/**
 * What a score run keeps in the status table: the run (benchmark and its version, prompt version,
 * providers, concurrency, status, the report when done) and one record per item, written by each phase
 * as it goes, so a run's progress is visible while it runs and nothing of it lives only in the state.
 */
import type { Prediction, FieldVerdict } from './score-item.ts';

export type ItemStatus = 'predicted' | 'scored' | 'failed' | 'skipped';
export type JudgeMode = 'batch' | 'single' | 'fallback';

export interface ItemJudgement {
  verdict?: 'pass' | 'fail';
  reason: string;
  mode: JudgeMode;
  /** The judge's name (`offline:set-overlap`, `openai:<model>:<judgePrompt>`). */
  by: string;
  /** The first id of the chunk a batch verdict came from (chunks are counted by it). */
  chunk?: string;
  /** Why the batch answer for this item's chunk was not used. */
  chunkError?: string;
}

/** [start, end] in epoch ms. */
export type Span = [number, number];

export interface ScoreItemRecord {
  id: string;
  status: ItemStatus;
  /** For failed and skipped items: the error name and why. */
  error?: string;
  reason?: string;
  prediction?: Prediction;
  fields?: FieldVerdict[];
  needsJudge?: boolean;
  judge?: ItemJudgement;
  predictSpan?: Span;
  compareSpan?: Span;
  judgeSpan?: Span;
}

export interface ScoreRun {
  runId: string;
  benchmark: string;
  benchmarkVersion: string;
  promptVersion: string;
  /** The version of the benchmark's profile the run scored (a hash of its data). */
  profileVersion?: string;
  provider: string;
  model: string;
  judge: string;
  concurrency: { predict: number; compare: number; judge: number };
  itemCount: number;
  status: 'running' | 'done';
  startedAt: string;
  finishedAt?: string;
}

export interface ScoreStore {
  startRun(run: ScoreRun): Promise<void>;
  getRun(runId: string): Promise<(ScoreRun & { report?: unknown }) | undefined>;
  /** Sets these attributes of an item's record (creating it if needed). */
  updateItem(runId: string, id: string, patch: Partial<ScoreItemRecord>): Promise<void>;
  getItem(runId: string, id: string): Promise<ScoreItemRecord | undefined>;
  listItems(runId: string): Promise<ScoreItemRecord[]>;
  /** Marks the run done with its report and adds it to its benchmark's listing. */
  finishRun(run: ScoreRun, report: unknown, summary: Record<string, unknown>): Promise<void>;
  /** A benchmark's finished runs, newest first (their summaries). */
  listRuns(benchmark: string, limit?: number): Promise<Array<Record<string, unknown> & { runId: string; startedAt: string }>>;
  /** Stores an improvement run (`sluice improve`) under its benchmark. */
  putImproveRun(run: Record<string, unknown> & { runId: string; benchmark: string; startedAt: string }): Promise<void>;
  /** An improvement run by its id. */
  getImproveRun(runId: string): Promise<(Record<string, unknown> & { runId: string; benchmark: string; startedAt: string; status?: string }) | undefined>;
  /**
   * Sets fields of an improvement run, if its status is still `expectedStatus` (when given).
   * @returns 'conflict' when the status was another.
   */
  updateImproveRun(runId: string, patch: Record<string, unknown>, expectedStatus?: string): Promise<'applied' | 'conflict'>;
  /** The outcome a waiting task token was given (`approve`, `reject`): locally, how a waiting execution learns it. */
  putTaskOutcome(token: string, outcome: Record<string, unknown>): Promise<void>;
  getTaskOutcome(token: string): Promise<Record<string, unknown> | undefined>;
  /** A benchmark's improvement runs, newest first. */
  listImproveRuns(benchmark: string, limit?: number): Promise<Array<Record<string, unknown> & { runId: string; startedAt: string }>>;
}
