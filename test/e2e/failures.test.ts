// Under test: a handler that throws for one group on the local runtime: only the message that carries it is
// retried (its other groups are not enriched again), it reaches the DLQ after maxReceiveCount, and the job counts
// the group as failed and still ends.
// Poison and permanent errors: a message no retry can help goes to its DLQ within one receive with its
// reason; a permanent error fails its group at once; DLQ messages are attributed to their job and
// `redriveDlq` moves them back without changing any count.
// And local IAM: across this run (the success path and the failure path that finalizes from enrich) every
// handler calls exactly what its topology access grants — nothing denied, nothing granted unused.
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { dropDocuments } from '../../src/cli/drop-documents.ts';
import { createVersionRegistry } from '../../src/adapters/profile-registry.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { activate, pushProfile } from '../../src/profiles/registry.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import type { SqsHandler } from '../../src/lambda/sqs-steps.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { describeResource } from '../../src/topology/permissions.ts';
import { grantCheck } from '../helpers/factories.ts';
import { PermanentError } from '../../src/pipeline/errors.ts';
import { peekDlq, redriveDlq } from '../../src/adapters/sqs-redrive.ts';
import { jobOfMessage } from '../../src/pipeline/dead-letters.ts';
import { unpackGroups } from '../../src/pipeline/process-group.ts';
import { type FunctionName, topology, withOverrides } from '../../src/topology/topology.ts';

const POISON = 'C-POISON';
const PERMANENT = 'C-PERMANENT';
const enrichCalls = new Map<string, number>();
let rt: LocalRuntime;
const failuresSeen: string[][] = [];
const calls: CallRecord[] = [];

beforeAll(async () => {
  // Short visibility so retries happen within the test; the DLQ move is fauxqs's own redrive policy.
  const t = withOverrides(topology, {
    queues: { enrich: { visibilityTimeoutSeconds: 3, maxReceiveCount: 2 } },
    triggers: { enrich: { batchingWindowSeconds: 0 } },
  });
  const offline = createOfflineProvider();
  rt = await startLocalRuntime({
    topology: t,
    allowShortVisibility: true,
    logLevel: 'SILENT',
    onAwsCall: (call) => calls.push(call),
    // A provider that throws for one claim only.
    provider: {
      ...offline,
      enrich: async (request) => {
        enrichCalls.set(request.groupId, (enrichCalls.get(request.groupId) ?? 0) + 1);
        if (request.groupId === POISON) throw new Error('poisoned group');
        if (request.groupId === PERMANENT) throw new PermanentError('the answer can never validate');
        return offline.enrich(request);
      },
    },
    wrapHandler: (fn, handler): SqsHandler =>
      fn !== 'enrich'
        ? handler
        : async (event, ctx) => {
            try {
              const response = await handler(event, ctx);
              failuresSeen.push(response.batchItemFailures.map((f) => f.itemIdentifier));
              return response;
            } catch (err) {
              // Powertools throws when every record of a batch failed: all of them are retried.
              failuresSeen.push(event.Records.map((r) => r.messageId));
              throw err;
            }
          },
  });
});

afterAll(async () => {
  await rt?.stop();
});

describe('a message that keeps failing', () => {
  it('goes to the DLQ after maxReceiveCount, is counted failed with its error, and the job still ends', async () => {
    // Prepare
    const note = (claim: string, id: string) => `${claim},${id},"Water leak from a burst pipe damaged the kitchen ceiling and the drywall; plumber attended the same day.",15,2025-01-0${id}`;
    // 14 claims: two messages of ten groups at most, the poisoned and the permanent claim among the others.
    const others = Array.from({ length: 12 }, (_, i) => `C-${i + 1}`);
    const csv = ['CLAIMNO,NOTEID,FN_TEXT,LOBCD,FN_CRT_DT', note(others[0]!, '1'), note(POISON, '1'), note(others[1]!, '1'), note(others[1]!, '2'), note(PERMANENT, '1'), ...others.slice(2).map((c) => note(c, '1'))].join('\n');
    // Act
    const key = 'incoming/claims/poison.csv';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: csv }));
    const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
    // Assess
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ groups: 14, decided: 12, failed: 2 });
    // The permanent error failed its group on the first receive, with its reason, and was not retried.
    const permanent = await rt.store.getGroup(job.jobId, PERMANENT);
    expect(permanent).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(permanent?.lastError).toBe('PermanentError: the answer can never validate');
    expect(enrichCalls.get(PERMANENT)).toBe(1);
    jobId = job.jobId;
    const group = await rt.store.getGroup(job.jobId, POISON);
    expect(group?.status).toBe('FAILED');
    expect(group?.lastError).toContain('poisoned group');
    expect(group?.attempts).toBe(2);
    // The queue moves the message to the DLQ once its visibility lapses after the last receive.
    let inDlq: string[][] = [];
    for (const deadline = Date.now() + 15_000; !inDlq.length && Date.now() < deadline; ) {
      inDlq = (await peekDlq(rt.clients.sqs, rt.names.queues.enrich.dlqUrl, 10)).map((l) => unpackGroups(JSON.parse(l.body)).map((r) => r.groupId));
      if (!inDlq.length) await new Promise((r) => setTimeout(r, 500));
    }
    expect(inDlq).toHaveLength(1);
    expect(inDlq[0]).toContain(POISON);
    // Only the message carrying the poisoned group ever came back as a batch item failure: once per receive.
    const failedIds = failuresSeen.flat();
    expect(enrichCalls.get(POISON)).toBe(2);
    expect(failedIds.length).toBe(2);
    expect(new Set(failedIds).size).toBe(1);
    // Its other groups were enriched once: the retry found them done and only counted them again.
    expect(others.map((c) => enrichCalls.get(c))).toEqual(others.map(() => 1));
    const main = await rt.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: rt.names.queues.enrich.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    expect(main.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });
});

let jobId = '';

describe('poison messages and redrive', () => {
  it('moves a message no retry can help to its DLQ within one receive, with its reason, on every queue', async () => {
    // Prepare: not an S3 event; not a chunk; not a group reference; a reference to a job that does not exist
    const poison = {
      ingest: 'this is not JSON',
      chunks: JSON.stringify({ kind: 'chunk', jobId: 'j-1' }),
      enrich: JSON.stringify({ hello: 'world' }),
      decide: JSON.stringify({ jobId: 'j-nosuchjob', profile: 'claims', mode: 'full', key: 'records/j-nosuchjob/p0000.jsonl', groups: [{ groupId: 'G-1', noteCount: 1, shard: 0, start: 0, end: 10 }] }),
    };
    // Act
    for (const [q, body] of Object.entries(poison)) await rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: rt.names.queues[q as 'ingest'].url, MessageBody: body }));
    // Assess: each arrives in its DLQ with its reason, before any retry could have happened
    const started = Date.now();
    const found: Record<string, string | undefined> = {};
    for (const deadline = Date.now() + 20_000; Object.keys(found).length < 4 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      for (const [q, body] of Object.entries(poison)) {
        const letter = (await peekDlq(rt.clients.sqs, rt.names.queues[q as 'ingest'].dlqUrl, 20)).find((l) => l.body === body);
        if (letter) found[q] = letter.reason;
      }
    }
    expect(Date.now() - started).toBeLessThan(topology.queues.ingest.visibilityTimeoutSeconds * 1000);
    expect(found.ingest).toMatch(/^PermanentError: message body is not JSON/);
    expect(found.chunks).toMatch(/^ZodError/);
    expect(found.enrich).toMatch(/^ZodError/);
    expect(found.decide).toBe('UnknownJobError: unknown job j-nosuchjob');
  });

  it('names the job of a retried-out message in a DLQ, and redrive returns it without changing a count', async () => {
    // Prepare
    const before = await rt.store.getJob(jobId);
    const q = rt.names.queues.enrich;
    const letters = await peekDlq(rt.clients.sqs, q.dlqUrl, 100);
    const mine = letters.filter((l) => jobOfMessage(l.body).includes(jobId));
    expect(mine).toHaveLength(1);
    expect(unpackGroups(JSON.parse(mine[0]!.body)).map((r) => r.groupId)).toContain(POISON);
    // Act
    const moved = await redriveDlq(rt.clients.sqs, { dlqUrl: q.dlqUrl, dlqArn: q.dlqArn, sourceUrl: q.url, sourceArn: q.arn }, 100);
    // Assess: both back on the queue; the failed group's message changes nothing, the poison one returns to the DLQ
    expect(moved).toEqual({ moved: 2, method: 'receive-send' });
    let back: string[] = [];
    for (const deadline = Date.now() + 20_000; back.length !== 1 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      back = (await peekDlq(rt.clients.sqs, q.dlqUrl, 100)).map((l) => l.body);
    }
    expect(back).toEqual([JSON.stringify({ hello: 'world' })]);
    const after = await rt.store.getJob(jobId);
    expect(after?.counts).toEqual(before?.counts);
    expect(after?.status).toBe(before?.status);
  });
});

describe('local IAM over that run', () => {
  const key = (c: { action: string; resource: Parameters<typeof describeResource>[0] }) => `${c.action} on ${describeResource(c.resource)}`;

  beforeAll(async () => {
    // The paths the run above does not take: a pushed profile version (every pipeline function reads it from the
    // config bucket), a good file (decide finalizes it), a file with no valid row (ingest finalizes it at once),
    // dropped twice (the second event finds the job already there).
    const registry = createVersionRegistry(rt.clients.s3, rt.clients.dynamodb, rt.names.buckets.config, rt.names.table);
    const data = structuredClone(loadProfile('claims').data);
    for (const r of data.rules.rules) r.event.params.reason = `pushed: ${r.event.params.reason}`;
    const pushed = await pushProfile(registry, 'claims', data, 'test');
    await activate(registry, 'profile', 'claims', pushed.version, 'test', pushed.base);
    await new Promise((r) => setTimeout(r, 2100)); // the functions trust the active version they read for 2 s locally
    const goodKey = 'incoming/claims/good.csv';
    const good = await rt.clients.s3.send(
      new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: goodKey, Body: `CLAIMNO,NOTEID,FN_TEXT,LOBCD\nC-7,1,${'The roof was damaged by hail and the ceiling leaks. '.repeat(3)},15\n` }),
    );
    const goodJob = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, goodKey, good.ETag!), { timeoutMs: 30_000 });
    expect(goodJob).toMatchObject({ status: 'COMPLETE', profileVersion: pushed.version });
    // A deals drop of one opportunity: its manifest lists the drop bucket (chunk), the document is read from it (enrich).
    const dealsDrop = await dropDocuments(rt.clients.s3, rt.names.buckets.drop, {
      profile: loadProfile('deals'),
      run: 'grants',
      groups: [{ values: { opportunity_id: 'OPP-G', account: 'Globex' }, files: [{ name: 'call.txt', bytes: Buffer.from('Jane Doe of Globex wants a pilot. Next step: Jane sends the form by Friday.') }] }],
    });
    expect(await rt.waitForJob(jobIdFor(rt.names.buckets.drop, dealsDrop.key, dealsDrop.etag), { timeoutMs: 30_000 })).toMatchObject({ status: 'COMPLETE' });
    const Bucket = rt.names.buckets.drop;
    const Key = 'incoming/claims/all-invalid.csv';
    const Body = 'CLAIMNO,NOTEID,FN_TEXT,LOBCD,FN_CRT_DT\nC-9,1,too short,15,2025-13-45\n';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket, Key, Body }));
    const job = await rt.waitForJob(jobIdFor(Bucket, Key, put.ETag!), { timeoutMs: 30_000 });
    expect(job.counts).toMatchObject({ rows: 1, rejected: 1, groups: 0 });
    await rt.clients.s3.send(new PutObjectCommand({ Bucket, Key, Body }));
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      if (calls.some((c) => c.fn === 'ingest' && c.action === 'dynamodb:GetItem')) break;
    }
  });

  it('denied no call any handler made', () => {
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => !c.allowed).map((c) => `${c.fn}: ${key(c)}`)).toEqual([]);
  });

  it('used every permission each function is granted (AbortMultipartUpload only runs when an upload fails)', () => {
    // The scheduled functions do not run here; backfill.test.ts and metrics.test.ts check their grants the same way.
    for (const fn of (Object.keys(topology.functions) as FunctionName[]).filter((f) => topology.functions[f].trigger !== undefined)) {
      // AbortMultipartUpload runs only when an upload fails; the LLM cache and breaker (enrich's GetItem/PutItem)
      // only with an LLM, which llm-pipeline.test.ts checks; decide reads results only to join the staged segments of
      // a job of more than 20,000 groups (SEGMENT_GROUPS), too large for this run.
      const except = ['s3:AbortMultipartUpload', ...(fn === 'enrich' ? ['dynamodb:GetItem', 'dynamodb:PutItem'] : []), ...(fn === 'decide' ? ['s3:GetObject on bucket results'] : [])];
      expect({ fn, unused: grantCheck(calls, fn, except).unused }).toEqual({ fn, unused: [] });
    }
  });
});
