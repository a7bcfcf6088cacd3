// Under test: a handler that throws for one message on the local runtime: only that message is retried, it reaches the DLQ after maxReceiveCount, and the job counts it as failed and still ends.
// And local IAM: across this run (the success path and the failure path that finalizes from enrich) every
// handler calls exactly what its topology access grants — nothing denied, nothing granted unused.
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import type { SqsHandler } from '../../src/lambda/sqs-steps.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { describeResource } from '../../src/topology/permissions.ts';
import { grantCheck } from '../helpers/factories.ts';
import { type FunctionName, topology, withOverrides } from '../../src/topology/topology.ts';

const POISON = 'C-POISON';
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
        if (request.groupId === POISON) throw new Error('poisoned group');
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
    const csv = ['CLAIMNO,NOTEID,FN_TEXT,LOBCD,FN_CRT_DT', note('C-1', '1'), note(POISON, '1'), note('C-2', '1'), note('C-2', '2')].join('\n');
    // Act
    const key = 'incoming/claims/poison.csv';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: csv }));
    const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
    // Assess
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ groups: 3, decided: 2, failed: 1 });
    const group = await rt.store.getGroup(job.jobId, POISON);
    expect(group?.status).toBe('FAILED');
    expect(group?.lastError).toContain('poisoned group');
    expect(group?.attempts).toBe(2);
    // The queue moves the message to the DLQ once its visibility lapses after the last receive.
    let inDlq: string[] = [];
    for (const deadline = Date.now() + 15_000; !inDlq.length && Date.now() < deadline; ) {
      const dlq = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.names.queues.enrich.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      inDlq = (dlq.Messages ?? []).map((m) => JSON.parse(m.Body!).groupId);
    }
    expect(inDlq).toEqual([POISON]);
    // Only the poisoned message ever came back as a batch item failure: once per receive.
    const failedIds = failuresSeen.flat();
    expect(failedIds.length).toBe(2);
    expect(new Set(failedIds).size).toBe(1);
    const main = await rt.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: rt.names.queues.enrich.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    expect(main.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });
});

describe('local IAM over that run', () => {
  const key = (c: { action: string; resource: Parameters<typeof describeResource>[0] }) => `${c.action} on ${describeResource(c.resource)}`;

  beforeAll(async () => {
    // The paths the run above does not take: a good file (decide finalizes it), a file with no valid row
    // (ingest finalizes it at once), dropped twice (the second event finds the job already there).
    const goodKey = 'incoming/claims/good.csv';
    const good = await rt.clients.s3.send(
      new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: goodKey, Body: `CLAIMNO,NOTEID,FN_TEXT,LOBCD\nC-7,1,${'The roof was damaged by hail and the ceiling leaks. '.repeat(3)},15\n` }),
    );
    expect((await rt.waitForJob(jobIdFor(rt.names.buckets.drop, goodKey, good.ETag!), { timeoutMs: 30_000 })).status).toBe('COMPLETE');
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
      // only with an LLM, which llm-pipeline.test.ts checks.
      const except = ['s3:AbortMultipartUpload', ...(fn === 'enrich' ? ['dynamodb:GetItem', 'dynamodb:PutItem'] : [])];
      expect({ fn, unused: grantCheck(calls, fn, except).unused }).toEqual({ fn, unused: [] });
    }
  });
});
