// Under test: nothing doubled. Every message of a run is delivered twice at once to its handler (SQS's
// at-least-once delivery, at its worst), and the file's S3 notification is sent twice at once: the job ends
// with the counts, outcomes and result files of a run where each message came once (the file cut as a large one
// is, in chunks of the larger size). And the same file cut into 15 chunks and 9 partitions (parallel ingest; a
// malformed quote near its end leaves the rest one chunk) ends exactly as one chunk of it does, whether a
// partition's message carries its ranges of the chunks' heads files or not (a file of more chunks than a message holds),
// and whether each claim's notes sit together or far apart. A delivery of an object another delivery is ingesting
// returns at once, and takes the ingest over once that one's lease lapses.
import { readFileSync } from 'node:fs';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Job, JobStatus, emptyCounts, jobIdFor } from '../../src/domain/job.ts';
import type { SqsHandler } from '../../src/lambda/sqs-steps.ts';
import { type LocalRuntime, s3Notification, startLocalRuntime } from '../../src/local/runtime.ts';
import { MAX_NOTE_RUNS, unpackGroups } from '../../src/pipeline/process-group.ts';
import { runChunks, sqsRecord } from '../helpers/factories.ts';

const sample = readFileSync('samples/claims-notes.csv');
let once: LocalRuntime;
let twice: LocalRuntime;
let chunked: LocalRuntime;
let spread: LocalRuntime;
/** Small chunks and partitions: the 137 KB sample becomes 15 chunks and 9 partitions. */
const SMALL = { chunkBytes: 8 * 1024, partitionBytes: 16 * 1024 };
/** As a large file is cut (DEFAULT_CHUNKING.large): the sample is over 64 KB, so its chunks are 16 KiB: eight (the last from a malformed quote to the end). */
const LARGE = { ...SMALL, large: { fromBytes: 64 * 1024, chunkBytes: 16 * 1024 } };
const deliveries = { ingest: 0, chunk: 0, enrich: 0, decide: 0 };
/** Groups handed to enrich and decide (a message carries up to ten). */
const groupDeliveries = { enrich: 0, decide: 0 };

// Each batch is handed to the handler twice, concurrently, as two pollers receiving the same messages would.
const doubled = (fn: keyof typeof deliveries, handler: SqsHandler): SqsHandler => async (event, context) => {
  deliveries[fn] += event.Records.length * 2;
  if (fn === 'enrich' || fn === 'decide') groupDeliveries[fn] += event.Records.reduce((n, r) => n + unpackGroups(JSON.parse(r.body)).length, 0) * 2;
  const [first, second] = await Promise.all([handler(event, context), handler(event, context)]);
  return { batchItemFailures: [...first.batchItemFailures, ...second.batchItemFailures] };
};

/**
 * Partition messages of even number arrive without their ranges, as the chunk step sends them for a file of more
 * than RANGES_IN_MESSAGE chunks: those partitions read the chunks' summaries themselves.
 */
const evenWithoutRanges = (fn: keyof typeof deliveries, handler: SqsHandler): SqsHandler => async (event, context) => {
  if (fn !== 'chunk') return handler(event, context);
  const Records = event.Records.map((r) => {
    const { heads, ...rest } = JSON.parse(r.body) as { kind: string; partition: number; heads?: number[] };
    if (rest.kind !== 'partition') return r;
    expect(heads?.length).toBeGreaterThan(0);
    stripped.push(rest.partition % 2 === 0);
    return rest.partition % 2 === 0 ? { ...r, body: JSON.stringify(rest) } : r;
  });
  return handler({ ...event, Records }, context);
};
const stripped: boolean[] = [];

/** The runs each enriched group's notes lie in, as its message names them (one, or one and its `more`). */
const runsPerGroup: number[] = [];
const countRuns = (fn: keyof typeof deliveries, handler: SqsHandler): SqsHandler => async (event, context) => {
  if (fn === 'enrich') for (const r of event.Records) for (const g of unpackGroups(JSON.parse(r.body))) runsPerGroup.push(1 + (g.notes.more?.length ?? 0));
  return handler(event, context);
};

/** The sample's rows in an order of their own (seeded): each claim's notes far apart, over many chunks. */
function shuffled(csv: Buffer): Buffer {
  const [header, ...rows] = csv.toString('utf8').split('\n').filter(Boolean);
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  return Buffer.from(`${[header, ...rows].join('\n')}\n`);
}

beforeAll(async () => {
  [once, twice, chunked, spread] = await Promise.all([
    startLocalRuntime({ logLevel: 'SILENT', chunking: { chunkBytes: 1 << 30 } }),
    startLocalRuntime({ logLevel: 'SILENT', wrapHandler: doubled, chunking: LARGE }),
    startLocalRuntime({ logLevel: 'SILENT', chunking: SMALL, wrapHandler: evenWithoutRanges }),
    startLocalRuntime({ logLevel: 'SILENT', chunking: SMALL, wrapHandler: countRuns }),
  ]);
});
afterAll(async () => {
  await Promise.all([once?.stop(), twice?.stop(), chunked?.stop(), spread?.stop()]);
});

async function run(rt: LocalRuntime, extraNotification: boolean, body: Uint8Array = sample, KEY = 'incoming/claims/claims-notes.csv'): Promise<{ job: Job; results: string[]; rejects: string[]; summary: Record<string, unknown> }> {
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: KEY, Body: body }));
  const etag = put.ETag!.replace(/"/g, '');
  if (extraNotification) {
    // The same object's event again, at once: a duplicate ingest racing the first.
    const notice = JSON.stringify(s3Notification({ bucket: rt.names.buckets.drop, key: KEY, etag, size: body.length, multipart: false }, '0000000000000000AA'));
    await rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: rt.names.queues.ingest.url, MessageBody: notice }));
  }
  const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, KEY, etag), { timeoutMs: 120_000 });
  const text = async (key: string) => (await (await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: key }))).Body!.transformToString());
  const lines = (t: string) => t.split('\n').filter(Boolean).sort();
  const { timings: _timings, ...summary } = JSON.parse(await text(job.results!.summary)) as Record<string, unknown>;
  return { job, results: lines(await text(job.results!.jsonl)), rejects: (await text(job.results!.rejects)).split('\n').filter(Boolean), summary };
}

describe('a file cut into chunks and partitions', () => {
  it('ends with the counts, outcomes, results and rejects (in line order) of the file read as one chunk', async () => {
    const [whole, parts] = await Promise.all([run(once, false), run(chunked, false)]);
    const parsed = await chunked.store.readIngestParts(parts.job.jobId);
    expect(parsed.chunks).toHaveLength(15);
    expect(parsed.partitions).toHaveLength(9);
    // Per chunk one heads file (its partitions' heads in ranges) and one records file of its notes, not one per chunk
    // and partition; plus rejects parts. No partition copied notes: every group lies in at most MAX_NOTE_RUNS runs.
    const names = async (prefix: string) =>
      ((await chunked.clients.s3.send(new ListObjectsV2Command({ Bucket: chunked.names.buckets.results, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!.slice(prefix.length)).filter((k) => !k.endsWith('rejects.jsonl')).sort();
    const withNotes = parsed.chunks.filter((c) => c.partitions.length).map((c) => c.chunk);
    expect(withNotes.length).toBeGreaterThan(10);
    expect(await names(`staging/${parts.job.jobId}/`)).toEqual(withNotes.map((c) => `c${c}.jsonl`).sort());
    expect(await names(`records/${parts.job.jobId}/`)).toEqual(withNotes.map((c) => `c${String(c).padStart(5, '0')}.jsonl`).sort());
    expect(parsed.chunks.every((c) => c.heads?.length === c.partitions.length + 1)).toBe(true);
    expect((await once.store.readIngestParts(whole.job.jobId)).chunks).toHaveLength(1);
    expect(stripped.filter(Boolean).length).toBe(5); // partitions 0, 2, 4, 6, 8 without their ranges; 1, 3, 5, 7 with
    expect(stripped).toHaveLength(9);
    const { rows, accepted, rejected, duplicates } = whole.job.counts;
    expect(accepted).toBeGreaterThan(300);
    expect(rows).toBe(accepted + rejected + duplicates);
    expect(parts.job.status).toBe(whole.job.status);
    expect(parts.job.counts).toEqual(whole.job.counts);
    expect(parts.results).toEqual(whole.results);
    expect(parts.rejects).toEqual(whole.rejects);
    const lines = parts.rejects.map((l) => (JSON.parse(l) as { line: number }).line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    expect(parts.summary).toEqual(whole.summary);
  });
});

describe('every message delivered twice at once', () => {
  it('changes no count, no outcome and no result line', async () => {
    // Act
    const [single, double] = await Promise.all([run(once, false), run(twice, true)]);
    // Assess
    const parts = await twice.store.readIngestParts(double.job.jobId);
    expect(parts.chunks).toHaveLength(8); // 15 in chunks of 8 KiB
    expect(parts.partitions).toHaveLength(9);
    expect(deliveries.chunk).toBeGreaterThanOrEqual(2 * (8 + 9));
    expect(groupDeliveries.enrich).toBeGreaterThanOrEqual(2 * single.job.counts.groups);
    expect(groupDeliveries.decide).toBeGreaterThanOrEqual(2 * single.job.counts.groups);
    expect(double.job.status).toBe(single.job.status);
    expect(double.job.counts).toEqual(single.job.counts);
    expect(double.results).toEqual(single.results);
    expect(double.rejects).toEqual(single.rejects);
    expect(double.summary).toEqual(single.summary);
  });
});

describe('a file whose groups are far apart', () => {
  it('ends as one chunk of it does: each group’s notes read from their runs in several chunks, or copied into one when too many', async () => {
    // Arrange: each claim's notes shuffled over the file, cut into 15 chunks and 9 partitions
    const body = shuffled(sample);
    const key = 'incoming/claims/claims-shuffled.csv';
    // Act
    const [whole, parts] = await Promise.all([run(once, false, body, key), run(spread, false, body, key)]);
    // Assess: the same job, line for line
    expect(parts.job.counts.accepted).toBeGreaterThan(300);
    expect(parts.job.counts.duplicates + parts.job.counts.rejected).toBeGreaterThan(0);
    expect(parts.job.counts).toEqual(whole.job.counts);
    expect(parts.results).toEqual(whole.results);
    expect(parts.rejects).toEqual(whole.rejects);
    expect(parts.rejects.some((l) => (JSON.parse(l) as { reason: string }).reason.startsWith('conflicts with line'))).toBe(true);
    expect(parts.summary).toEqual(whole.summary);
    // Groups were read from several runs in place, and those over MAX_NOTE_RUNS from a partition's records file.
    expect(runsPerGroup.filter((n) => n > 1).length).toBeGreaterThan(5);
    expect(Math.max(...runsPerGroup)).toBeLessThanOrEqual(MAX_NOTE_RUNS);
    const listed = await spread.clients.s3.send(new ListObjectsV2Command({ Bucket: spread.names.buckets.results, Prefix: `records/${parts.job.jobId}/p` }));
    expect(listed.Contents?.length).toBeGreaterThan(0);
  });
});

describe('an object another delivery is ingesting', () => {
  it('is acknowledged at once by a second delivery, which plans nothing; once the first’s lease lapses, a redelivery plans it', async () => {
    // Prepare: the object dropped, its job ingesting under another delivery's lease (1.5 s), no pollers
    const rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT', chunking: SMALL });
    try {
      const key = 'incoming/claims/leased.csv';
      const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: sample }));
      const etag = put.ETag!.replace(/"/g, '');
      const jobId = jobIdFor(rt.names.buckets.drop, key, etag);
      const now = Date.now();
      await rt.store.createJob({ jobId, bucket: rt.names.buckets.drop, key, etag, size: sample.length, profile: 'claims', mode: 'full', status: JobStatus.RECEIVED, counts: emptyCounts(), timings: { receivedAt: new Date(now).toISOString() } });
      const version = (await rt.operatorDeps().profiles.active('claims')).version;
      expect(await rt.store.startIngest(jobId, new Date(now).toISOString(), 'full', { owner: 'first-delivery', until: now + 1500, now }, version)).toMatchObject({ outcome: 'started' });
      const delivery = (messageId: string) => ({ Records: [sqsRecord(s3Notification({ bucket: rt.names.buckets.drop, key, etag, size: sample.length, multipart: false }, '0000000000000000AB'), 1, messageId)] });
      // Act: a second delivery while the lease is held
      const second = await rt.invoke('ingest', delivery('second-delivery'));
      // Assess: acknowledged (not left to come back after its visibility timeout), nothing planned, the job still the first's
      expect(second.batchItemFailures).toEqual([]);
      expect(await runChunks(rt)).toBe(0);
      expect(await rt.store.getJob(jobId)).toMatchObject({ status: JobStatus.INGESTING, counts: { rows: 0 } });
      // Act: the first delivery died; after its lease lapsed, a redelivery takes the ingest over and plans it
      await new Promise((r) => setTimeout(r, 1600));
      const third = await rt.invoke('ingest', delivery('third-delivery'));
      // Assess: the file's 15 chunks and 9 partitions run, every row counted
      expect(third.batchItemFailures).toEqual([]);
      expect(await runChunks(rt)).toBe(15 + 9);
      expect((await rt.store.getJob(jobId))!.counts.rows).toBe(394);
    } finally {
      await rt.stop();
    }
  });
});
