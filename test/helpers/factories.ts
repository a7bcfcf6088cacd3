/** Small factories for test inputs: rows, notes, SQS records and S3 notifications. */
import { Readable } from 'node:stream';
import type { SQSRecord } from 'aws-lambda';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalRuntime } from '../../src/local/runtime.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { describeResource, permissionsOf } from '../../src/topology/permissions.ts';
import { type FunctionName, topology } from '../../src/topology/topology.ts';
import type { GroupNote } from '../../src/domain/enrich/enrich-group.ts';
import { type RawRow, readRows } from '../../src/domain/records/read-rows.ts';

export async function rowsOf(content: string | Buffer, key = 'incoming/claims/f.csv', chunkSize = 7): Promise<RawRow[]> {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  // Small chunks exercise every boundary case of the streaming readers.
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const out: RawRow[] = [];
  for await (const r of readRows(Readable.from(chunks), key)) out.push(r);
  return out;
}

/** A CSV `id,note` with rows `1,note 1` … `count,note count`; `replace` swaps whole rows by their 1-based number. */
export function numberedCsv(count: number, replace: Record<number, string> = {}): string {
  const rows = Array.from({ length: count }, (_, i) => replace[i + 1] ?? `${i + 1},note ${i + 1}`);
  return `id,note\n${rows.join('\n')}\n`;
}

export function note(text: string, overrides: Partial<GroupNote> & { lob?: string; date?: string } = {}): GroupNote {
  const { lob = '15', date = '2025-01-01', ...rest } = overrides;
  return { noteId: 'n1', line: 2, values: { lob_code: lob, created_at: date }, attributes: {}, text, ...rest };
}

export function sqsRecord(body: unknown, receiveCount = 1, messageId = `m-${Math.random().toString(36).slice(2)}`): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '0',
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: 'us-east-1',
  };
}

/** Runs an async function and returns what it threw (fails the test if it did not throw). */
export async function thrown(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

/**
 * Local IAM over a run: the calls a function made that were denied, and the permissions its topology access
 * grants that it never used (`except`: actions, or `action on resource`, a run cannot exercise, with the reason at the call site).
 */
export function grantCheck(calls: CallRecord[], fn: FunctionName, except: string[] = []): { denied: string[]; unused: string[] } {
  const key = (c: { action: string; resource: Parameters<typeof describeResource>[0] }) => `${c.action} on ${describeResource(c.resource)}`;
  const mine = calls.filter((c) => c.fn === fn);
  const used = new Set(mine.map(key));
  return {
    denied: mine.filter((c) => !c.allowed).map(key),
    unused: permissionsOf(topology.functions[fn].access)
      .filter((p) => !except.includes(p.action))
      .map(key)
      .filter((g) => !used.has(g) && !except.includes(g)),
  };
}

/**
 * Without event sources (`pollers: false`): hands every message of the chunks queue to the chunk handler
 * until the queue is empty (chunks, then the partitions they fan out), as its event source would.
 */
export async function runChunks(rt: LocalRuntime): Promise<number> {
  let handled = 0;
  for (;;) {
    const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.names.queues.chunks.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const messages = got.Messages ?? [];
    if (!messages.length) return handled;
    for (const m of messages) {
      const r = await rt.invoke('chunk', { Records: [sqsRecord(m.Body!, 1, m.MessageId!)] });
      if (r.batchItemFailures.length) throw new Error(`chunk message ${m.MessageId} failed`);
      await rt.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: rt.names.queues.chunks.url, ReceiptHandle: m.ReceiptHandle! }));
      handled += 1;
    }
  }
}
