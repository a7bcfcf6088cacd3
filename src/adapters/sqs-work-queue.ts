/** Work queue adapter over SQS: SendMessageBatch in tens (at most 256 KiB each), a few sends in flight, failed entries retried. */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import type { DeadLetters, WorkQueue } from '../pipeline/ports.ts';

export function createWorkQueue(client: SQSClient, queueUrl: string, concurrency = 8): WorkQueue {
  const limit = pLimit(concurrency);
  return {
    async sendAll(bodies) {
      await Promise.all(batchesOf(bodies.map((b) => JSON.stringify(b))).map((batch) => limit(() => sendBatch(client, queueUrl, batch))));
    },
  };
}

/** SendMessageBatch's limits: ten messages and 256 KiB of bodies in all. */
const BATCH_MESSAGES = 10;
const BATCH_BYTES = 256 * 1024;

/** Bodies in order, cut into batches within SendMessageBatch's limits. */
export function batchesOf(bodies: string[]): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body);
    if (batch.length && (batch.length === BATCH_MESSAGES || bytes + size > BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(body);
    bytes += size;
  }
  if (batch.length) batches.push(batch);
  return batches;
}

async function sendBatch(client: SQSClient, queueUrl: string, batch: string[]): Promise<void> {
  let entries = batch.map((MessageBody, i) => ({ Id: String(i), MessageBody }));
  for (let attempt = 0; entries.length; attempt++) {
    if (attempt > 6) throw new Error(`SQS refused ${entries.length} messages after retries`);
    if (attempt) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    const r = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    const failed = new Set((r.Failed ?? []).map((f) => f.Id));
    entries = entries.filter((e) => failed.has(e.Id));
  }
}

/** The reason attributes a dead-lettered message carries (`sluice status` and `sluice redrive` show them). */
export const REASON_ATTRIBUTE = 'sluice-reason';
export const ORIGIN_ATTRIBUTE = 'sluice-origin-message';

/** A DLQ as the place for poison messages: the body as it came, its reason and origin as attributes. */
export function createDeadLetters(client: SQSClient, dlqUrl: string): DeadLetters {
  return {
    async send(body, reason, messageId) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: body || '(empty)',
          MessageAttributes: {
            [REASON_ATTRIBUTE]: { DataType: 'String', StringValue: reason },
            [ORIGIN_ATTRIBUTE]: { DataType: 'String', StringValue: messageId },
          },
        }),
      );
    },
  };
}
