/**
 * `sluice generate-event KIND`: an event to feed `sluice invoke`, like `sam local generate-event`, built from
 * what the local state holds (an object's real ETag, a job's real group references), so it works as is.
 */
import { createHash, randomUUID } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Argument, Command, Option } from 'commander';
import type { SQSEvent } from 'aws-lambda';
import { toRecord } from '../../local/event-source.ts';
import { type LocalRuntime, s3Notification } from '../../local/runtime.ts';
import { scheduledEvent } from '../../local/scheduler.ts';
import { packGroups } from '../../pipeline/process-group.ts';
import type { GroupRef } from '../../pipeline/ports.ts';
import type { Mode } from '../../domain/enrich/enrich-group.ts';
import { type QueueName, resourceName, topology } from '../../topology/topology.ts';
import { EXIT, aSample, InputError, type StackFlags, UsageError, act, stackOptions, wholeNumber, withStack } from '../shared.ts';

const KINDS = ['s3-put', 's3-test', 'sqs-enrich', 'sqs-decide', 'scheduled'] as const;
type Kind = (typeof KINDS)[number];

interface GenerateFlags extends StackFlags {
  key?: string;
  bucket?: string;
  job?: string;
  groups: number;
  function?: string;
}

export function generateEventCommand(): Command {
  const scheduledTargets = [...new Set(Object.values(topology.schedules).map((s) => s.target))];
  const cmd = new Command('generate-event')
    .description('print an event for `sluice invoke`, built from the local state (like `sam local generate-event`)')
    .addArgument(new Argument('<kind>', 's3-put: an S3 notification in SQS for an object in the local S3; s3-test: S3\'s test event; sqs-enrich / sqs-decide: a batch of a job\'s groups; scheduled: an EventBridge Scheduled Event').choices([...KINDS]))
    .option('--key <key>', `s3-put: the object key (e.g. ${topology.dropPrefix}PROFILE/FILE.csv)`)
    .option('--bucket <name>', 's3-put: the bucket (default the drop bucket)')
    .option('--job <id>', 'sqs-enrich / sqs-decide: the job (default the newest)')
    .addOption(new Option('--groups <n>', 'sqs-enrich / sqs-decide: at most n groups (ten to a message)').default(10).argParser(wholeNumber(1, 100)))
    .addOption(new Option('--function <name>', 'scheduled: the function the schedule targets').choices(scheduledTargets));
  return stackOptions(cmd).action(act(generate));
}

async function generate(kind: Kind, flags: GenerateFlags): Promise<number> {
  return withStack(flags, false, async (rt) => {
    const event = await build(rt, kind, flags);
    process.stdout.write(`${JSON.stringify(event, null, 2)}\n`);
    return EXIT.ok;
  });
}

async function build(rt: LocalRuntime, kind: Kind, flags: GenerateFlags): Promise<unknown> {
  switch (kind) {
    case 's3-put': {
      if (!flags.key) throw new UsageError('s3-put needs --key KEY (an object in the local S3)');
      const bucket = flags.bucket ?? rt.names.buckets.drop;
      const head = await rt.clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: flags.key })).catch(() => undefined);
      if (!head) throw new InputError(`s3://${bucket}/${flags.key} is not in the local S3: drop it first (\`sluice run FILE\`, or \`aws s3 cp\` against \`sluice dev\`)`);
      const etag = head.ETag!.replace(/"/g, '');
      const body = s3Notification({ bucket, key: flags.key, etag, size: head.ContentLength ?? 0, multipart: etag.includes('-') }, Date.now().toString(16).toUpperCase().padStart(16, '0'));
      return sqsEvent(rt, 'ingest', [JSON.stringify(body)]);
    }
    case 's3-test':
      return sqsEvent(rt, 'ingest', [JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Time: new Date().toISOString(), Bucket: rt.names.buckets.drop, RequestId: 'LOCAL', HostId: 'local' })]);
    case 'sqs-enrich':
    case 'sqs-decide': {
      const jobId = flags.job ?? (await rt.store.listJobs(1))[0]?.jobId;
      if (!jobId) throw new InputError('no job in this state: run a file first (`sluice run ${aSample()}`)');
      const job = await rt.store.getJob(jobId);
      if (!job) throw new InputError(`no job ${jobId} (see \`sluice status\`)`);
      const refs: GroupRef[] = [];
      for await (const g of rt.store.listGroups(jobId)) {
        if (!g.notes || g.shard === undefined) continue; // not yet enriched: its records range is not on its item
        refs.push({ jobId, groupId: g.groupId, profile: job.profile, mode: job.mode as Mode, noteCount: g.noteCount, shard: g.shard, notes: g.notes });
        if (refs.length >= flags.groups) break;
      }
      if (!refs.length) throw new InputError(`job ${jobId} has no group with stored records yet (status ${job.status}); wait for it, or pick another --job`);
      return sqsEvent(rt, kind === 'sqs-enrich' ? 'enrich' : 'decide', packGroups(refs).map((m) => JSON.stringify(m)));
    }
    case 'scheduled': {
      const target = flags.function ?? 'backfill';
      const rule = Object.entries(topology.schedules).find(([, s]) => s.target === target)?.[0] ?? target;
      return scheduledEvent(`arn:aws:events:us-east-1:000000000000:rule/${resourceName('local', rule)}`, 'us-east-1', '000000000000');
    }
  }
}

function sqsEvent(rt: LocalRuntime, queue: QueueName, bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((Body) =>
      toRecord({ MessageId: randomUUID(), ReceiptHandle: `local-${randomUUID()}`, Body, MD5OfBody: createHash('md5').update(Body).digest('hex') }, rt.names.queues[queue].arn),
    ),
  };
}
