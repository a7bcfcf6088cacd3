/** `sluice redrive QUEUE`: move a DLQ's messages back to its queue. */
import { Argument, Command, Option } from 'commander';
import { redriveDlq } from '../../adapters/sqs-redrive.ts';
import { type QueueName, topology } from '../../topology/topology.ts';
import { EXIT, type StackFlags, act, stackOptions, wholeNumber, withStack } from '../shared.ts';
import { localDlqDepths } from './status.ts';

export function redriveCommand(): Command {
  const cmd = new Command('redrive')
    .description("move a DLQ's messages back to its queue (SQS's message-move task deployed; receive and send locally)")
    .addArgument(new Argument('<queue>', 'the queue whose DLQ is drained').choices(Object.keys(topology.queues)))
    .addOption(new Option('--max <n>', 'move at most n messages').argParser(wholeNumber(1)))
    .option('--json', 'one JSON object on stdout');
  return stackOptions(cmd).action(act(async (queue: QueueName, flags: StackFlags & { max?: number; json?: boolean }) =>
    withStack(flags, false, async (rt) => {
      const q = rt.names.queues[queue];
      const result = await redriveDlq(rt.clients.sqs, { dlqUrl: q.dlqUrl, dlqArn: q.dlqArn, sourceUrl: q.url, sourceArn: q.arn }, flags.max ?? Number.POSITIVE_INFINITY);
      const left = (await localDlqDepths(rt))[queue] ?? 0;
      if (flags.json) process.stdout.write(`${JSON.stringify({ queue, ...result, left })}\n`);
      else process.stdout.write(`${queue}: moved ${result.moved} message(s) from its DLQ back to the queue (${result.method}); ${left} left in the DLQ\n`);
      return EXIT.ok;
    })),
  );
}
