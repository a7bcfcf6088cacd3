/** `sluice status [JOB]`: the jobs, or one job with its failed groups and dead letters; `--watch` follows. */
import { Command, Option } from 'commander';
import { type Job, JobStatus, TERMINAL_STATUSES } from '../../domain/job.ts';
import { peekDlq } from '../../adapters/sqs-redrive.ts';
import { dlqDepths } from '../../adapters/sqs-dlq-depths.ts';
import { jobOfMessage } from '../../pipeline/dead-letters.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { EXIT, aSample, InputError, type StackFlags, numberIn, act, stackOptions, withStack } from '../shared.ts';

interface StatusFlags extends StackFlags {
  json?: boolean;
  watch?: boolean;
  interval: number;
}

export function statusCommand(): Command {
  const cmd = new Command('status')
    .description('the jobs (newest first), or one job with its failed groups and dead letters')
    .argument('[job]', 'a job id (see the list)')
    .option('--json', 'JSON on stdout')
    .option('-w, --watch', 'redraw until Ctrl-C (one job: until it ends)')
    .addOption(new Option('--interval <seconds>', 'seconds between redraws with --watch').default(2).argParser(numberIn(0.2, 3600)));
  return stackOptions(cmd).action(act(status));
}

async function status(jobId: string | undefined, flags: StatusFlags): Promise<number> {
  return withStack(flags, false, async (rt) => {
    if (!flags.watch) return jobId ? showJob(rt, jobId, flags, process.stdout) : showJobs(rt, flags, process.stdout);
    // --watch: the screen redrawn from a buffer each time (no flicker), until Ctrl-C or the job's end.
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    process.once('SIGINT', onSignal);
    try {
      for (;;) {
        const lines: string[] = [];
        const sink = { write: (s: string) => lines.push(s) };
        const code = jobId ? await showJob(rt, jobId, flags, sink) : await showJobs(rt, flags, sink);
        const frame = `${new Date().toISOString()}  (every ${flags.interval} s; Ctrl-C to stop)\n${lines.join('')}`;
        process.stdout.write(process.stdout.isTTY && !flags.json ? `\x1b[H\x1b[2J${frame}` : frame);
        const job = jobId ? await rt.store.getJob(jobId) : undefined;
        if (stop || (job && TERMINAL_STATUSES.has(job.status))) return code;
        await sleepUnless(flags.interval * 1000, () => stop);
        if (stop) return code;
      }
    } finally {
      process.off('SIGINT', onSignal);
    }
  });
}

async function sleepUnless(ms: number, stopped: () => boolean): Promise<void> {
  for (let waited = 0; waited < ms && !stopped(); waited += 100) await new Promise((r) => setTimeout(r, Math.min(100, ms - waited)));
}

type Sink = { write(s: string): unknown };

async function showJob(rt: LocalRuntime, jobId: string, flags: StatusFlags, out: Sink): Promise<number> {
  const job = await rt.store.getJob(jobId);
  if (!job) throw new InputError(`no job ${jobId} (see \`sluice status\` for the list)`);
  const failures = await groupFailures(rt, jobId, 20);
  const deadLetters = await jobDeadLetters(rt, jobId);
  // A documents job: how many of its documents are settled (stored and counted into their groups).
  const documentsSettled = job.documents === undefined ? undefined : await rt.store.countSettledDocuments(jobId);
  if (flags.json) out.write(`${JSON.stringify({ ...job, ...(documentsSettled === undefined ? {} : { documentsSettled }), failures, deadLetters })}\n`);
  else {
    const c = job.counts;
    const documents = job.documents === undefined ? '' : `documents ${job.documents}: settled ${documentsSettled}\n`;
    out.write(
      `job ${job.jobId}  ${job.status}\nsource   s3://${job.bucket}/${job.key}\nrows     ${c.rows}: accepted ${c.accepted}, rejected ${c.rejected}, duplicates ${c.duplicates}\n${documents}groups   ${c.groups}: enriched ${c.enriched}, pending ${c.pending}, decided ${c.decided}, failed ${c.failed}\n${job.error ? `error    ${job.error}\n` : ''}`,
    );
    const cursor = job.status === JobStatus.FINALIZING ? job.finalizeCursor : undefined;
    if (cursor) out.write(`results  ${cursor.tally.decided + cursor.tally.failed} of ${c.groups} groups written (${cursor.segments} segments)${cursor.done ? ', all staged, to be joined' : ''}\n`);
    for (const f of failures) out.write(`failed   group ${f.groupId} (${f.stage}): ${f.error}\n`);
    for (const d of deadLetters) out.write(`DLQ      ${d.queue}: message ${d.messageId}${d.reason ? ` — ${d.reason}` : ` after ${d.receiveCount} receives`}  (sluice redrive ${d.queue})\n`);
  }
  return job.status === JobStatus.FAILED ? EXIT.failed : EXIT.ok;
}

async function showJobs(rt: LocalRuntime, flags: StatusFlags, out: Sink): Promise<number> {
  const jobs = await rt.store.listJobs(50);
  const dlqs = await localDlqDepths(rt);
  if (flags.json) {
    out.write(`${JSON.stringify({ jobs: jobs.map((j: Job) => ({ jobId: j.jobId, status: j.status, bucket: j.bucket, key: j.key, etag: j.etag, profile: j.profile, counts: j.counts, receivedAt: j.timings.receivedAt })), dlqDepths: dlqs })}\n`);
  } else if (!jobs.length) out.write(`no jobs yet: try \`sluice run ${aSample()}\`\n`);
  else {
    for (const j of jobs) out.write(`${j.jobId}  ${j.status.padEnd(20)}  ${j.timings.receivedAt}  ${j.key}  rows ${j.counts.rows}, groups ${j.counts.groups}\n`);
  }
  const waiting = Object.entries(dlqs).filter(([, n]) => n > 0);
  if (!flags.json && waiting.length) out.write(`DLQ messages: ${waiting.map(([q, n]) => `${q} ${n}`).join(', ')}  (sluice status JOB shows whose; sluice redrive QUEUE moves them back)\n`);
  return EXIT.ok;
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

/** Messages waiting in each queue's DLQ. */
export function localDlqDepths(rt: LocalRuntime) {
  return dlqDepths(rt.clients.sqs, Object.fromEntries(Object.entries(rt.names.queues).map(([q, n]) => [q, n.dlqUrl])));
}
