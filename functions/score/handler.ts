/** The score λ (the scoring state machine's Task states): wires its dependencies from the environment; the work is in src/scoring. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { createScoreStore } from '../../src/adapters/dynamodb-score-store.ts';
import { scoringLlmFromEnv } from '../../src/lambda/llm-from-env.ts';
import { type TaskHandler, createScoreTaskHandler } from '../../src/lambda/score-task.ts';
import { TABLE_ENV } from '../../src/topology/topology.ts';

const logger = new Logger({ serviceName: 'sluice-score' });

// Built on first use, so importing the module needs no environment.
async function build(): Promise<TaskHandler> {
  const table = process.env[TABLE_ENV];
  if (!table) throw new Error(`environment variable ${TABLE_ENV} is not set`);
  const dynamodb = new DynamoDBClient({});
  const { provider, judge } = await scoringLlmFromEnv(dynamodb, table);
  return createScoreTaskHandler({ store: createScoreStore(dynamodb, table), provider, judge, log: (message, data) => logger.info(message, data) });
}

let built: Promise<TaskHandler> | undefined;
export const handler: TaskHandler = async (event, context) => (await (built ??= build()))(event, context);
