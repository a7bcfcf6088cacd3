// Under test: the deployable bundles themselves (built with the stack's esbuild settings, profiles and benchmarks
// beside them) run in a fresh Node process the way Lambda runs them, configured only by their environment: the
// enrich bundle enriches the groups of a real ingested file; the score bundle runs Task states of a score run; every
// bundle is middy-wrapped with Powertools: its log lines carry the Lambda context, its EMF metrics go to stdout.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/bundling.ts';
import { bundleFunction } from '../../scripts/bundles.ts';
import { type LocalRuntime, LOCAL_REGION, s3Notification, startLocalRuntime } from '../../src/local/runtime.ts';
import { type BucketName, type FunctionName, type QueueName, TABLE_ENV, bucketEnv, dlqUrlEnv, queueUrlEnv, topology } from '../../src/topology/topology.ts';
import { scheduledEvent } from '../../src/local/scheduler.ts';
import { runChunks, sqsRecord } from '../helpers/factories.ts';
import { unpackGroups } from '../../src/pipeline/process-group.ts';

let rt: LocalRuntime;
beforeAll(async () => {
  rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT' });
});
afterAll(async () => {
  await rt?.stop();
});

async function receive(queueUrl: string, n: number) {
  const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: n, WaitTimeSeconds: 1 }));
  return got.Messages ?? [];
}

describe('the enrich bundle', () => {
  it('runs from its environment alone and enriches real groups', async () => {
    // Prepare: ingest the sample, so groups wait in the enrich queue.
    const key = 'incoming/claims/claims-notes.csv';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: readFileSync('samples/claims-notes.csv') }));
    await receive(rt.names.queues.ingest.url, 10); // the notification the runtime queued; ingest is invoked directly instead
    const notification = s3Notification({ bucket: rt.names.buckets.drop, key, etag: put.ETag!.replace(/"/g, ''), size: 0, multipart: false }, '0A');
    expect((await rt.invoke('ingest', { Records: [sqsRecord(notification)] })).batchItemFailures).toEqual([]);
    await runChunks(rt);
    const messages = await receive(rt.names.queues.enrich.url, 3);
    expect(messages).toHaveLength(3);
    const event = { Records: messages.map((m) => sqsRecord(m.Body!, 1, m.MessageId!)) };

    // Act: a fresh process imports the bundle and calls its handler, as Lambda would.
    const bundle = await bundleFunction('enrich', join(REPO_ROOT, 'bench/out/test-bundles'));
    const code = `const { handler } = await import(${JSON.stringify(bundle)});
      const context = { functionName: 'sluice-test-enrich', awsRequestId: 'r-1', getRemainingTimeInMillis: () => 60000 };
      process.stdout.write(JSON.stringify(await handler(JSON.parse(process.env.EVENT), context)));`;
    // Async: the emulators live in this process and must keep serving while the child runs.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        EVENT: JSON.stringify(event),
        AWS_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: rt.endpoints.dynamodb,
        AWS_ENDPOINT_URL_SQS: rt.endpoints.sqs,
        AWS_ENDPOINT_URL_S3: rt.endpoints.s3,
        [TABLE_ENV]: rt.names.table,
        // fauxqs names queues on a virtual host the SDK would resolve; the same queue on the loopback endpoint:
        [queueUrlEnv('decide')]: new URL(new URL(rt.names.queues.decide.url).pathname, rt.endpoints.sqs).href,
        [bucketEnv('results')]: rt.names.buckets.results,
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
    });

    // Assess
    // stdout, as in Lambda: the invocation's EMF metrics line(s), then (here) the handler's response.
    const lines = out.trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toEqual({ batchItemFailures: [] });
    const emf = lines.slice(0, -1).map((l) => JSON.parse(l));
    expect(emf.some((e) => e._aws?.CloudWatchMetrics?.[0]?.Namespace === 'sluice' && e.GroupsEnriched !== undefined)).toBe(true);
    const refs = messages.flatMap((m) => unpackGroups(JSON.parse(m.Body!)));
    expect(refs).toHaveLength(30); // ten groups to a message
    for (const ref of refs) {
      const group = await rt.store.getGroup(ref.jobId, ref.groupId);
      expect(group?.status).toBe('ENRICHED');
      expect(group?.enrichment?.provider).toBe('offline');
    }
    const passedOn = (await receive(rt.names.queues.decide.url, 10)).flatMap((m) => unpackGroups(JSON.parse(m.Body!))).map((r) => r.groupId).sort();
    expect(passedOn).toEqual(refs.map((r) => r.groupId).sort());
  });
});

describe('the score bundle', () => {
  it('runs a Task state from its environment alone, reading the benchmark shipped beside it', async () => {
    const bundle = await bundleFunction('score', join(REPO_ROOT, 'bench/out/test-bundles'));
    const run = (event: unknown) =>
      promisify(execFile)(
        process.execPath,
        ['--input-type=module', '-e', `const { handler } = await import(${JSON.stringify(bundle)}); process.stdout.write(JSON.stringify(await handler(JSON.parse(process.env.EVENT), {})));`],
        {
          encoding: 'utf8',
          timeout: 60_000,
          // No SLUICE_BENCHMARKS_DIR: the benchmarks folder beside the bundle serves.
          env: { PATH: process.env.PATH, EVENT: JSON.stringify(event), AWS_REGION: LOCAL_REGION, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_DYNAMODB: rt.endpoints.dynamodb, [TABLE_ENV]: rt.names.table, POWERTOOLS_LOG_LEVEL: 'ERROR' },
        },
      );
    const prepared = JSON.parse((await run({ step: 'prepare', input: { benchmark: 'claims-v1', runId: 'bundle-run' } })).stdout);
    expect(prepared.items).toHaveLength(60);
    expect(await run({ step: 'predict', runId: 'bundle-run', benchmark: 'claims-v1', id: 'e01' }).then((r) => JSON.parse(r.stdout))).toEqual({ id: 'e01', status: 'predicted' });
    const item = await rt.scoreStore.getItem('bundle-run', 'e01');
    expect(item?.prediction).toMatchObject({ decision: 'yes', outputs: expect.objectContaining({ causeCode: 'WATER' }), provider: 'offline' });
    expect((await rt.scoreStore.getRun('bundle-run'))?.status).toBe('running');
  });
});

describe('every bundle on middy with Powertools', () => {
  // A poison message for the queue functions (each logs it and reports the batch item), the Scheduled Event for the
  // scheduled ones, a Task state's event for score: each invocation must log with the Lambda context and emit EMF.
  const eventOf = (fn: FunctionName): unknown => {
    const spec = topology.functions[fn];
    if (spec.trigger) return { Records: [sqsRecord('not a message of this queue', 1, `poison-${fn}`)] };
    if (fn === 'score' || fn === 'improve') return JSON.parse(readFileSync(`events/${fn}-prepare.json`, 'utf8'));
    return scheduledEvent(`arn:aws:events:${LOCAL_REGION}:000000000000:rule/sluice-test-${fn}`, LOCAL_REGION, '000000000000');
  };
  it.each(Object.keys(topology.functions) as FunctionName[])('%s: its log lines carry the request id and cold start, and its EMF metrics are on stdout', async (fn) => {
    const bundle = await bundleFunction(fn, join(REPO_ROOT, 'bench/out/test-bundles'));
    const code = `const { handler } = await import(${JSON.stringify(bundle)});
      const context = { functionName: 'sluice-test-${fn}', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:${LOCAL_REGION}:000000000000:function:sluice-test-${fn}', memoryLimitInMB: '512', awsRequestId: 'req-${fn}-1', getRemainingTimeInMillis: () => 120000 };
      await handler(JSON.parse(process.env.EVENT), context);`;
    const env: Record<string, string> = {
      PATH: process.env.PATH!,
      EVENT: JSON.stringify(eventOf(fn)),
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: rt.endpoints.dynamodb,
      AWS_ENDPOINT_URL_SQS: rt.endpoints.sqs,
      AWS_ENDPOINT_URL_S3: rt.endpoints.s3,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand', // as Lambda sets it
      [TABLE_ENV]: rt.names.table,
      ...Object.fromEntries(Object.entries(rt.names.queues).flatMap(([q, n]) => [[queueUrlEnv(q as QueueName), n.url], [dlqUrlEnv(q as QueueName), n.dlqUrl]])),
      ...Object.fromEntries(Object.entries(rt.names.buckets).map(([b, name]) => [bucketEnv(b as BucketName), name])),
    };
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 90_000, env });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const logs = lines.filter((l) => l.level);
    expect(logs.length, stdout).toBeGreaterThan(0);
    for (const l of logs) expect(l).toMatchObject({ function_request_id: `req-${fn}-1`, cold_start: true, service: `sluice-${fn}`, function_name: `sluice-test-${fn}` });
    const emf = lines.filter((l) => l._aws);
    expect(emf.some((e) => e.ColdStart === 1 && e.function_name === `sluice-test-${fn}`)).toBe(true);
    for (const e of emf) expect((e._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]!.Namespace).toBe('sluice');
  }, 120_000);
});
