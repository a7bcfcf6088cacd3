/**
 * `sluice`: run the pipeline locally on a file, look at jobs and results, invoke one handler with one
 * event, or keep the local stack up for other clients (`aws s3 cp`, an SDK).
 * Exit codes: 0 done, 1 the job failed, 2 bad usage or an input file that cannot be read.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { SQSEvent, ScheduledEvent } from 'aws-lambda';
import type { Readable } from 'node:stream';
import { type Job, JobStatus, jobIdFor, resultKeys } from '../domain/job.ts';
import { listProfiles, loadProfile } from '../profiles/profile.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { type FunctionName, type QueueName, topology } from '../topology/topology.ts';
import { peekDlq, redriveDlq } from '../adapters/sqs-redrive.ts';
import { dlqDepths } from '../adapters/sqs-dlq-depths.ts';
import { jobOfMessage } from '../pipeline/dead-letters.ts';
import { expectedEtag } from './etag.ts';
import { openLocalStack, removeDevInfo, stateDir, writeDevInfo } from './local-stack.ts';
import { progressView } from './progress.ts';
import { llmSettingsFromEnv } from '../llm/llm-config.ts';

const USAGE = `sluice — dropped files of free-text records → enriched, rule-checked results

Usage:
  sluice run FILE [--profile P] [--mode fast|full] [--json] [--out DIR]
  sluice status [JOB] [--json]
  sluice results JOB [--out DIR] [--json]
  sluice invoke FUNCTION --event FILE         FUNCTION: ${Object.keys(topology.functions).join(', ')}
  sluice dev [--json] [--port N] [--sqs-port N] [--dynamodb-port N] [--speed N]   fires the schedules; --speed compresses time
  sluice backfill [--limit N] [--max-seconds S] [--json]   finish pending stages (fast mode, LLM unavailable), oldest first
  sluice redrive QUEUE [--max N] [--json]   move a DLQ's messages back to QUEUE (ingest, enrich, decide)
  sluice topics [--profile P] [--force] [--json]   topic discovery over the enriched summaries
  sluice metrics [--day YYYY-MM-DD] [--json]   daily metrics per profile; quality gates raise alerts
  sluice score BENCHMARK [--json] [--html FILE] [--sequential] [--concurrency N] [--calibrate N]
                            score the pipeline on a labelled benchmark (the scoring state machine)
  sluice score BENCHMARK --runs [--json]     the benchmark's stored runs, newest first
  sluice simulate [--port N] [--latency MS] [--rate-429 R] [--rate-5xx R] [--rate-timeout R] [--rate-malformed R]
                  [--rate-persistent R] [--rate-judge-omit R] [--seed N]

Common options:
  --state DIR   local state folder (default .sluice, or $SLUICE_STATE_DIR)
  --verbose     handler logs (JSON lines) on stderr
  --offline     the offline provider even when OPENAI_API_KEY is set
With OPENAI_API_KEY set, enrichment calls OpenAI (or OPENAI_BASE_URL, e.g. \`sluice simulate\`).
Exit codes: 0 done, 1 job failed, 2 bad usage or unreadable input file.`;

class UsageError extends Error {}
class InputError extends Error {}

const PART_SIZE = 8 * 1024 * 1024;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest);
      case 'status':
        return await statusCommand(rest);
      case 'results':
        return await resultsCommand(rest);
      case 'invoke':
        return await invokeCommand(rest);
      case 'dev':
        return await devCommand(rest);
      case 'simulate':
        return await simulateCommand(rest);
      case 'backfill':
        return await backfillCommand(rest);
      case 'metrics':
        return await metricsCommand(rest);
      case 'topics':
        return await topicsCommand(rest);
      case 'score':
        return await scoreCommand(rest);
      case 'redrive':
        return await redriveCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sluice: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof InputError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    return 1;
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

function parse(args: string[], options: OptionSpec): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: { ...options, state: { type: 'string' }, verbose: { type: 'boolean' }, json: { type: 'boolean' }, offline: { type: 'boolean' } },
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The OpenAI provider when OPENAI_API_KEY is set (OPENAI_BASE_URL may point at `sluice simulate`), unless --offline. */
function llmFor(values: Record<string, unknown>) {
  return values.offline ? undefined : llmSettingsFromEnv(process.env);
}

async function withStack<T>(values: Record<string, unknown>, pollers: boolean, fn: (rt: LocalRuntime) => Promise<T>): Promise<T> {
  const { runtime } = await openLocalStack({
    state: stateDir(values.state as string | undefined),
    pollers,
    logStream: process.stderr,
    logLevel: values.verbose ? 'INFO' : 'SILENT',
    llm: llmFor(values),
  });
  try {
    return await fn(runtime);
  } finally {
    await runtime.stop();
  }
}

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { profile: { type: 'string' }, mode: { type: 'string' }, out: { type: 'string' } });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('run takes exactly one FILE');
  const profileName = (values.profile as string | undefined) ?? 'claims';
  try {
    loadProfile(profileName);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const mode = (values.mode as string | undefined) ?? 'full';
  if (mode !== 'fast' && mode !== 'full') throw new UsageError(`--mode must be fast or full, not "${mode}"`);
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const json = Boolean(values.json);
  return withStack(values, true, async (rt) => {
    const bucket = rt.names.buckets.drop;
    const key = `${topology.dropPrefix}${profileName}/${basename(file)}`;
    const etag = await expectedEtag(file, size, PART_SIZE);
    let jobId = jobIdFor(bucket, key, etag);
    const existing = await rt.store.getJob(jobId);
    const stored = await rt.clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
    if (!existing || stored?.ETag?.replace(/"/g, '') !== etag) {
      const upload = await new Upload({
        client: rt.clients.s3,
        params: { Bucket: bucket, Key: key, Body: createReadStream(file), Metadata: { 'sluice-mode': mode } },
        partSize: PART_SIZE,
        queueSize: 2,
      }).done();
      jobId = jobIdFor(bucket, key, upload.ETag ?? etag);
    } else if (!json) {
      process.stderr.write(`unchanged file: reporting job ${jobId}\n`);
    }
    const view = json ? undefined : progressView();
    let job: Job;
    try {
      job = await rt.waitForJob(jobId, { onProgress: (j) => view?.update(j), timeoutMs: 60 * 60_000, intervalMs: 200 });
    } finally {
      view?.stop();
    }
    const outDir = resolve((values.out as string | undefined) ?? join('sluice-out', jobId));
    const report = await jobReport(rt, job, outDir);
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(humanReport(report, job));
    if (job.status === JobStatus.FAILED) {
      if (json) process.stderr.write(`sluice: ${job.error ?? 'job failed'}\n`);
      return job.badInput ? 2 : 1;
    }
    return 0;
  });
}

interface JobReport {
  jobId: string;
  status: string;
  profile: string;
  mode: string;
  provider: string;
  counts: Job['counts'];
  results: { jsonl: string | null; csv: string | null; summary: string | null };
  rejects: string | null;
  s3: { source: string; jsonl: string | null; csv: string | null; summary: string | null; rejects: string | null };
  timings: Record<string, string | number | undefined>;
  error?: string;
}

/** Copies a job's files out of the local results bucket and describes the job for the user. */
async function jobReport(rt: LocalRuntime, job: Job, outDir: string): Promise<JobReport> {
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
  const [jsonl, csv, summary, rejects] = await Promise.all([copy(keys.jsonl), copy(keys.csv), copy(keys.summary), copy(keys.rejects)]);
  const uri = (key: string, local: string | null) => (local ? `s3://${bucket}/${key}` : null);
  const t = job.timings;
  const ms = (a?: string, b?: string) => (a && b ? Date.parse(b) - Date.parse(a) : undefined);
  let provider = 'offline';
  if (summary) provider = (JSON.parse(readFileSync(summary, 'utf8')) as { provider?: string }).provider ?? provider;
  return {
    jobId: job.jobId,
    status: job.status,
    profile: job.profile,
    mode: job.mode,
    provider,
    counts: job.counts,
    results: { jsonl, csv, summary },
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

function humanReport(r: JobReport, job: Job): string {
  const c = r.counts;
  const lines = [
    `job ${r.jobId}  ${r.status}  (profile ${r.profile}, ${r.mode} mode, ${r.provider} provider)`,
    `source   ${r.s3.source}`,
    `rows     ${c.rows}: accepted ${c.accepted}, rejected ${c.rejected}, duplicates ${c.duplicates}`,
    `groups   ${c.groups}: enriched ${c.enriched}, pending ${c.pending}, decided ${c.decided}, failed ${c.failed}`,
  ];
  if (job.error) lines.push(`error    ${job.error}`);
  if (r.results.jsonl) lines.push(`results  ${r.results.jsonl}`, `         ${r.results.csv}`, `summary  ${r.results.summary}`);
  if (r.rejects) lines.push(`rejects  ${r.rejects}`);
  if (r.timings.totalMs !== undefined) lines.push(`took     ${((r.timings.totalMs as number) / 1000).toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const jobId = positionals[0];
  return withStack(values, false, async (rt) => {
    if (jobId) {
      const job = await rt.store.getJob(jobId);
      if (!job) throw new InputError(`no job ${jobId} (see \`sluice status\` for the list)`);
      const failures = await groupFailures(rt, jobId, 20);
      const deadLetters = await jobDeadLetters(rt, jobId);
      if (values.json) process.stdout.write(`${JSON.stringify({ ...job, failures, deadLetters })}\n`);
      else {
        const c = job.counts;
        process.stdout.write(
          `job ${job.jobId}  ${job.status}\nsource   s3://${job.bucket}/${job.key}\nrows     ${c.rows}: accepted ${c.accepted}, rejected ${c.rejected}, duplicates ${c.duplicates}\ngroups   ${c.groups}: enriched ${c.enriched}, pending ${c.pending}, decided ${c.decided}, failed ${c.failed}\n${job.error ? `error    ${job.error}\n` : ''}`,
        );
        for (const f of failures) process.stdout.write(`failed   group ${f.groupId} (${f.stage}): ${f.error}\n`);
        for (const d of deadLetters) process.stdout.write(`DLQ      ${d.queue}: message ${d.messageId}${d.reason ? ` — ${d.reason}` : ` after ${d.receiveCount} receives`}  (sluice redrive ${d.queue})\n`);
      }
      return job.status === JobStatus.FAILED ? 1 : 0;
    }
    const jobs = await rt.store.listJobs(50);
    const dlqs = await localDlqDepths(rt);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ jobs: jobs.map((j) => ({ jobId: j.jobId, status: j.status, bucket: j.bucket, key: j.key, etag: j.etag, profile: j.profile, counts: j.counts, receivedAt: j.timings.receivedAt })), dlqDepths: dlqs })}\n`);
    } else if (!jobs.length) process.stdout.write('no jobs yet: try `sluice run samples/claims-notes.csv`\n');
    else {
      for (const j of jobs) process.stdout.write(`${j.jobId}  ${j.status.padEnd(20)}  ${j.timings.receivedAt}  ${j.key}  rows ${j.counts.rows}, groups ${j.counts.groups}\n`);
    }
    const waiting = Object.entries(dlqs).filter(([, n]) => n > 0);
    if (!values.json && waiting.length) process.stdout.write(`DLQ messages: ${waiting.map(([q, n]) => `${q} ${n}`).join(', ')}  (sluice status JOB shows whose; sluice redrive QUEUE moves them back)\n`);
    return 0;
  });
}

/** The first `limit` failed groups of a job, with the stage and error that failed them. */
async function groupFailures(rt: LocalRuntime, jobId: string, limit: number) {
  const out: Array<{ groupId: string; stage: string; error: string }> = [];
  for await (const g of rt.store.listGroups(jobId)) {
    if (g.status !== 'FAILED') continue;
    const stage = Object.entries(g.stages).find(([, s]) => s.status === 'failed')?.[0] ?? 'unknown';
    out.push({ groupId: g.groupId, stage, error: g.lastError ?? 'unknown error' });
    if (out.length >= limit) break;
  }
  return out;
}

/** The messages of a job sitting in the DLQs (peeked, left in place). */
async function jobDeadLetters(rt: LocalRuntime, jobId: string) {
  const out: Array<{ queue: string; messageId: string; reason?: string; receiveCount: number }> = [];
  for (const [queue, q] of Object.entries(rt.names.queues)) {
    for (const letter of await peekDlq(rt.clients.sqs, q.dlqUrl, 1000)) {
      if (jobOfMessage(letter.body).includes(jobId)) out.push({ queue, messageId: letter.messageId, reason: letter.reason, receiveCount: letter.receiveCount });
    }
  }
  return out;
}

function localDlqDepths(rt: LocalRuntime) {
  return dlqDepths(rt.clients.sqs, Object.fromEntries(Object.entries(rt.names.queues).map(([q, n]) => [q, n.dlqUrl])));
}

async function redriveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { max: { type: 'string' } });
  const queue = positionals[0] as QueueName | undefined;
  if (!queue || !(queue in topology.queues)) throw new UsageError(`redrive takes a QUEUE: ${Object.keys(topology.queues).join(', ')}`);
  const max = values.max === undefined ? Number.POSITIVE_INFINITY : Number(values.max);
  if (!(max >= 1)) throw new UsageError('--max must be a number ≥ 1');
  return withStack(values, false, async (rt) => {
    const q = rt.names.queues[queue];
    const result = await redriveDlq(rt.clients.sqs, { dlqUrl: q.dlqUrl, dlqArn: q.dlqArn, sourceUrl: q.url, sourceArn: q.arn }, max);
    const left = (await localDlqDepths(rt))[queue] ?? 0;
    if (values.json) process.stdout.write(`${JSON.stringify({ queue, ...result, left })}\n`);
    else process.stdout.write(`${queue}: moved ${result.moved} message(s) from its DLQ back to the queue (${result.method}); ${left} left in the DLQ\n`);
    return 0;
  });
}

async function resultsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: 'string' } });
  const jobId = positionals[0];
  if (!jobId) throw new UsageError('results takes a JOB id');
  return withStack(values, false, async (rt) => {
    const job = await rt.store.getJob(jobId);
    if (!job) throw new InputError(`no job ${jobId} (see \`sluice status\` for the list)`);
    const report = await jobReport(rt, job, resolve((values.out as string | undefined) ?? join('sluice-out', jobId)));
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(humanReport(report, job));
    return job.status === JobStatus.FAILED ? 1 : 0;
  });
}

async function invokeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { event: { type: 'string' } });
  const fn = positionals[0] as FunctionName | undefined;
  if (!fn || !(fn in topology.functions)) throw new UsageError(`invoke takes a FUNCTION: ${Object.keys(topology.functions).join(', ')}`);
  const eventFile = values.event as string | undefined;
  if (!eventFile) throw new UsageError('invoke needs --event FILE');
  if (!existsSync(eventFile)) throw new InputError(`${eventFile}: no such file`);
  let event: unknown;
  try {
    event = JSON.parse(readFileSync(eventFile, 'utf8'));
  } catch (err) {
    throw new InputError(`${eventFile}: not JSON (${(err as Error).message})`);
  }
  if (fn === 'backfill' || fn === 'metrics' || fn === 'topics' || fn === 'reconcile') {
    const scheduled = event as ScheduledEvent;
    if (scheduled['detail-type'] !== 'Scheduled Event') throw new InputError(`${eventFile}: not an EventBridge Scheduled Event (detail-type)`);
    return withStack({ ...values, verbose: true }, false, async (rt) => {
      process.stdout.write(`${JSON.stringify(await rt.invokeScheduled(fn, scheduled))}\n`);
      return 0;
    });
  }
  if (fn === 'score') {
    return withStack({ ...values, verbose: true }, false, async (rt) => {
      process.stdout.write(`${JSON.stringify(await rt.tasks.score(event))}\n`);
      return 0;
    });
  }
  const sqsEvent = event as SQSEvent;
  if (!Array.isArray(sqsEvent.Records)) throw new InputError(`${eventFile}: not an SQS event (no Records array)`);
  return withStack({ ...values, verbose: true }, false, async (rt) => {
    const response = await rt.invoke(fn, sqsEvent);
    process.stdout.write(`${JSON.stringify(response)}\n`);
    return response.batchItemFailures.length ? 1 : 0;
  });
}

async function devCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { port: { type: 'string' }, 'sqs-port': { type: 'string' }, 'dynamodb-port': { type: 'string' }, speed: { type: 'string' } });
  const state = stateDir(values.state as string | undefined);
  mkdirSync(state, { recursive: true });
  const speed = values.speed === undefined ? 1 : Number(values.speed);
  if (!(speed >= 1)) throw new UsageError('--speed must be a number ≥ 1 (3600: an hourly schedule fires every second)');
  const port = (v: unknown, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`not a port: ${String(v)}`);
    return n;
  };
  const { handlerLayout, startLocalRuntime } = await import('../local/runtime.ts');
  const rt = await startLocalRuntime({
    stateDir: state,
    ...handlerLayout(),
    ports: { aws: port(values.port, 4566), sqs: port(values['sqs-port'], 4568), dynamodb: port(values['dynamodb-port'], 4567) },
    logStream: process.stderr,
    logLevel: values.verbose ? 'INFO' : 'WARN',
    llm: llmFor(values),
    schedules: { speed },
  });
  writeDevInfo(state, { pid: process.pid, endpoints: rt.endpoints, startedAt: new Date().toISOString() });
  const info = {
    endpoints: rt.endpoints,
    buckets: rt.names.buckets,
    queues: Object.fromEntries(Object.entries(rt.names.queues).map(([q, n]) => [q, { url: n.url, dlqUrl: n.dlqUrl }])),
    table: rt.names.table,
    profiles: listProfiles(),
    schedules: Object.fromEntries(Object.entries(topology.schedules).map(([name, sch]) => [name, { expression: sch.expression, target: sch.target, speed }])),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(info)}\n`);
  else {
    process.stdout.write(
      [
        'sluice dev: local stack up (Ctrl-C to stop)',
        `  S3        ${rt.endpoints.s3}`,
        `  SQS       ${rt.endpoints.sqs}`,
        `  DynamoDB  ${rt.endpoints.dynamodb}`,
        `  drop bucket     ${rt.names.buckets.drop}   (files under ${topology.dropPrefix}<profile>/ are ingested)`,
        `  results bucket  ${rt.names.buckets.results}`,
        `  status table    ${rt.names.table}`,
        ...Object.entries(rt.names.queues).map(([q, n]) => `  queue ${q.padEnd(8)} ${n.url}`),
        ...Object.entries(topology.schedules).map(([name, sch]) => `  schedule ${name.padEnd(8)} ${sch.expression} → ${sch.target}${speed > 1 ? ` (${speed}× faster)` : ''}`),
        '',
        'Drop a file with the AWS CLI:',
        `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url ${rt.endpoints.s3} s3 cp samples/claims-notes.csv s3://${rt.names.buckets.drop}/${topology.dropPrefix}claims/claims-notes.csv`,
        'then `npx sluice status` in another terminal.',
        '',
      ].join('\n'),
    );
  }
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('sluice dev: stopping\n');
  removeDevInfo(state);
  await rt.stop();
  return 0;
}

async function simulateCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    port: { type: 'string' },
    latency: { type: 'string' },
    'rate-429': { type: 'string' },
    'rate-5xx': { type: 'string' },
    'rate-timeout': { type: 'string' },
    'rate-malformed': { type: 'string' },
    seed: { type: 'string' },
  });
  const num = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = values[name] === undefined ? fallback : Number(values[name]);
    if (!Number.isFinite(v) || v < 0 || v > max) throw new UsageError(`--${name} must be a number from 0 to ${max}`);
    return v;
  };
  const { startSimulator } = await import('../llm/simulator.ts');
  const sim = await startSimulator({
    port: num('port', 8089, 65535),
    latencyMs: num('latency', 300),
    seed: num('seed', 1),
    faults: { rateLimit: num('rate-429', 0, 1), serverError: num('rate-5xx', 0, 1), timeout: num('rate-timeout', 0, 1), malformed: num('rate-malformed', 0, 1), persistent: num('rate-persistent', 0, 1), judgeOmit: num('rate-judge-omit', 0, 1) },
  });
  const line = { url: sim.url, env: { OPENAI_API_KEY: 'sk-simulated', OPENAI_BASE_URL: sim.url } };
  if (values.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  else {
    process.stdout.write(`sluice simulate: OpenAI-compatible simulator on ${sim.url} (Ctrl-C to stop)\n  OPENAI_API_KEY=sk-simulated OPENAI_BASE_URL=${sim.url} npx sluice run samples/claims-notes.csv\n`);
  }
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  const s = sim.stats;
  process.stderr.write(`sluice simulate: ${s.calls} calls, max in flight ${s.maxInFlight}, retries ${s.retries} (${s.earlyRetries} before Retry-After), outcomes ${JSON.stringify(s.outcomes)}\n`);
  await sim.stop();
  return 0;
}

async function backfillCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { limit: { type: 'string' }, 'max-seconds': { type: 'string' } });
  const limit = values.limit === undefined ? Number.MAX_SAFE_INTEGER : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const seconds = values['max-seconds'] === undefined ? 15 * 60 : Number(values['max-seconds']);
  if (!(seconds > 0)) throw new UsageError('--max-seconds must be a positive number');
  const { runBackfill } = await import('../pipeline/backfill.ts');
  return withStack(values, false, async (rt) => {
    const report = await runBackfill(rt.operatorDeps(), {
      limit,
      deadline: Date.now() + seconds * 1000,
      onProgress: (r) => {
        if (!values.json && process.stderr.isTTY) process.stderr.write(`\rbackfill: ${r.done} done, ${r.stillPending} still pending, ${r.skipped} skipped, ${r.errors} errors`);
      },
    });
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      if (process.stderr.isTTY) process.stderr.write('\n');
      process.stdout.write(
        `backfill: ${report.done} groups finished, ${report.stillPending} left pending (LLM unavailable), ${report.skipped} skipped, ${report.errors} errors; results rewritten for ${report.jobsRefreshed.length} job(s)${report.stoppedEarly ? '; stopped early, run again to continue' : ''}\n`,
      );
    }
    return 0;
  });
}

async function metricsCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { day: { type: 'string' } });
  const day = (values.day as string | undefined) ?? new Date().toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw new UsageError(`--day must be a date (YYYY-MM-DD), not "${day}"`);
  const { computeMetrics } = await import('../pipeline/metrics.ts');
  const { dlqDepths } = await import('../adapters/sqs-dlq-depths.ts');
  return withStack(values, false, async (rt) => {
    const report = await computeMetrics(rt.operatorDeps(), {
      day,
      pricePer1kPromptTokens: Number(process.env.SLUICE_PRICE_PER_1K_PROMPT_TOKENS ?? 0.00015),
      dlqDepths: () => dlqDepths(rt.clients.sqs, Object.fromEntries(Object.entries(rt.names.queues).map(([q, n]) => [q, n.dlqUrl]))),
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    const lines = [`metrics for ${day}`];
    for (const p of report.profiles) {
      lines.push(
        `  ${p.profile}: ${p.jobs} job(s), rows ${p.rows} (accepted ${p.accepted}, rejected ${p.rejected}, duplicates ${p.duplicates}), groups ${p.groups} (decided ${p.decided}, failed ${p.failed}, pending ${p.pending})`,
        `    coverage ${Object.entries(p.coverage).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}`,
        `    LLM ${p.llm.calls} calls, ${p.llm.promptTokens} prompt tokens, cache hit rate ${(p.llm.cacheHitRate * 100).toFixed(1)}%, est. $${p.llm.estimatedCostUsd}`,
        `    latency enrich p50 ${p.latencyMs.enrich.p50} ms / p95 ${p.latencyMs.enrich.p95} ms, decide p50 ${p.latencyMs.decide.p50} ms / p95 ${p.latencyMs.decide.p95} ms`,
      );
    }
    lines.push(`  backlog ${report.backlog.size} pending${report.backlog.oldestAgeHours !== null ? `, oldest ${report.backlog.oldestAgeHours} h` : ''}; DLQ ${Object.entries(report.dlq).map(([q, n]) => `${q} ${n}`).join(', ')}`);
    for (const a of report.alerts) lines.push(`ALERT ${a.message}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  });
}

async function topicsCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { profile: { type: 'string' }, force: { type: 'boolean' } });
  const name = (values.profile as string | undefined) ?? 'claims';
  try {
    loadProfile(name);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { runTopics } = await import('../pipeline/topics.ts');
  return withStack(values, false, async (rt) => {
    const run = await runTopics(rt.operatorDeps(), { profile: name, force: Boolean(values.force), namer: rt.topicNamer() });
    if (values.json) process.stdout.write(`${JSON.stringify(run)}\n`);
    else if (run.skipped) process.stdout.write(`topics: skipped — ${run.reason} (--force runs anyway)\n`);
    else {
      const lines = [`topics for ${name}: ${run.records} groups, ${run.topics!.length} topics (assignments: s3://${rt.names.buckets.results}/${run.detail})`];
      for (const t of run.topics!) lines.push(`  ${String(t.id).padStart(2)}  ${String(t.size).padStart(5)}  coherence ${t.coherence.toFixed(3)}  ${t.terms.join(', ')}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  });
}

async function scoreCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    html: { type: 'string' },
    sequential: { type: 'boolean' },
    calibrate: { type: 'string' },
    concurrency: { type: 'string' },
    runs: { type: 'boolean' },
  });
  const { BenchmarkError, listBenchmarks, loadBenchmark } = await import('../scoring/benchmark.ts');
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError(`score takes exactly one BENCHMARK (known: ${listBenchmarks().join(', ') || 'none'})`);
  const count = (flag: string, max: number) => {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) return undefined;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < 1 || v > max) throw new UsageError(`--${flag} must be a whole number from 1 to ${max}`);
    return v;
  };
  const maxConcurrency = count('concurrency', 40);
  const calibrateN = count('calibrate', 1000);
  if (values.sequential && maxConcurrency) throw new UsageError('--sequential and --concurrency exclude each other');
  let benchmark;
  try {
    benchmark = loadBenchmark(name);
  } catch (err) {
    if (err instanceof BenchmarkError) throw new InputError(err.message);
    throw err;
  }
  if (values.runs) {
    return withStack(values, false, async (rt) => {
      const runs = await rt.scoreStore.listRuns(benchmark.name, 50);
      if (values.json) process.stdout.write(`${JSON.stringify(runs)}\n`);
      else if (!runs.length) process.stdout.write(`no stored runs of ${benchmark.name} yet\n`);
      else {
        for (const r of runs) {
          const a = (r.accuracy ?? {}) as Record<string, number | null>;
          const t = (r.totals ?? {}) as Record<string, number>;
          const p = (v: number | null | undefined) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : 'n/a');
          process.stdout.write(`${r.runId}  ${r.startedAt}  ${String(r.provider)}/${String(r.promptVersion)}  decision ${p(a.decision)}  cause ${p(a.causeCode)}  facts ${p(a.keyFacts)}  scored ${t.scored}/${t.items} failed ${t.failed} skipped ${t.skipped}\n`);
        }
      }
      return 0;
    });
  }
  const { scoreBenchmark } = await import('./score.ts');
  return withStack(values, false, (rt) =>
    scoreBenchmark(rt, benchmark, {
      sequential: Boolean(values.sequential),
      maxConcurrency,
      calibrate: calibrateN,
      html: values.html as string | undefined,
      json: Boolean(values.json),
      progress: !values.json,
    }),
  );
}
