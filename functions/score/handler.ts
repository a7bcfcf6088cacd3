/** The score λ (the scoring state machine's Task states): middy with Powertools; dependencies from the environment; the work is in src/scoring. */
import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { createScoreStore } from '../../src/adapters/dynamodb-score-store.ts';
import { profilesFromEnv } from '../../src/lambda/deps-from-env.ts';
import { scoringLlmFromEnv } from '../../src/lambda/llm-from-env.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { type TaskHandler, createScoreTaskHandler } from '../../src/lambda/score-task.ts';
import { TABLE_ENV } from '../../src/topology/topology.ts';

const inst = instrumentation('score');

// Built on first use, so importing the module needs no environment.
async function build(): Promise<TaskHandler> {
  const table = process.env[TABLE_ENV];
  if (!table) throw new Error(`environment variable ${TABLE_ENV} is not set`);
  const dynamodb = inst.tracer.captureAWSv3Client(new DynamoDBClient({}));
  const { provider, judge } = await scoringLlmFromEnv(dynamodb, table);
  const profiles = profilesFromEnv(inst.tracer.captureAWSv3Client(new S3Client({})), dynamodb);
  return createScoreTaskHandler({ store: createScoreStore(dynamodb, table), profiles, provider, judge, log: (message, data) => inst.logger.info(message, data) });
}

let built: Promise<TaskHandler> | undefined;
export const handler = withPowertools<unknown, unknown>(async (event, context: Context) => (await (built ??= build()))(event, context), inst, 'score');
