/**
 * Dead-letter queues for operators: look at what is in one (without taking it away), and move its
 * messages back to their source queue. SQS's own message-move task does the move when the endpoint has
 * it (AWS); an endpoint without it (fauxqs) gets receive → send → delete, in that order, so a crash
 * mid-way can only duplicate a message, which the pipeline's steps absorb.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { REASON_ATTRIBUTE } from './sqs-work-queue.ts';

export interface DeadLetter {
  messageId: string;
  body: string;
  /** Why it was moved here at once (poison), or undefined when it ran out of receives. */
  reason?: string;
  receiveCount: number;
  sentAt: string;
}

/**
 * Up to `max` messages of a DLQ, left in it (visible again at once).
 * @example const letters = await peekDlq(sqs, dlqUrl, 100)
 */
export async function peekDlq(client: SQSClient, dlqUrl: string, max: number): Promise<DeadLetter[]> {
  const seen: Message[] = [];
  while (seen.length < max) {
    const r = await client.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: Math.min(10, max - seen.length), WaitTimeSeconds: 0, VisibilityTimeout: 30, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
    );
    if (!r.Messages?.length) break;
    seen.push(...r.Messages);
  }
  for (let i = 0; i < seen.length; i += 10) {
    const batch = seen.slice(i, i + 10);
    await client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: dlqUrl, Entries: batch.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })) }));
  }
  return seen.map((m) => ({
    messageId: m.MessageId!,
    body: m.Body ?? '',
    reason: m.MessageAttributes?.[REASON_ATTRIBUTE]?.StringValue,
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
    sentAt: new Date(Number(m.Attributes?.SentTimestamp ?? 0)).toISOString(),
  }));
}

export interface RedriveTarget {
  dlqUrl: string;
  dlqArn: string;
  sourceUrl: string;
  sourceArn: string;
}

/**
 * Moves up to `max` messages from a DLQ back to its source queue (all of them, by SQS's message-move
 * task where there is one, when `max` is unbounded).
 * @example await redriveDlq(sqs, { dlqUrl, dlqArn, sourceUrl, sourceArn }, 100)
 */
export async function redriveDlq(client: SQSClient, t: RedriveTarget, max: number): Promise<{ moved: number | 'all'; method: 'message-move-task' | 'receive-send' }> {
  if (max === Number.POSITIVE_INFINITY) {
    try {
      await client.send(new StartMessageMoveTaskCommand({ SourceArn: t.dlqArn, DestinationArn: t.sourceArn }));
      return { moved: 'all', method: 'message-move-task' };
    } catch (err) {
      if (!/Unsupported|Unknown|NotImplemented|InvalidAction|not supported/i.test(`${(err as Error).name} ${(err as Error).message}`)) throw err;
    }
  }
  // Only what is there now: a message that fails again at once comes back while this runs.
  const depth = await client.send(new GetQueueAttributesCommand({ QueueUrl: t.dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  const limit = Math.min(max, Number(depth.Attributes?.ApproximateNumberOfMessages ?? 0));
  let moved = 0;
  while (moved < limit) {
    const r = await client.send(new ReceiveMessageCommand({ QueueUrl: t.dlqUrl, MaxNumberOfMessages: Math.min(10, limit - moved), WaitTimeSeconds: 0, VisibilityTimeout: 60 }));
    if (!r.Messages?.length) break;
    for (const m of r.Messages) {
      await client.send(new SendMessageCommand({ QueueUrl: t.sourceUrl, MessageBody: m.Body ?? '' }));
      await client.send(new DeleteMessageCommand({ QueueUrl: t.dlqUrl, ReceiptHandle: m.ReceiptHandle! }));
      moved += 1;
    }
  }
  return { moved, method: 'receive-send' };
}
