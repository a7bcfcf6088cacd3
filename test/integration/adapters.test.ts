// Under test: the S3, SQS and DynamoDB adapters against the embedded emulators over loopback — the
// conditional writes and atomic counters the pipeline's exactly-once behaviour rests on, streamed
// multipart objects, batched sends, and the S3 → SQS notification for objects created by any client.
import { createHash } from 'node:crypto';
import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, ListTablesCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore } from '../../src/adapters/s3-object-store.ts';
import { batchesOf, createWorkQueue } from '../../src/adapters/sqs-work-queue.ts';
import { JobStatus, emptyCounts } from '../../src/domain/job.ts';
import { shardOf, shardSizes } from '../../src/pipeline/ledger.ts';
import { reconcileJobs } from '../../src/pipeline/reconcile.ts';
import { SqsEventSource } from '../../src/local/event-source.ts';
import { type LocalRuntime, localClients, startLocalRuntime } from '../../src/local/runtime.ts';
import { note } from '../helpers/factories.ts';

let rt: LocalRuntime;
beforeAll(async () => {
  rt = await startLocalRuntime({ logLevel: 'SILENT', pollers: false });
});
afterAll(async () => {
  await rt?.stop();
});

async function drain(queueUrl: string, expected: number, timeoutMs = 10_000): Promise<string[]> {
  const bodies: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (bodies.length < expected && Date.now() < deadline) {
    const r = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const m of r.Messages ?? []) {
      bodies.push(m.Body!);
      await rt.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  return bodies;
}

function newJob(jobId: string) {
  return {
    jobId,
    bucket: 'b',
    key: `incoming/claims/${jobId}.csv`,
    etag: 'e',
    size: 1,
    profile: 'claims',
    mode: 'full' as const,
    status: JobStatus.RECEIVED,
    counts: emptyCounts(),
    timings: { receivedAt: new Date().toISOString() },
  };
}

describe('DynamoDB status store', () => {
  it('creates a job once: a second create returns the stored job, unchanged', async () => {
    const first = await rt.store.createJob(newJob('j-create'));
    const second = await rt.store.createJob({ ...newJob('j-create'), size: 999 });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.job.size).toBe(1);
  });

  it('counts each group once in the settle ledger, however often and however concurrently it is replayed', async () => {
    // Prepare: 600 groups in three shards (250, 250, 100)
    await rt.store.createJob(newJob('j-ledger'));
    const sizes = shardSizes(600);
    await rt.store.openLedger('j-ledger', sizes.map((expected, shard) => ({ shard, expected })));
    await rt.store.recordIngestCounts('j-ledger', { rows: 600, accepted: 600, rejected: 0, duplicates: 0, groups: 600 }, sizes.length);
    const groups = Array.from({ length: 600 }, (_, i) => ({ id: `G${i}`, shard: shardOf(i), failed: i % 10 === 0 }));
    const count = (g: (typeof groups)[number]) =>
      rt.store.countGroups('j-ledger', g.shard, [{ groupId: g.id, marks: { enriched: !g.failed, pending: false, settled: g.failed ? 'failed' : 'decided' } }]);
    // Act: every group counted twice at once (a duplicate delivery racing the first), then the first shard replayed whole
    await Promise.all(groups.slice(0, 599).flatMap((g) => [count(g), count(g)]));
    const before = await rt.store.getJob('j-ledger');
    await Promise.all(groups.slice(0, 250).map(count));
    const last = await count(groups[599]!);
    // Assess: the open shard is summed live, closed shards once, and the last group closes the ledger
    expect(sizes).toEqual([250, 250, 100]);
    expect(before!.ledger).toEqual({ shards: 3, closed: 2 });
    expect(before!.counts).toMatchObject({ decided: 539, failed: 60, enriched: 539 });
    expect(last!.ledger).toEqual({ shards: 3, closed: 3 });
    expect(last!.counts).toMatchObject({ decided: 540, failed: 60, enriched: 540, pending: 0 });
    const shards = await rt.store.readLedger('j-ledger');
    expect(shards.map((s) => s.decided.size + s.failed.size)).toEqual([250, 250, 100]);
  });

  it('keeps each open shard’s counts exact when many members are counted at once, some of them again (a replay)', async () => {
    // Prepare: one shard of 250 groups, none settled (the job's live counts are summed from its counts)
    await rt.store.createJob(newJob('j-replay'));
    await rt.store.openLedger('j-replay', [{ shard: 0, expected: 250 }]);
    await rt.store.recordIngestCounts('j-replay', { rows: 250, accepted: 250, rejected: 0, duplicates: 0, groups: 250 }, 1);
    const members = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ groupId: `R${from + i}`, marks: { enriched: true, pending: (from + i) % 2 === 0 } }));
    // Act: 120 in one call (more than one write's worth), then 200 of which those 120 again, twice at once
    await rt.store.countGroups('j-replay', 0, members(0, 120));
    const first = (await rt.store.getJob('j-replay'))!.counts;
    await Promise.all([rt.store.countGroups('j-replay', 0, members(0, 200)), rt.store.countGroups('j-replay', 0, members(0, 200))]);
    const after = (await rt.store.getJob('j-replay'))!.counts;
    // Assess
    expect(first).toMatchObject({ enriched: 120, pending: 60, decided: 0 });
    expect(after).toMatchObject({ enriched: 200, pending: 100, decided: 0, failed: 0 });
    const [shard] = await rt.store.readLedger('j-replay');
    expect([shard!.enriched.size, shard!.pending.size]).toEqual([200, 100]);
    await expect(rt.store.countGroups('j-replay', 1, members(0, 3))).rejects.toThrow(/no ledger shard 1/);
    // A shard stored by a sluice before the counts were kept (members only) is counted by its members.
    await rt.clients.dynamodb.send(new PutItemCommand({ TableName: rt.names.table, Item: { pk: { S: 'JOB#j-replay' }, sk: { S: 'LEDGER#000001' }, expected: { N: '10' }, mEnriched: { SS: ['a', 'b', 'c'] }, mDecided: { SS: ['a'] } } }));
    await rt.store.recordIngestCounts('j-replay', { rows: 260, accepted: 260, rejected: 0, duplicates: 0, groups: 260 }, 2);
    expect((await rt.store.getJob('j-replay'))!.counts).toMatchObject({ enriched: 203, pending: 100, decided: 1 });
  });

  it('counts each chunk and partition of an ingest done once, its rows read once, however often it is saved', async () => {
    // Prepare
    await rt.store.createJob(newJob('j-parts'));
    const chunk = (i: number) => ({ rows: 100 + i, rejected: i, partitions: [0, i % 3], rejects: i % 2 === 1 });
    // Act: four chunks, each saved twice at once (a redelivery racing the first), then chunk 2 a third time
    const done = await Promise.all([0, 1, 2, 3].flatMap((i) => [rt.store.saveChunk('j-parts', i, chunk(i)), rt.store.saveChunk('j-parts', i, chunk(i))]));
    const again = await rt.store.saveChunk('j-parts', 2, chunk(2));
    const partitions = await Promise.all([0, 1, 1].map((p) => rt.store.savePartition('j-parts', p, { accepted: 5, rejected: 0, duplicates: 1, groups: 2, shards: 1, rejects: true })));
    // Assess
    expect(Math.max(...done)).toBe(4);
    expect(again).toBe(4);
    expect(Math.max(...partitions)).toBe(2);
    expect((await rt.store.getJob('j-parts'))!.rowsRead).toBe(100 + 101 + 102 + 103);
    const parts = await rt.store.readIngestParts('j-parts');
    expect(parts.chunks.map((c) => [c.chunk, c.rows, c.partitions])).toEqual([[0, 100, [0, 0]], [1, 101, [0, 1]], [2, 102, [0, 2]], [3, 103, [0, 0]]]);
    expect(parts.partitions.map((p) => p.partition)).toEqual([0, 1]);
    await expect(rt.store.saveChunk('j-unknown', 0, chunk(0))).rejects.toThrow(/unknown job/);
  });

  it('lets exactly one of several concurrent finalizers take the lease, and another take it once it expires', async () => {
    await rt.store.createJob(newJob('j-final'));
    await rt.store.startIngest('j-final', new Date().toISOString(), 'full', { owner: 'm1', until: Date.now() + 60_000, now: Date.now() }, 'v-test');
    await rt.store.finishIngest('j-final', new Date().toISOString());
    const now = Date.now();
    const taken = await Promise.all(Array.from({ length: 6 }, () => rt.store.tryStartFinalize('j-final', now + 60_000, now)));
    expect(taken.filter(Boolean)).toHaveLength(1);
    expect(await rt.store.tryStartFinalize('j-final', now + 120_000, now + 1_000)).toBe(false);
    expect(await rt.store.tryStartFinalize('j-final', now + 180_000, now + 61_000)).toBe(true);
  });

  it('applies a decision once; a failure after it is refused', async () => {
    await rt.store.createJob(newJob('j-decide'));
    const enrichment = {
      provider: 'offline',
      model: 'm',
      promptVersion: 'p',
      mode: 'full' as const,
      stages: { causeCode: 'done' as const },
      eligibleNoteIds: ['n1'],
      ineligible: [],
      provenance: { chunkIds: [] },
    };
    expect(await rt.store.saveEnrichment('j-decide', 'G1', 1, enrichment as never, 0, { key: 'records/j-decide/p0000.jsonl', start: 0, end: 10 }, new Date().toISOString())).toBe('applied');
    const decision = { outcome: 'yes', rule: 'r', reason: 'because', rules: [], basedOn: {} };
    const results = await Promise.all([1, 2, 3].map(() => rt.store.saveDecision('j-decide', 'G1', decision as never, new Date().toISOString())));
    expect(results.filter((r) => r === 'applied')).toHaveLength(1);
    expect(await rt.store.markGroupFailed('j-decide', 'G1', 'decide', 'boom', 0, new Date().toISOString())).not.toBe('applied');
    expect((await rt.store.getGroup('j-decide', 'G1'))!.status).toBe('DECIDED');
  });

  it('lists each group’s marks without reading its enrichment whole: enriched, pending, settled, and its shard', async () => {
    await rt.store.createJob(newJob('j-marks'));
    const at = new Date().toISOString();
    const enrichment = (stage: 'done' | 'pending') => ({ provider: 'offline', model: 'm', promptVersion: 'p', mode: 'full' as const, stages: { causeCode: 'done' as const, summary: stage }, eligibleNoteIds: ['n1'], ineligible: [], provenance: { chunkIds: [] } });
    const notes = (g: string) => ({ key: 'records/j-marks/p0000.jsonl', start: 0, end: g.length });
    await rt.store.saveEnrichment('j-marks', 'pending', 1, enrichment('pending') as never, 3, notes('a'), at);
    await rt.store.saveEnrichment('j-marks', 'decided', 1, enrichment('done') as never, 4, notes('b'), at);
    await rt.store.saveDecision('j-marks', 'decided', { outcome: 'yes', rule: 'r', reason: 'x', rules: [], basedOn: {} } as never, at);
    await rt.store.markGroupFailed('j-marks', 'failed', 'enrich', 'boom', 5, at);
    const marks: Record<string, unknown> = {};
    for await (const g of rt.store.listGroupMarks('j-marks')) marks[g.groupId] = { shard: g.shard, ...g.marks };
    expect(marks).toEqual({
      pending: { shard: 3, enriched: true, pending: true, settled: undefined },
      decided: { shard: 4, enriched: true, pending: false, settled: 'decided' },
      failed: { shard: 5, enriched: false, pending: false, settled: 'failed' },
    });
  });

  it('lists every group of a job once, in key order, across many pages, and a listing left early fails nothing', async () => {
    // Arrange: 1,200 groups of ~2 KB each (several 1 MB pages)
    await rt.store.createJob(newJob('j-pages'));
    const at = new Date().toISOString();
    const enrichment = { provider: 'offline', model: 'm', promptVersion: 'p', mode: 'full' as const, stages: { summary: 'done' as const }, summary: 'x'.repeat(2000), eligibleNoteIds: ['n1'], ineligible: [], provenance: { chunkIds: [] } };
    const ids = Array.from({ length: 1200 }, (_, i) => `G${String(i).padStart(5, '0')}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((g) => rt.store.saveEnrichment('j-pages', g, 1, enrichment as never, 0, { key: 'records/j-pages/p0000.jsonl', start: 0, end: 1 }, at)));
    }
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Act: the whole listing, taken slowly page by page, and one left after its first group
      const listed: string[] = [];
      for await (const g of rt.store.listGroups('j-pages')) {
        listed.push(g.groupId);
        if (listed.length % 300 === 0) await new Promise((r) => setTimeout(r, 20));
      }
      for await (const g of rt.store.listGroups('j-pages')) {
        expect(g.groupId).toBe(ids[0]);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
      // Assess: each group once, in key order; nothing unhandled
      expect(listed).toEqual(ids);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('has the reconciler count again, once, the groups whose counts a crash lost, from their marks', async () => {
    // Arrange: three groups stored in one shard, the counts of two of them lost (a kill between the two writes); an
    // older job the reconciler cannot look at (its profile version is in no registry)
    await rt.store.createJob(newJob('j-gone'));
    await rt.store.startIngest('j-gone', new Date().toISOString(), 'full', { owner: 'm1', until: Date.now() + 60_000, now: Date.now() }, 'v-gone');
    await rt.store.recordIngestCounts('j-gone', { rows: 1, accepted: 1, rejected: 0, duplicates: 0, groups: 1 }, 1);
    await rt.store.openLedger('j-gone', [{ shard: 0, expected: 1 }]);
    await rt.store.finishIngest('j-gone', new Date().toISOString());
    await rt.store.createJob({ ...newJob('j-lost'), status: JobStatus.PROCESSING });
    await rt.store.recordIngestCounts('j-lost', { rows: 3, accepted: 3, rejected: 0, duplicates: 0, groups: 3 }, 1);
    await rt.store.openLedger('j-lost', [{ shard: 0, expected: 3 }]);
    const at = new Date().toISOString();
    const enrichment = { provider: 'offline', model: 'm', promptVersion: 'p', mode: 'fast' as const, stages: { causeCode: 'done' as const, summary: 'pending' as const }, eligibleNoteIds: ['n1'], ineligible: [], provenance: { chunkIds: [] } };
    for (const g of ['G1', 'G2', 'G3']) await rt.store.saveEnrichment('j-lost', g, 1, enrichment as never, 0, { key: 'records/j-lost/p0000.jsonl', start: 0, end: 1 }, at);
    await rt.store.saveDecision('j-lost', 'G1', { outcome: 'yes', rule: 'r', reason: 'x', rules: [], basedOn: {} } as never, at);
    await rt.store.countGroups('j-lost', 0, [{ groupId: 'G3', marks: { enriched: true, pending: true } }]);
    // Act: the reconciler's pass (stalled at once), twice
    const deps = { ...rt.operatorDeps(), now: () => new Date() };
    const first = await reconcileJobs(deps, { stallMs: 0, deadline: Date.now() + 60_000 });
    const second = await reconcileJobs(deps, { stallMs: 0, deadline: Date.now() + 60_000 });
    // Assert: the two lost counts written once; the job's counts as its groups are; a job the pass cannot reconcile
    // reported and passed over, not in the way
    expect(first.errors).toContainEqual({ jobId: 'j-gone', error: 'profile claims has no version v-gone in the registry' });
    expect(first.repaired).toContainEqual({ jobId: 'j-lost', groups: 2 });
    expect(second.repaired.find((r) => r.jobId === 'j-lost')).toBeUndefined();
    expect((await rt.store.getJob('j-lost'))!.counts).toMatchObject({ groups: 3, enriched: 3, pending: 3, decided: 1, failed: 0 });
  });
});

describe('S3 object store', () => {
  it('streams a 20 MB body up as a multipart object and back byte for byte', async () => {
    const objects = createObjectStore(rt.clients.s3);
    const part = Buffer.alloc(1024 * 1024, 'claim note line\n');
    const chunks = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`chunk ${i}\n`), part]));
    const expected = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
    await objects.put(rt.names.buckets.results, 'big/object.txt', Readable.from(chunks), 'text/plain');
    const got = await objects.get(rt.names.buckets.results, 'big/object.txt');
    const hash = createHash('sha256');
    for await (const c of got.body) hash.update(c as Buffer);
    expect(hash.digest('hex')).toBe(expected);
    expect(got.etag).toMatch(/^[0-9a-f]{32}-3$/);
    expect(got.size).toBe(Buffer.concat(chunks).length);
  });

  it('writes bytes in memory (one buffer, or pieces in order) in one PutObject, also with a deployed client\'s default checksums', async () => {
    // Prepare: the runtime's client, and one configured as a Lambda's is (CRC32 of every body, trailing for a stream)
    const deployedLike = new S3Client({ endpoint: rt.endpoints.s3, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const pieces = Array.from({ length: 5 }, (_, i) => Buffer.alloc(3 * 1024 * 1024 + i, `piece ${i}\n`));
    const whole = Buffer.concat(pieces);
    for (const [name, client] of [['runtime', rt.clients.s3], ['deployed-like', deployedLike]] as const) {
      const objects = createObjectStore(client);
      // Act
      await objects.put(rt.names.buckets.results, `mem/${name}/pieces.txt`, pieces, 'text/plain');
      await objects.put(rt.names.buckets.results, `mem/${name}/one.txt`, whole, 'text/plain');
      // Assess: the bytes in order, each object one PUT (a plain MD5 ETag, not a multipart one's)
      for (const file of ['pieces', 'one']) {
        const got = await objects.get(rt.names.buckets.results, `mem/${name}/${file}.txt`);
        const hash = createHash('md5');
        for await (const c of got.body) hash.update(c as Buffer);
        expect(hash.digest('hex')).toBe(createHash('md5').update(whole).digest('hex'));
        expect(got.etag).toBe(createHash('md5').update(whole).digest('hex'));
      }
    }
  });
});

describe('the local event source', () => {
  it('drains as a retiring instance: finishes the batch in hand, takes no more, and leaves the rest visible at once', async () => {
    // Prepare: a queue of five messages and an event source (one batch of one at a time) whose handler waits
    const { QueueUrl } = await rt.clients.sqs.send(new CreateQueueCommand({ QueueName: 'drain-test', Attributes: { VisibilityTimeout: '60' } }));
    await rt.clients.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 5 }, (_, i) => ({ Id: String(i), MessageBody: `m${i}` })) }));
    const handled: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let invoked!: () => void;
    const first = new Promise<void>((r) => (invoked = r));
    const source = new SqsEventSource({
      name: 'drain-test',
      sqs: rt.clients.sqs,
      queueUrl: QueueUrl!,
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:drain-test',
      batchSize: 1,
      batchingWindowSeconds: 0,
      maxConcurrency: 1,
      timeoutSeconds: 10,
      waitSeconds: 1,
      visibilitySeconds: 30,
      handler: () => async (event) => {
        handled.push(...event.Records.map((r) => r.body));
        invoked();
        await released;
      },
    });
    source.start();
    await first;
    // Act: drained while its one batch is being handled, which then ends
    const drained = source.drain();
    release();
    await drained;
    // Assess: that one message handled and deleted, the other four received by anyone at once (none held invisible)
    expect(handled).toHaveLength(1);
    const rest = await drain(QueueUrl!, 4, 3_000);
    expect(rest.sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'].filter((m) => m !== handled[0]));
    expect(source.stats).toEqual({ invocations: 1, failedMessages: 0, deletedMessages: 1 });
  });
});

describe('SQS work queue', () => {
  it('sends 23 bodies in batches; every one arrives once', async () => {
    const queue = createWorkQueue(rt.clients.sqs, rt.names.queues.decide.url);
    const bodies = Array.from({ length: 23 }, (_, i) => ({ jobId: 'j', groupId: `G${i}`, profile: 'claims', mode: 'full', noteCount: 1 }));
    await queue.sendAll(bodies);
    const got = (await drain(rt.names.queues.decide.url, 23)).map((b) => JSON.parse(b).groupId).sort();
    expect(got).toEqual(bodies.map((b) => b.groupId).sort());
  });

  it('sends large bodies in batches of at most 256 KiB; every one arrives whole', async () => {
    const queue = createWorkQueue(rt.clients.sqs, rt.names.queues.decide.url);
    // Twelve of ~50 KB: in tens they would be 500 KB batches, which SQS refuses (the local SQS takes them: the
    // batches' sizes are what is checked).
    const bodies = Array.from({ length: 12 }, (_, i) => ({ groupId: `L${i}`, ranges: Array.from({ length: 6000 }, (_, k) => 1_000_000 + k + i) }));
    const batches = batchesOf(bodies.map((b) => JSON.stringify(b)));
    expect(batches.map((b) => b.length)).toEqual([5, 5, 2]);
    expect(Math.max(...batches.map((b) => Buffer.byteLength(b.join(''))))).toBeLessThanOrEqual(256 * 1024);
    await queue.sendAll(bodies);
    const got = (await drain(rt.names.queues.decide.url, 12)).map((b) => JSON.parse(b) as (typeof bodies)[number]).sort((a, b) => a.ranges[0]! - b.ranges[0]!);
    expect(got).toEqual(bodies);
  });
});

describe('S3 → SQS notifications', () => {
  it('delivers an ObjectCreated envelope for a multipart upload made with the plain S3 API', async () => {
    const s3 = rt.clients.s3;
    const Bucket = rt.names.buckets.drop;
    const Key = 'incoming/claims/my claims+notes (1).csv';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const parts = [];
    for (const [i, body] of [Buffer.alloc(5 * 1024 * 1024, 'a'), Buffer.from('tail')].entries()) {
      const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: body }));
      parts.push({ ETag: r.ETag, PartNumber: i + 1 });
    }
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    const [body] = await drain(rt.names.queues.ingest.url, 1);
    const record = JSON.parse(body!).Records[0];
    expect(record.eventName).toBe('ObjectCreated:CompleteMultipartUpload');
    expect(record.s3.bucket.name).toBe(Bucket);
    expect(record.s3.object.key).toBe('incoming/claims/my+claims%2Bnotes+%281%29.csv');
    expect(record.s3.object.eTag).toBe(done.ETag!.replace(/"/g, ''));
    expect(record.s3.object.size).toBe(5 * 1024 * 1024 + 4);
    expect(record.s3.object.sequencer).toMatch(/^[0-9A-F]+$/);
  });

  it('sends nothing for objects outside the drop prefix', async () => {
    await createObjectStore(rt.clients.s3).put(rt.names.buckets.drop, 'elsewhere/file.csv', 'a,b\n1,2\n', 'text/csv');
    expect(await drain(rt.names.queues.ingest.url, 1, 2_500)).toEqual([]);
  });
});

describe('the emulators’ connections', () => {
  // The SDK reuses idle keep-alive sockets; a server that closes one as it is reused fails that call with
  // "socket hang up" (Node closes idle ones after 5 s by default): under load, past the SDK's retries.
  it('stay open however long a client leaves them idle (DynamoDB, SQS, S3)', async () => {
    const idleAfterWait = async (endpoint: string) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      await new Promise<void>((resolve, reject) => {
        get(endpoint, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject);
      });
      await new Promise((r) => setTimeout(r, 6_000));
      const open = Object.values(agent.freeSockets).flat().filter((s) => s && !s.destroyed).length;
      agent.destroy();
      return open;
    };
    // Assess
    expect(await Promise.all([rt.endpoints.dynamodb, rt.endpoints.sqs, rt.endpoints.s3].map(idleAfterWait))).toEqual([1, 1, 1]);
  }, 20_000);
});

describe('the local clients', () => {
  // The emulators verify no signature: the local clients send a well-formed SigV4 header without one (no HMAC chain
  // per request, no SHA-256 of an S3 body), and each emulator still takes them — the whole suite runs on them.
  it('queue calls for their 50 sockets without printing the SDK\'s socket warning to the user\'s terminal', async () => {
    // A handler process runs many batches at once on one client (a Lambda instance each would have its own): 160
    // calls at once, the first 50 of each client's answered after 3.3 s (the rest wait for their sockets). The SDK's
    // default client warns of calls still queued after 3 s.
    let received = 0;
    const server = createServer((req, res) => {
      req.resume();
      const held = received++ % 160 < 50;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{"TableNames":[]}'), held ? 3_300 : 0);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(' '));
    const local = localClients({ s3: url, sqs: url, dynamodb: url }).dynamodb;
    const sdkDefault = new DynamoDBClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    try {
      await Promise.all(Array.from({ length: 160 }, () => local.send(new ListTablesCommand({}))));
      expect(warnings.filter((w) => w.includes('socket usage'))).toEqual([]);
      await Promise.all(Array.from({ length: 160 }, () => sdkDefault.send(new ListTablesCommand({}))));
      expect(warnings.filter((w) => w.includes('socket usage')).length).toBeGreaterThan(0); // the test can see one
    } finally {
      console.warn = warn;
      local.destroy();
      sdkDefault.destroy();
      server.close();
    }
  }, 60_000);

  it('send a well-formed Authorization header with no signature, and no hash of an S3 body', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(500, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const c = localClients({ s3: url, sqs: url, dynamodb: url });
    try {
      await c.dynamodb.send(new ListTablesCommand({})).catch(() => undefined);
      await c.s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x'.repeat(1000) })).catch(() => undefined);
    } finally {
      server.close();
      for (const client of Object.values(c)) client.destroy();
    }
    const [dynamo, s3] = [seen.find((h) => h['x-amz-target']), seen.find((h) => !h['x-amz-target'])];
    expect(dynamo!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=local\/\d{8}\/us-east-1\/dynamodb\/aws4_request, SignedHeaders=host;x-amz-date, Signature=0{64}$/);
    expect(dynamo!['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(s3!.authorization).toMatch(/\/s3\/aws4_request, .*Signature=0{64}$/);
    expect(s3!['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    // And the emulators take them (a round trip each).
    await rt.clients.dynamodb.send(new ListTablesCommand({}));
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.results, Key: 'signer-check', Body: 'ok' }));
    expect(await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.names.queues.enrich.url, MaxNumberOfMessages: 1, WaitTimeSeconds: 0 }))).toBeDefined();
  });
});
