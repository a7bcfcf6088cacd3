// Under test: the SQS emulator's on-disk mode (fauxqs with its ready messages in SQLite only: src/local/disk-sqs.ts) through the real SDK over loopback — queued messages off the heap, every message received once, visibility and its reset to 0, receive counts, the dead-letter move, delays, and a restart on the same folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { DatabaseSync } from 'node:sqlite';
import { commitBeforeEachReply } from '../../src/local/disk-sqs.ts';
import { type Emulators, startEmulators } from '../../src/local/emulators.ts';
import { localClients } from '../../src/local/runtime.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1048576;
};

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dir?: string): Promise<{ emu: Emulators; sqs: SQSClient }> {
  const emu = await startEmulators({ stateDir: dir });
  return { emu, sqs: localClients(emu.endpoints).sqs };
}

async function sendMany(sqs: SQSClient, QueueUrl: string, count: number, body = (i: number) => `m${i}`): Promise<void> {
  for (let i = 0; i < count; i += 10)
    await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: Math.min(10, count - i) }, (_, j) => ({ Id: String(j), MessageBody: body(i + j) })) }));
}

async function receive(sqs: SQSClient, QueueUrl: string, max = 10, visibility = 30): Promise<Message[]> {
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: max, WaitTimeSeconds: 0, VisibilityTimeout: visibility, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
  return r.Messages ?? [];
}

async function drain(sqs: SQSClient, QueueUrl: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const batch = await receive(sqs, QueueUrl);
    if (!batch.length) return all;
    all.push(...batch);
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
}

async function depth(sqs: SQSClient, QueueUrl: string): Promise<{ ready: number; inflight: number; delayed: number }> {
  const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes!;
  return { ready: Number(a.ApproximateNumberOfMessages), inflight: Number(a.ApproximateNumberOfMessagesNotVisible), delayed: Number(a.ApproximateNumberOfMessagesDelayed) };
}

describe('the SQS emulator on disk', () => {
  it('keeps queued messages off the heap (in memory, fauxqs holds each, body and all) and delivers each once, in send order', async () => {
    const body = (i: number) => `${i}:${'x'.repeat(2000)}`;
    const measure = async (dir?: string) => {
      const { emu, sqs } = await start(dir);
      try {
        const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'work' }));
        await sendMany(sqs, QueueUrl!, 50); // warm the server, the client and the statements
        await drain(sqs, QueueUrl!);
        const before = heapMb();
        await sendMany(sqs, QueueUrl!, 8000, body);
        const grown = heapMb() - before;
        expect(await depth(sqs, QueueUrl!)).toEqual({ ready: 8000, inflight: 0, delayed: 0 });
        const got = (await drain(sqs, QueueUrl!)).map((m) => Number(m.Body!.split(':')[0]));
        return { grown, got };
      } finally {
        await emu.stop();
      }
    };
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sqs-'));
    dirs.push(dir);
    const disk = await measure(dir);
    const memory = await measure();
    expect(memory.grown).toBeGreaterThan(10); // what the disk mode avoids: 8,000 bodies of 2 KB (16 MB) held by fauxqs
    expect(disk.grown).toBeLessThan(3);
    expect(disk.got).toEqual(Array.from({ length: 8000 }, (_, i) => i));
  });

  it('returns a message whose visibility expired or was set to 0, counting its receives, and moves it to the dead-letter queue after maxReceiveCount', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sqs-'));
    dirs.push(dir);
    const { emu, sqs } = await start(dir);
    try {
      const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'dead' }))).QueueUrl!;
      const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
      const QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'work', Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) } }))).QueueUrl!;
      await sendMany(sqs, QueueUrl, 3);
      const first = await receive(sqs, QueueUrl, 10, 1);
      expect(first.map((m) => m.Body)).toEqual(['m0', 'm1', 'm2']);
      expect(await depth(sqs, QueueUrl)).toEqual({ ready: 0, inflight: 3, delayed: 0 });
      // Visibility to 0 (fauxqs on disk failed this: it wrote NULL into the NOT NULL receive count).
      await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl, Entries: [{ Id: '0', ReceiptHandle: first[0]!.ReceiptHandle!, VisibilityTimeout: 0 }] }));
      const again = await receive(sqs, QueueUrl, 10, 1);
      expect(again.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([['m0', '2']]);
      await new Promise((r) => setTimeout(r, 1200)); // all three visible again
      // Third receive of m0 is over maxReceiveCount 2: it moves to the dead-letter queue; m1 and m2 come a second time.
      const third = await receive(sqs, QueueUrl, 10, 30);
      expect(third.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount]).sort()).toEqual([['m1', '2'], ['m2', '2']]);
      expect((await drain(sqs, dlq)).map((m) => m.Body)).toEqual(['m0']);
    } finally {
      await emu.stop();
    }
  });

  it('after a restart on the same folder, keeps every message where it was: ready, in flight until its visibility ends, delayed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sqs-'));
    dirs.push(dir);
    let QueueUrl: string;
    {
      const { emu, sqs } = await start(dir);
      QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'work' }))).QueueUrl!;
      await sendMany(sqs, QueueUrl, 25);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'late', DelaySeconds: 2 }));
      expect((await receive(sqs, QueueUrl, 5, 2)).map((m) => m.Body)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      await emu.stop();
    }
    const { emu, sqs } = await start(dir);
    try {
      QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'work' }))).QueueUrl!;
      expect(await depth(sqs, QueueUrl)).toEqual({ ready: 20, inflight: 5, delayed: 1 });
      expect((await drain(sqs, QueueUrl)).map((m) => m.Body)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 5}`));
      await new Promise((r) => setTimeout(r, 2200));
      const rest = await drain(sqs, QueueUrl);
      expect(rest.map((m) => m.Body).sort()).toEqual(['late', 'm0', 'm1', 'm2', 'm3', 'm4']);
      expect(rest.find((m) => m.Body === 'm0')?.Attributes?.ApproximateReceiveCount).toBe('2');
      expect(await depth(sqs, QueueUrl)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    } finally {
      await emu.stop();
    }
  });

  it('has every write a reply tells of in the file when the reply arrives: sent, received (in flight), deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sqs-'));
    dirs.push(dir);
    const { emu, sqs } = await start(dir);
    // What a kill -9 at this instant would leave: the file as another connection reads it.
    const rows = () => {
      const db = new DatabaseSync(join(dir, 'fauxqs', 'fauxqs.db'), { readOnly: true });
      try {
        return db.prepare("SELECT count(*) AS n, count(receipt_handle) AS held FROM sqs_messages WHERE queue_name = 'work'").get() as { n: number; held: number };
      } finally {
        db.close();
      }
    };
    try {
      const QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'work' }))).QueueUrl!;
      await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `e${i}`, MessageBody: `m${i}` })) }));
      expect(rows()).toEqual({ n: 10, held: 0 });
      const got = await receive(sqs, QueueUrl, 10, 30);
      expect(got).toHaveLength(10);
      expect(rows()).toEqual({ n: 10, held: 10 });
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: got.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })) }));
      expect(rows()).toEqual({ n: 0, held: 0 });
    } finally {
      await emu.stop();
    }
  });
});

describe('commitBeforeEachReply', () => {
  it('keeps the writes before a reply in one transaction, committed when the reply goes out or, with no reply, at the end of the turn', async () => {
    // Prepare: a SQLite file in WAL mode, as fauxqs keeps it, written through the four methods fauxqs calls
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sqs-'));
    dirs.push(dir);
    const file = join(dir, 'q.db');
    const db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode = WAL; CREATE TABLE m (id TEXT PRIMARY KEY)');
    const insert = db.prepare('INSERT INTO m VALUES (?)');
    const remove = db.prepare('DELETE FROM m WHERE id = ?');
    const persistence = {
      db,
      loadSqsMessages() {},
      insertMessage: (id: unknown) => void insert.run(id as string),
      deleteMessage: (id: unknown) => void remove.run(id as string),
      updateMessageInflight() {},
      updateMessageReady() {},
    };
    let reply = () => {};
    commitBeforeEachReply(persistence, (commit) => (reply = commit));
    const seen = () => {
      const other = new DatabaseSync(file, { readOnly: true });
      try {
        return (other.prepare('SELECT id FROM m ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
      } finally {
        other.close();
      }
    };
    // Act + Assess: a batch of writes is one transaction, seen by no one until its reply
    for (const id of ['a', 'b', 'c']) persistence.insertMessage(id);
    expect(db.isTransaction).toBe(true);
    expect(seen()).toEqual([]);
    reply();
    expect(db.isTransaction).toBe(false);
    expect(seen()).toEqual(['a', 'b', 'c']);
    // A write no reply follows (a timer's) is committed at the end of the turn.
    persistence.deleteMessage('b');
    expect(seen()).toEqual(['a', 'b', 'c']);
    await new Promise((r) => setImmediate(r));
    expect(seen()).toEqual(['a', 'c']);
    db.close();
  });
});
