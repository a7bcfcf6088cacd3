/**
 * Builds a function's dependencies from its Lambda environment (set by the CDK stack from the topology).
 * Clients are created once per container and reused across invocations.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createStatusStore } from '../adapters/dynamodb-status-store.ts';
import { createObjectStore } from '../adapters/s3-object-store.ts';
import { createDeadLetters, createWorkQueue } from '../adapters/sqs-work-queue.ts';
import { metricsSink } from '../adapters/emf-metrics.ts';
import type { Instrumentation } from './powertools.ts';
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

/** The function's dependencies, its SDK clients traced by its instance's tracer (when the stage traces). */
export function depsFromEnv(service: string, inst: Instrumentation, provider: EnrichmentProvider = noProvider): PipelineDeps {
  const sqs = inst.tracer.captureAWSv3Client(new SQSClient({}));
  const missingQueue = { sendAll: async () => { throw new Error('this function may not send to that queue'); } };
  const ownDlq = topology.functions[service as FunctionName]?.access.sendsToDlq?.[0];
  const dlqUrl = ownDlq ? process.env[dlqUrlEnv(ownDlq)] : undefined;
  return {
    store: createStatusStore(inst.tracer.captureAWSv3Client(new DynamoDBClient({})), required(TABLE_ENV)),
    objects: createObjectStore(inst.tracer.captureAWSv3Client(new S3Client({}))),
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
