/** The score λ (the scoring state machine's Task states): middy with Powertools; dependencies from the environment; the work is in src/scoring. */
import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { createScoreStore } from '../../src/adapters/dynamodb-score-store.ts';
import { createVersionRegistry } from '../../src/adapters/profile-registry.ts';
import { profileTtlMs, profilesFromEnv } from '../../src/lambda/deps-from-env.ts';
import { registryBenchmarks } from '../../src/scoring/benchmark-registry.ts';
import { scoringLlmFromEnv } from '../../src/lambda/llm-from-env.ts';
import { instrumentation, traced, withPowertools } from '../../src/lambda/powertools.ts';
import { type TaskHandler, createScoreTaskHandler } from '../../src/lambda/score-task.ts';
import { TABLE_ENV, bucketEnv } from '../../src/topology/topology.ts';

const inst = instrumentation('score');

// Built on first use, so importing the module needs no environment.
async function build(): Promise<TaskHandler> {
  const table = process.env[TABLE_ENV];
  if (!table) throw new Error(`environment variable ${TABLE_ENV} is not set`);
  const dynamodb = traced(inst, new DynamoDBClient({}));
  const { provider, judge } = await scoringLlmFromEnv(dynamodb, table);
  const s3 = traced(inst, new S3Client({}));
  const profiles = profilesFromEnv(s3, dynamodb);
  const bucket = process.env[bucketEnv('config')];
  // Benchmarks pushed with `sluice benchmark push` (the active version, trusted as long as a profile's); else the bundle's.
  const benchmark = bucket ? registryBenchmarks(createVersionRegistry(s3, dynamodb, bucket, table), { ttlMs: profileTtlMs() }) : undefined;
  return createScoreTaskHandler({ store: createScoreStore(dynamodb, table), profiles, ...(benchmark ? { benchmark } : {}), provider, judge, log: (message, data) => inst.logger.info(message, data) });
}

let built: Promise<TaskHandler> | undefined;
export const handler = withPowertools<unknown, unknown>(async (event, context: Context) => (await (built ??= build()))(event, context), inst, 'score');
