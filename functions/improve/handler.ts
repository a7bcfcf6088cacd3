/** The improve λ (the improve state machine's Task states): middy with Powertools; dependencies from the environment; the work is in src/improve. */
import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { buildImproveTask } from '../../src/lambda/improve-task.ts';
import { openAiSettingsFromEnv } from '../../src/lambda/llm-from-env.ts';
import { instrumentation, traced, withPowertools } from '../../src/lambda/powertools.ts';
import type { TaskHandler } from '../../src/lambda/score-task.ts';
import { TABLE_ENV, bucketEnv } from '../../src/topology/topology.ts';

const inst = instrumentation('improve');

// Built on first use, so importing the module needs no environment.
async function build(): Promise<TaskHandler> {
  const table = process.env[TABLE_ENV];
  const bucket = process.env[bucketEnv('config')];
  if (!table || !bucket) throw new Error(`environment variables ${TABLE_ENV} and ${bucketEnv('config')} must be set`);
  const dynamodb = traced(inst, new DynamoDBClient({}));
  const s3 = traced(inst, new S3Client({}));
  const llm = await openAiSettingsFromEnv();
  return buildImproveTask({ s3, dynamodb, bucket, table, ...(llm ? { llm } : {}), log: (message, data) => inst.logger.info(message, data) });
}

let built: Promise<TaskHandler> | undefined;
export const handler = withPowertools<unknown, unknown>(async (event, context: Context) => (await (built ??= build()))(event, context), inst, 'improve');
