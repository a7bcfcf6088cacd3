/**
 * `sluice invoke FUNCTION --event FILE`: one handler, one event, like `sam local invoke`. Before invoking,
 * it checks that what the event names exists in the local state (the object of an S3 notification, the job
 * of a group message) and otherwise says what is needed, so no invoke leaves a job stuck.
 */
import { existsSync, readFileSync } from 'node:fs';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { SQSEvent, ScheduledEvent } from 'aws-lambda';
import { Argument, Command } from 'commander';
import { parseS3Notification } from '../../domain/s3-event.ts';
import { groupMessageSchema } from '../../pipeline/process-group.ts';
import { eventProblems } from '../../lambda/event-schemas.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { type FunctionName, topology } from '../../topology/topology.ts';
import { EXIT, aSample, InputError, type StackFlags, act, stackOptions, withStack } from '../shared.ts';

/** The functions a schedule targets: they take an EventBridge Scheduled Event. */
const SCHEDULED = new Set<FunctionName>(Object.values(topology.schedules).map((s) => s.target));

export function invokeCommand(): Command {
  const cmd = new Command('invoke')
    .description('run one function with one event from a file (see events/ and `sluice generate-event`)')
    .addArgument(new Argument('<function>', 'the function').choices(Object.keys(topology.functions)))
    .requiredOption('--event <file>', 'the event (JSON)');
  return stackOptions(cmd).action(act(invoke));
}

async function invoke(fn: FunctionName, flags: StackFlags & { event: string }): Promise<number> {
  const eventFile = flags.event;
  if (!existsSync(eventFile)) throw new InputError(`${eventFile}: no such file`);
  let event: unknown;
  try {
    event = JSON.parse(readFileSync(eventFile, 'utf8'));
  } catch (err) {
    throw new InputError(`${eventFile}: not JSON (${(err as Error).message})`);
  }
  const verbose = { ...flags, verbose: true };
  // The handler's parser middleware would refuse it too; said here before a stack starts, with each field's problem.
  const problems = eventProblems(fn, event);
  if (problems) throw new InputError(`${eventFile}: ${problems}`);
  if (SCHEDULED.has(fn)) {
    const scheduled = event as ScheduledEvent;
    return withStack(verbose, false, async (rt) => {
      process.stdout.write(`${JSON.stringify(await rt.invokeScheduled(fn as 'backfill', scheduled))}\n`);
      return EXIT.ok;
    });
  }
  if (fn === 'score' || fn === 'improve') {
    const input = event as { step?: unknown; benchmark?: unknown };
    if (input.step === undefined && typeof input.benchmark === 'string') {
      throw new InputError(`${eventFile} is the ${fn === 'score' ? 'scoring' : fn} state machine's input, not a ${fn} task's event: \`sluice ${fn} ${input.benchmark}\` runs the state machine (a task event has a "step": see events/${fn}-prepare.json)`);
    }
    return withStack(verbose, false, async (rt) => {
      process.stdout.write(`${JSON.stringify(await rt.tasks[fn](event))}\n`);
      return EXIT.ok;
    });
  }
  const sqsEvent = event as SQSEvent;
  return withStack(verbose, false, async (rt) => {
    const missing = await whatIsMissing(rt, fn, sqsEvent);
    if (missing.length) {
      throw new InputError(`${eventFile} names what this state does not have:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
    }
    const response = await rt.invoke(fn as 'ingest', sqsEvent);
    process.stdout.write(`${JSON.stringify(response)}\n`);
    return response.batchItemFailures.length ? EXIT.failed : EXIT.ok;
  });
}

/** What the event's messages refer to that the local state lacks, each with how to get it. */
async function whatIsMissing(rt: LocalRuntime, fn: FunctionName, event: SQSEvent): Promise<string[]> {
  const out: string[] = [];
  for (const record of event.Records) {
    if (fn === 'ingest') {
      let created;
      try {
        created = parseS3Notification(record.body).created;
      } catch {
        continue; // unparseable: the handler dead-letters it with its reason
      }
      for (const o of created) {
        const head = await rt.clients.s3.send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key })).catch(() => undefined);
        const etag = o.etag.replace(/"/g, '');
        if (!head) out.push(`s3://${o.bucket}/${o.key} is not in the local S3: drop it first (\`sluice run FILE\` drops under incoming/<profile>/), or make an event for an object that is there: \`sluice generate-event s3-put --key KEY\``);
        else if (head.ETag?.replace(/"/g, '') !== etag) out.push(`s3://${o.bucket}/${o.key} has ETag ${head.ETag?.replace(/"/g, '')}, not the event's ${etag}: \`sluice generate-event s3-put --key ${o.key}\` makes an event for the object as it is`);
      }
    } else if (fn === 'enrich' || fn === 'decide') {
      const parsed = groupMessageSchema.safeParse(safeJson(record.body));
      if (!parsed.success) continue; // dead-lettered by the handler with its reason
      if (!(await rt.store.getJob(parsed.data.jobId))) {
        out.push(`job ${parsed.data.jobId} does not exist here: run a file first (\`sluice run ${aSample()}\`), then \`sluice generate-event sqs-${fn} --job JOB\` for a batch with real group references`);
      }
    }
  }
  return [...new Set(out)];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
