/**
 * The enrich λ: wires its dependencies from the environment; the work is in src/pipeline.
 * With OPENAI_SECRET_NAME set (the stack sets it), the OpenAI key is read once per container from Secrets
 * Manager with Powertools parameters; without a key, or without the secret, the offline provider serves.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { type SqsHandler, createEnrichHandler } from '../../src/lambda/sqs-steps.ts';
import { buildProvider, llmSettingsFromEnv } from '../../src/llm/llm-config.ts';
import { TABLE_ENV } from '../../src/topology/topology.ts';

async function openAiKey(): Promise<string | undefined> {
  const name = process.env.OPENAI_SECRET_NAME;
  if (!name) return process.env.OPENAI_API_KEY;
  try {
    return (await getSecret<string>(name, { maxAge: 300 })) ?? undefined;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException' || (err as Error).message.includes('ResourceNotFoundException')) return undefined;
    throw err;
  }
}

let built: Promise<SqsHandler> | undefined;

async function build(): Promise<SqsHandler> {
  const settings = llmSettingsFromEnv(process.env, await openAiKey());
  const provider = buildProvider(settings, new DynamoDBClient({}), process.env[TABLE_ENV] ?? '');
  return createEnrichHandler(depsFromEnv('enrich', provider));
}

export const handler: SqsHandler = async (event, context) => (await (built ??= build()))(event, context);
