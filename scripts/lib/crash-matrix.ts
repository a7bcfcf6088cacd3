/**
 * The crash matrix, shared by `test/e2e/crash.test.ts` and `npm run bench:crash`: a file run through
 * `sluice dev` as a separate process that kills itself (SIGKILL) at a named point between two writes,
 * then a restart on the same state folder; the job must end exactly as a clean run of the same file.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createStatusStore } from '../../src/adapters/dynamodb-status-store.ts';
import { type Job, TERMINAL_STATUSES, jobIdFor, resultKeys } from '../../src/domain/job.ts';
import { localClients } from '../../src/local/runtime.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = process.execPath;

export interface DevProcess {
  child: ChildProcess;
  endpoints: { s3: string; sqs: string; dynamodb: string };
  buckets: { drop: string; results: string };
  table: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `sluice dev` on a state folder (ports chosen by the system) and waits for its endpoints. */
export async function startDev(state: string, env: Record<string, string | undefined> = {}): Promise<DevProcess> {
  const child = spawn(NODE, [join(ROOT, 'bin', 'sluice.mjs'), 'dev', '--json', '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--state', state], {
    cwd: ROOT,
    env: { ...process.env, OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Record<string, unknown>);
    });
    void exited.then(({ code, signal }) => reject(new Error(`sluice dev exited (${code ?? signal}) before it was up: ${stderr}`)));
  });
  return { child, exited, endpoints: info.endpoints as DevProcess['endpoints'], buckets: info.buckets as DevProcess['buckets'], table: info.table as string };
}

/** Stops a dev process the way a user does (SIGINT) and waits for it. */
export async function stopDev(dev: DevProcess): Promise<void> {
  if (dev.child.exitCode === null && dev.child.signalCode === null) dev.child.kill('SIGINT');
  await dev.exited;
}

/** Drops a file under `incoming/claims/` and returns the id of the job it makes. */
export async function dropFile(dev: DevProcess, file: string, name: string): Promise<string> {
  const { s3 } = localClients(dev.endpoints);
  const key = `incoming/claims/${name}`;
  const put = await s3.send(new PutObjectCommand({ Bucket: dev.buckets.drop, Key: key, Body: readFileSync(file), ContentType: 'text/csv' }));
  s3.destroy();
  return jobIdFor(dev.buckets.drop, key, put.ETag!);
}

/** Waits until the job ends, or the dev process dies (returns undefined then). */
export async function waitForEnd(dev: DevProcess, jobId: string, timeoutMs: number): Promise<Job | undefined> {
  const { dynamodb } = localClients(dev.endpoints);
  const store = createStatusStore(dynamodb, dev.table);
  let dead = false;
  void dev.exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    while (!dead) {
      const job = await store.getJob(jobId).catch(() => undefined);
      if (job && TERMINAL_STATUSES.has(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not end within ${timeoutMs / 1000} s (status ${job?.status})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return undefined;
  } finally {
    dynamodb.destroy();
  }
}

export interface JobOutcome {
  status: string;
  counts: Job['counts'];
  /** results.jsonl lines, sorted by group. */
  results: string[];
  /** rejects.jsonl lines, sorted. */
  rejects: string[];
  csvRows: number;
}

/** What a user compares between two runs: status, counts and the result files' content. */
export async function readOutcome(dev: DevProcess, job: Job): Promise<JobOutcome> {
  const { s3 } = localClients(dev.endpoints);
  const text = async (key: string) => (await (await s3.send(new GetObjectCommand({ Bucket: dev.buckets.results, Key: key }))).Body!.transformToString());
  const keys = resultKeys(job.jobId);
  const lines = (t: string) => t.split('\n').filter(Boolean).sort();
  const outcome = {
    status: job.status,
    counts: job.counts,
    results: lines(await text(keys.jsonl)).map(withoutUsage).sort(),
    rejects: lines(await text(keys.rejects)),
    csvRows: lines(await text(keys.csv)).length,
  };
  s3.destroy();
  return outcome;
}

/**
 * A result line without its LLM usage: after a restart, groups enriched before the crash are answered from
 * the cache (`cached: true`, fewer calls), which is the point of the cache, not a different result.
 */
function withoutUsage(line: string): string {
  const value = JSON.parse(line) as { enrichment?: { usage?: unknown } | null };
  if (value.enrichment) delete value.enrichment.usage;
  return JSON.stringify(value);
}

export interface CrashCase {
  /** `<point>@<n>`: the n-th time any handler passes the point. */
  crashAt: string;
}

export interface CrashResult {
  crashAt: string;
  /** The process was killed at the point (false: the point was never reached). */
  crashed: boolean;
  /** Time from the restart to the job's end. */
  recoveryMs: number;
  /** Helper processes (emulators, handlers) of the killed runtime still running 5 s after it died. */
  orphans: number;
  /** Chunks the file was ingested as. */
  chunks: number;
  outcome: JobOutcome;
}

/**
 * Runs a file to its end through a dev process that crashes at `crashAt`, restarting it once killed.
 * @example await crashRun({ file: 'claims.csv', state: '/tmp/s', crashAt: 'settle.counted@100', timeoutMs: 120_000 })
 */
export async function crashRun(o: { file?: string; drop?: (dev: DevProcess) => Promise<string>; state: string; crashAt?: string; timeoutMs: number; env?: Record<string, string> }): Promise<CrashResult> {
  let dev = await startDev(o.state, { ...o.env, SLUICE_CRASH_AT: o.crashAt });
  // The drop: a claims file, or what `drop` puts (a documents profile's documents and manifest), returning the job id.
  const jobId = o.drop ? await o.drop(dev) : await dropFile(dev, o.file!, 'crash-matrix.csv');
  let job = await waitForEnd(dev, jobId, o.timeoutMs);
  const crashed = job === undefined;
  let recoveryMs = 0;
  let orphans = 0;
  if (crashed) {
    const { signal } = await dev.exited;
    if (signal !== 'SIGKILL') throw new Error(`sluice dev ended by ${signal}, not by its crash point`);
    orphans = await helpersOutliving(dev.child.pid!, 5000);
    const restarted = Date.now();
    dev = await startDev(o.state, o.env);
    job = await waitForEnd(dev, jobId, o.timeoutMs);
    recoveryMs = Date.now() - restarted;
    if (!job) throw new Error('the restarted sluice dev died');
  }
  try {
    const { dynamodb } = localClients(dev.endpoints);
    const { chunks } = await createStatusStore(dynamodb, dev.table).readIngestParts(jobId);
    dynamodb.destroy();
    return { crashAt: o.crashAt ?? 'none', crashed, recoveryMs, orphans, chunks: chunks.length, outcome: await readOutcome(dev, job!) };
  } finally {
    await stopDev(dev);
  }
}

/** How many processes started by `pid` (the runtime's helpers, `--sluice-helper-of=PID`) still run after `graceMs`. */
async function helpersOutliving(pid: number, graceMs: number): Promise<number> {
  const count = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((line) => line.includes(`--sluice-helper-of=${pid}`)).length;
  for (let waited = 0; waited < graceMs && count() > 0; waited += 100) await new Promise((r) => setTimeout(r, 100));
  return count();
}
