/**
 * A local stand-in for Lambda's SQS event-source mapping: long-polls a queue, gathers up to the batch
 * size within the batching window, invokes the handler with the real `aws:sqs` event shape, deletes
 * only the messages not listed in `batchItemFailures` (all of them stay when the handler throws), and
 * runs at most `maxConcurrency` batches at once. Visibility timeouts, receive counts and the move to
 * the DLQ after maxReceiveCount are the queue's own (fauxqs), as in AWS.
 *
 * One thing is better than Lambda here: messages are received with a short visibility timeout that is
 * extended while their handler runs, so the work of a runtime that died is visible again within
 * seconds of its restart instead of after the queue's visibility timeout (6× the function's timeout).
 */
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { threadId } from 'node:worker_threads';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { withBatchOrder } from '../llm/priority-limit.ts';

export interface EventSourceOptions {
  name: string;
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  batchingWindowSeconds: number;
  maxConcurrency: number;
  timeoutSeconds: number;
  /** The handler of each worker (a worker is one concurrent invocation: one Lambda instance). */
  handler: (worker: number) => (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;
  onError?: (err: unknown) => void;
  /** Long-poll wait; short in tests so stopping is quick. */
  waitSeconds?: number;
  /** Visibility timeout of each receive, extended every third of it while the handler runs. */
  visibilitySeconds?: number;
}

export interface EventSourceStats {
  invocations: number;
  failedMessages: number;
  deletedMessages: number;
}

export class SqsEventSource {
  readonly stats: EventSourceStats = { invocations: 0, failedMessages: 0, deletedMessages: 0 };
  readonly #o: EventSourceOptions;
  readonly #abort = new AbortController();
  #workers: Promise<void>[] = [];
  readonly #handlers = new Map<number, ReturnType<EventSourceOptions['handler']>>();
  #inFlight = 0;
  #draining = false;

  constructor(options: EventSourceOptions) {
    this.#o = options;
  }

  start(): void {
    for (let i = 0; i < this.#o.maxConcurrency; i++) this.#workers.push(this.#work(i));
  }

  /** Batches being handled right now. */
  get busy(): number {
    return this.#inFlight;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#workers);
  }

  /**
   * Takes no more messages and waits for the batches in hand, as an instance being retired: a receive under way
   * is not aborted (its messages would stay invisible for the visibility timeout) but handled when it returns.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    await Promise.allSettled(this.#workers);
  }

  async #receive(max: number, wait: number): Promise<Message[]> {
    try {
      const r = await this.#o.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.#o.queueUrl,
          MaxNumberOfMessages: Math.min(10, max),
          WaitTimeSeconds: wait,
          VisibilityTimeout: this.#o.visibilitySeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: this.#abort.signal },
      );
      return r.Messages ?? [];
    } catch (err) {
      if (this.#abort.signal.aborted) return [];
      throw err;
    }
  }

  async #work(worker: number): Promise<void> {
    const wait = this.#o.waitSeconds ?? 1;
    while (!this.#abort.signal.aborted && !this.#draining) {
      try {
        const messages = await this.#receive(this.#o.batchSize, wait);
        if (!messages.length) continue;
        // Batching window: keep gathering until the batch is full or the window closes.
        const windowEnds = Date.now() + this.#o.batchingWindowSeconds * 1000;
        while (messages.length < this.#o.batchSize && Date.now() < windowEnds && !this.#abort.signal.aborted && !this.#draining) {
          const more = await this.#receive(this.#o.batchSize - messages.length, 0);
          if (!more.length) await new Promise((r) => setTimeout(r, 50));
          messages.push(...more);
        }
        await this.#invoke(messages, worker);
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        this.#o.onError?.(err);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  async #invoke(messages: Message[], worker: number): Promise<void> {
    const records: SQSRecord[] = messages.map((m) => toRecord(m, this.#o.queueArn));
    const event: SQSEvent = { Records: records };
    this.#inFlight += 1;
    this.stats.invocations += 1;
    let failed: Set<string>;
    const heartbeat = this.#o.visibilitySeconds ? setInterval(() => void this.#extend(messages), (this.#o.visibilitySeconds * 1000) / 3) : undefined;
    try {
      const handler = this.#handlers.get(worker) ?? this.#handlers.set(worker, this.#o.handler(worker)).get(worker)!;
      const response = await withBatchOrder(() => handler(event, lambdaContext(this.#o.name, this.#o.timeoutSeconds, worker)));
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (err) {
      // A handler that throws fails the whole batch, as on Lambda.
      this.#o.onError?.(err);
      failed = new Set(records.map((r) => r.messageId));
    } finally {
      clearInterval(heartbeat);
      this.#inFlight -= 1;
    }
    this.stats.failedMessages += failed.size;
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (!done.length) return;
    await this.#o.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.#o.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    this.stats.deletedMessages += done.length;
  }

  async #extend(messages: Message[]): Promise<void> {
    try {
      await this.#o.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.#o.queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: this.#o.visibilitySeconds })),
        }),
      );
    } catch (err) {
      if (!this.#abort.signal.aborted) this.#o.onError?.(err);
    }
  }
}

/** An SQS message as the Lambda event source hands it to a function (one record of an SQSEvent). */
export function toRecord(m: Message, queueArn: string): SQSRecord {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
        k,
        { stringValue: v.StringValue, binaryValue: v.BinaryValue ? Buffer.from(v.BinaryValue).toString('base64') : undefined, stringListValues: [], binaryListValues: [], dataType: v.DataType ?? 'String' },
      ]),
    ),
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: queueArn.split(':')[3] ?? 'us-east-1',
  };
}

let requestCounter = 0;

/** A Lambda context with a real deadline, so code that budgets its time behaves as deployed. */
export function lambdaContext(functionName: string, timeoutSeconds: number, worker = 0): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  requestCounter += 1;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: `local-${process.pid}-${threadId}-${worker}-${requestCounter}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${worker}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
