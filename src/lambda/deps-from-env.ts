/**
 * Builds a function's dependencies from its Lambda environment (set by the CDK stack from the topology).
 * Clients are created once per container and reused across invocations.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createStatusStore } from '../adapters/dynamodb-status-store.ts';
import { createVersionRegistry } from '../adapters/profile-registry.ts';
import { type ProfileSource, bundledProfiles, registryProfiles } from '../profiles/registry.ts';
import { createObjectStore } from '../adapters/s3-object-store.ts';
import { createDeadLetters, createWorkQueue } from '../adapters/sqs-work-queue.ts';
import { metricsSink } from '../adapters/emf-metrics.ts';
import { type Instrumentation, traced } from './powertools.ts';
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { type FunctionName, TABLE_ENV, bucketEnv, dlqUrlEnv, queueUrlEnv, topology } from '../topology/topology.ts';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

// Functions that do not enrich get this; only the enrich handler imports a real provider (and its NLP weight).
const noProvider: EnrichmentProvider = {
  name: 'none',
  model: 'none',
  promptVersion: 'none',
  enrich: async () => {
    throw new Error('this function does not enrich');
  },
};

/** How long a container trusts the active version it read (`SLUICE_PROFILE_TTL_SECONDS`, set per stage). */
export function profileTtlMs(env: NodeJS.ProcessEnv = process.env, fallbackSeconds = 60): number {
  const v = Number(env.SLUICE_PROFILE_TTL_SECONDS);
  return (Number.isFinite(v) && v >= 0 && env.SLUICE_PROFILE_TTL_SECONDS !== '' && env.SLUICE_PROFILE_TTL_SECONDS !== undefined ? v : fallbackSeconds) * 1000;
}

let profileSource: ProfileSource | undefined;

/** The container's profiles: from the config bucket and the table when the function may read them, else its bundle's. */
export function profilesFromEnv(s3: S3Client, dynamodb: DynamoDBClient): ProfileSource {
  const bucket = process.env[bucketEnv('config')];
  if (!bucket || !process.env[TABLE_ENV]) return bundledProfiles;
  return (profileSource ??= registryProfiles(createVersionRegistry(s3, dynamodb, bucket, required(TABLE_ENV)), { ttlMs: profileTtlMs() }));
}

/** The function's dependencies, its SDK clients traced by its instance's tracer (when the stage traces). */
export function depsFromEnv(service: string, inst: Instrumentation, provider: EnrichmentProvider = noProvider): PipelineDeps {
  const sqs = traced(inst, new SQSClient({}));
  const missingQueue = { sendAll: async () => { throw new Error('this function may not send to that queue'); } };
  const ownDlq = topology.functions[service as FunctionName]?.access.sendsToDlq?.[0];
  const dlqUrl = ownDlq ? process.env[dlqUrlEnv(ownDlq)] : undefined;
  const dynamodb = traced(inst, new DynamoDBClient({}));
  const s3 = traced(inst, new S3Client({}));
  return {
    store: createStatusStore(dynamodb, required(TABLE_ENV)),
    objects: createObjectStore(s3),
    profiles: profilesFromEnv(s3, dynamodb),
    chunkQueue: process.env[queueUrlEnv('chunks')] ? createWorkQueue(sqs, required(queueUrlEnv('chunks'))) : missingQueue,
    enrichQueue: process.env[queueUrlEnv('enrich')] ? createWorkQueue(sqs, required(queueUrlEnv('enrich'))) : missingQueue,
    decideQueue: process.env[queueUrlEnv('decide')] ? createWorkQueue(sqs, required(queueUrlEnv('decide'))) : missingQueue,
    provider,
    resultsBucket: process.env[bucketEnv('results')] ?? '',
    dropPrefix: topology.dropPrefix,
    defaultMode: process.env.SLUICE_DEFAULT_MODE === 'fast' ? 'fast' : 'full',
    logger: inst.logger,
    now: () => new Date(),
    metrics: metricsSink(inst.metrics),
    deadLetters: dlqUrl ? createDeadLetters(sqs, dlqUrl) : undefined,
  };
}
