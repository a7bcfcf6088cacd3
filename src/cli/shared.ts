/**
 * What the CLI's commands share: the errors that set the exit code, the options every local command takes,
 * opening the local stack, and a job's report.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { type Command, InvalidArgumentError } from 'commander';
import { type Job, resultKeys } from '../domain/job.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { llmSettingsFromEnv } from '../llm/llm-config.ts';
import { type DevInfo, openLocalStack, stateDir } from './local-stack.ts';
import { logFile } from './logs.ts';

/** Bad usage: exit 2, with a pointer to the command's help. */
export class UsageError extends Error {}
/** An input the user named cannot be used (a file, a job id): exit 2. */
export class InputError extends Error {}

/** Exit codes: 0 done, 1 the job (or run) failed, 2 bad usage or an unreadable input. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A benchmark by name, its problems as an InputError (exit 2) naming the file, line and path. */
export async function benchmarkNamed(name: string) {
  const { BenchmarkError, loadBenchmark } = await import('../scoring/benchmark.ts');
  try {
    return loadBenchmark(name);
  } catch (err) {
    if (err instanceof BenchmarkError) throw new InputError(err.message);
    throw err;
  }
}

/** A file of samples/ to try a command with, for the hints the CLI prints (`samples/FILE` when none is there). */
export function aSample(): string {
  const dir = join(process.cwd(), 'samples');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.(csv|jsonl?)$/.test(f)).sort() : [];
  return `samples/${files[0] ?? 'FILE'}`;
}

/** Multipart part size of the CLI's uploads (the ETag a rerun expects depends on it). */
export const PART_SIZE = 8 * 1024 * 1024;

export interface StackFlags {
  state?: string;
  verbose?: boolean;
  offline?: boolean;
}

/** `--state` and `--verbose`, which every command on the local stack takes. */
export function stackOptions(cmd: Command): Command {
  return cmd
    .option('--state <dir>', 'local state folder (default .sluice, or $SLUICE_STATE_DIR)')
    .option('--verbose', 'handler logs (JSON lines) on stderr');
}

/** `--offline`, for commands that may call the LLM. */
export function offlineOption(cmd: Command): Command {
  return cmd.option('--offline', 'the offline provider even when OPENAI_API_KEY is set');
}

/** The OpenAI provider when OPENAI_API_KEY is set (OPENAI_BASE_URL may point at `sluice simulate`), unless --offline. */
export function llmFor(flags: StackFlags) {
  return flags.offline ? undefined : llmSettingsFromEnv(process.env);
}

/** Opens the local stack (attached to a running `sluice dev`, or embedded), runs `fn`, stops it. */
export async function withStack<T>(flags: StackFlags, pollers: boolean, fn: (rt: LocalRuntime, dev: DevInfo | undefined) => Promise<T>): Promise<T> {
  const state = stateDir(flags.state);
  mkdirSync(state, { recursive: true });
  // The handlers' lines go to the state's log file (`sluice logs`); --verbose shows them on stderr too.
  const logStream = logFile(state, flags.verbose ? process.stderr : undefined);
  const { runtime, dev } = await openLocalStack({ state, pollers, logStream, logLevel: 'INFO', llm: llmFor(flags) }).catch((err) => {
    logStream.end();
    throw err;
  });
  try {
    return await fn(runtime, dev);
  } finally {
    await runtime.stop();
    await new Promise<void>((resolve) => logStream.end(resolve));
  }
}

/** A commander argument parser for a whole number in [min, max]. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return v;
  };
}

/** A commander argument parser for a number in [min, max]. */
export function numberIn(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min || v > max) throw new InvalidArgumentError(`must be a number from ${min} to ${max}`);
    return v;
  };
}

export interface JobReport {
  jobId: string;
  status: string;
  profile: string;
  mode: string;
  provider: string;
  counts: Job['counts'];
  /** A documents job's documents: fanned out, and settled (stored and counted into their groups). */
  documents?: { total: number; settled: number };
  results: { jsonl: string | null; csv: string | null; summary: string | null; review: string | null };
  /** Entities left for review (`sluice review JOB` lists them). */
  review: number;
  rejects: string | null;
  s3: { source: string; jsonl: string | null; csv: string | null; summary: string | null; rejects: string | null };
  timings: Record<string, string | number | undefined>;
  error?: string;
}

/** Copies a job's files out of the local results bucket and describes the job for the user. */
export async function jobReport(rt: LocalRuntime, job: Job, outDir: string): Promise<JobReport> {
  const bucket = rt.names.buckets.results;
  const keys = job.results ?? resultKeys(job.jobId);
  mkdirSync(outDir, { recursive: true });
  const copy = async (key: string): Promise<string | null> => {
    try {
      const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const dest = join(outDir, basename(key));
      await pipeline(r.Body as Readable, createWriteStream(dest));
      return dest;
    } catch {
      return null;
    }
  };
  const [jsonl, csv, summary, rejects, review] = await Promise.all([copy(keys.jsonl), copy(keys.csv), copy(keys.summary), copy(keys.rejects), copy(keys.review ?? resultKeys(job.jobId).review!)]);
  const uri = (key: string, local: string | null) => (local ? `s3://${bucket}/${key}` : null);
  const t = job.timings;
  const ms = (a?: string, b?: string) => (a && b ? Date.parse(b) - Date.parse(a) : undefined);
  const written = summary ? (JSON.parse(readFileSync(summary, 'utf8')) as { provider?: string; review?: number }) : {};
  const provider = written.provider ?? 'offline';
  const documents = job.documents === undefined ? undefined : { total: job.documents, settled: await rt.store.countSettledDocuments(job.jobId) };
  return {
    jobId: job.jobId,
    status: job.status,
    profile: job.profile,
    mode: job.mode,
    provider,
    counts: job.counts,
    ...(documents ? { documents } : {}),
    results: { jsonl, csv, summary, review },
    review: written.review ?? 0,
    rejects,
    s3: {
      source: `s3://${job.bucket}/${job.key}`,
      jsonl: uri(keys.jsonl, jsonl),
      csv: uri(keys.csv, csv),
      summary: uri(keys.summary, summary),
      rejects: uri(keys.rejects, rejects),
    },
    timings: { ...t, ingestMs: ms(t.ingestStartedAt, t.ingestEndedAt), totalMs: ms(t.receivedAt, t.finishedAt) },
    ...(job.error ? { error: job.error } : {}),
  };
}

export function humanReport(r: JobReport, job: Job): string {
  const c = r.counts;
  const lines = [
    `job ${r.jobId}  ${r.status}  (profile ${r.profile}, ${r.mode} mode, ${r.provider} provider)`,
    `source   ${r.s3.source}`,
    `rows     ${c.rows}: accepted ${c.accepted}, rejected ${c.rejected}, duplicates ${c.duplicates}`,
    ...(r.documents ? [`documents ${r.documents.total}: settled ${r.documents.settled}`] : []),
    `groups   ${c.groups}: enriched ${c.enriched}, pending ${c.pending}, decided ${c.decided}, failed ${c.failed}`,
  ];
  if (job.error) lines.push(`error    ${job.error}`);
  if (r.results.jsonl) lines.push(`results  ${r.results.jsonl}`, `         ${r.results.csv}`, `summary  ${r.results.summary}`);
  if (r.rejects) lines.push(`rejects  ${r.rejects}`);
  if (r.review) lines.push(`review   ${r.review} entities to resolve by hand: ${r.results.review} (sluice review ${r.jobId})`);
  if (r.timings.totalMs !== undefined) lines.push(`took     ${((r.timings.totalMs as number) / 1000).toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

let exitCode: number = EXIT.ok;

/** A command's action whose result is the process's exit code (commander discards what actions return). */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args) => {
    exitCode = await fn(...args);
  };
}

/** The exit code the last action returned (and resets it). */
export function takeExitCode(): number {
  const code = exitCode;
  exitCode = EXIT.ok;
  return code;
}
