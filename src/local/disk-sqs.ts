// Hand-written: fauxqs keeps every queued message in memory as well as in its SQLite file, and no maintained SQS emulator keeps its queues on disk; this moves fauxqs's ready lists into that file.
/**
 * fauxqs's on-disk mode with its ready messages on disk only. fauxqs writes every message through to SQLite
 * but also holds each one, body and all, in its queue's `messages` array until it is received (~1.3 KB of
 * heap per ten-group message: 85,250 of them, ~110 MB, after a 1 GiB ingest). Here a standard queue's
 * `messages` is a view of its rows in that file (ready: no receipt handle, no delay), read one at a time as
 * fauxqs shifts them off; messages in flight and delayed stay in memory as fauxqs keeps them (bounded by the
 * consumers' batches). The rows stay the only truth, as they were for fauxqs's own restarts: nothing is
 * derived that a kill -9 could leave stale. Also mended: fauxqs's `updateMessageReady` (ChangeMessageVisibility
 * to 0) wrote NULL into the NOT NULL receive count and failed on disk; here it clears the receipt handle only.
 * FIFO queues are left as fauxqs keeps them (sluice has none).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** A queued message as fauxqs's queues hold it. */
interface FauxqsMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  messageAttributes: Record<string, unknown>;
  md5OfMessageAttributes: string;
  sentTimestamp: number;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number;
  delayUntil?: number;
  messageGroupId?: string;
  messageDeduplicationId?: string;
  sequenceNumber?: string;
}

/** The parts of fauxqs's SqsQueue this reads and replaces (fauxqs is pinned). */
interface FauxqsQueue {
  name: string;
  messages: { length: number; push(...m: FauxqsMessage[]): number; shift(): FauxqsMessage | undefined };
  inflightMessages: Map<string, { message: FauxqsMessage; receiptHandle: string; visibilityDeadline: number }>;
  delayedMessages: FauxqsMessage[];
  isFifo(): boolean;
  purge(): void;
}

interface FauxqsStore {
  createQueue(...args: unknown[]): FauxqsQueue;
}

interface FauxqsPersistence {
  db: DatabaseSync;
  loadSqsMessages(queue: FauxqsQueue): void;
  insertMessage(...args: unknown[]): void;
  deleteMessage(...args: unknown[]): void;
  updateMessageInflight(...args: unknown[]): void;
  updateMessageReady(messageId: string): void;
}

type Row = Record<string, string | number | null>;

function toMessage(row: Row): FauxqsMessage {
  const opt = <T>(v: unknown) => (v ?? undefined) as T | undefined;
  return {
    messageId: row.message_id as string,
    body: row.body as string,
    md5OfBody: row.md5_of_body as string,
    messageAttributes: JSON.parse(row.message_attributes as string),
    md5OfMessageAttributes: row.md5_of_message_attributes as string,
    sentTimestamp: row.sent_timestamp as number,
    approximateReceiveCount: row.approximate_receive_count as number,
    approximateFirstReceiveTimestamp: opt<number>(row.approximate_first_receive_timestamp),
    delayUntil: opt<number>(row.delay_until),
    messageGroupId: opt<string>(row.message_group_id),
    messageDeduplicationId: opt<string>(row.message_deduplication_id),
    sequenceNumber: opt<string>(row.sequence_number),
  };
}

function statements(db: DatabaseSync) {
  // A queue's ready rows in send order, found without a scan (the partial index holds ready rows only).
  db.exec('CREATE INDEX IF NOT EXISTS sluice_ready ON sqs_messages (queue_name) WHERE receipt_handle IS NULL AND delay_until IS NULL');
  const p = (sql: string): StatementSync => db.prepare(sql);
  const ready = 'queue_name = ? AND receipt_handle IS NULL AND delay_until IS NULL';
  return {
    first: p(`SELECT * FROM sqs_messages INDEXED BY sluice_ready WHERE ${ready} ORDER BY rowid LIMIT 1`),
    all: p(`SELECT * FROM sqs_messages INDEXED BY sluice_ready WHERE ${ready} ORDER BY rowid`),
    count: p(`SELECT count(*) AS n FROM sqs_messages INDEXED BY sluice_ready WHERE ${ready}`),
    /** Back to ready: a message whose visibility expired or was set to 0, or whose delay is over. */
    ready: p('UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL, delay_until = NULL WHERE message_id = ?'),
    expire: p('UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE queue_name = ? AND receipt_handle IS NOT NULL AND visibility_deadline <= ?'),
    due: p('UPDATE sqs_messages SET delay_until = NULL WHERE queue_name = ? AND receipt_handle IS NULL AND delay_until <= ?'),
    held: p('SELECT * FROM sqs_messages WHERE queue_name = ? AND (receipt_handle IS NOT NULL OR delay_until IS NOT NULL) ORDER BY rowid'),
  };
}

type Statements = ReturnType<typeof statements>;

/**
 * A queue's ready messages: its rows with no receipt handle and no delay, oldest first (a message whose
 * visibility expired keeps its place, as SQS's standard queues promise no order). What fauxqs's queue calls
 * `messages`; fauxqs writes a new message's row before it pushes it, and a received one's receipt handle (or
 * its move to the dead-letter queue) right after it shifts it, so only the count is kept here.
 */
class ReadyList {
  length = 0;
  private readonly s: Statements;
  private readonly queue: string;
  constructor(s: Statements, queue: string) {
    this.s = s;
    this.queue = queue;
  }

  push(...messages: FauxqsMessage[]): number {
    // A new message's row is ready as written; one received before or delayed is made ready.
    for (const m of messages) if (m.approximateReceiveCount > 0 || m.delayUntil !== undefined) this.s.ready.run(m.messageId);
    this.length += messages.length;
    return this.length;
  }

  shift(): FauxqsMessage | undefined {
    const row = this.s.first.get(this.queue) as Row | undefined;
    this.length = row ? Math.max(0, this.length - 1) : 0;
    return row ? toMessage(row) : undefined;
  }

  /** Counts the ready rows again (after a load or a purge). */
  recount(): void {
    this.length = Number((this.s.count.get(this.queue) as { n: number }).n);
  }

  *[Symbol.iterator](): Iterator<FauxqsMessage> {
    for (const row of this.s.all.iterate(this.queue) as Iterable<Row>) yield toMessage(row);
  }
}

/**
 * Makes the standard queues of `store` keep their ready messages in `persistence`'s database. Call before
 * `persistence.loadSqsAndSns(store, …)`: it wraps the store's queue creation and the load of each queue.
 * @example keepReadyMessagesOnDisk(sqsStore, persistence); persistence.loadSqsAndSns(sqsStore, snsStore);
 */
export function keepReadyMessagesOnDisk(store: FauxqsStore, persistence: FauxqsPersistence): void {
  const s = statements(persistence.db);
  const lists = new WeakMap<FauxqsQueue, ReadyList>();
  const createQueue = store.createQueue.bind(store);
  store.createQueue = (...args: unknown[]) => {
    const queue = createQueue(...args);
    if (queue.isFifo()) return queue;
    const list = new ReadyList(s, queue.name);
    lists.set(queue, list);
    queue.messages = list;
    const purge = queue.purge.bind(queue);
    queue.purge = () => {
      purge(); // empties fauxqs's arrays and deletes the queue's rows
      queue.messages = list;
      list.recount();
    };
    return queue;
  };

  const load = persistence.loadSqsMessages.bind(persistence);
  persistence.loadSqsMessages = (queue: FauxqsQueue) => {
    const list = lists.get(queue);
    if (!list) return load(queue);
    const now = Date.now();
    s.expire.run(queue.name, now);
    s.due.run(queue.name, now);
    list.recount();
    for (const row of s.held.iterate(queue.name) as Iterable<Row>) {
      const message = toMessage(row);
      if (row.receipt_handle) queue.inflightMessages.set(row.receipt_handle as string, { message, receiptHandle: row.receipt_handle as string, visibilityDeadline: row.visibility_deadline as number });
      else queue.delayedMessages.push(message);
    }
  };

  persistence.updateMessageReady = (messageId: string) => {
    s.ready.run(messageId);
  };
}

/**
 * One SQLite transaction per reply instead of one per message: fauxqs commits each message's write on its own (a
 * SendMessageBatch of ten: ten commits; a receive of ten: ten more), and a commit costs more than its write. Here
 * the first write opens a transaction and it is committed before any reply leaves (`onReply` is fauxqs's app's
 * onSend hook), or at the end of the event loop's turn when no reply follows (a timer's write). A caller is only
 * ever told of what is committed, so a kill -9 loses nothing it was told of; what it was not told of it retries.
 * @example commitBeforeEachReply(persistence, (commit) => app.addHook('onSend', async (_q, _r, payload) => (commit(), payload)));
 */
export function commitBeforeEachReply(persistence: FauxqsPersistence, onReply: (commit: () => void) => void): void {
  const { db } = persistence;
  const commit = () => {
    if (db.isTransaction) db.exec('COMMIT');
  };
  const open = () => {
    if (db.isTransaction) return;
    db.exec('BEGIN');
    setImmediate(commit);
  };
  for (const name of ['insertMessage', 'deleteMessage', 'updateMessageInflight', 'updateMessageReady'] as const) {
    const write = persistence[name].bind(persistence) as (...args: unknown[]) => void;
    persistence[name] = (...args: unknown[]) => {
      open();
      write(...args);
    };
  }
  onReply(commit);
}
