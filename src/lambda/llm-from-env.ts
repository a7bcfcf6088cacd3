/**
 * The enrichment provider of an LLM-calling function, from its environment: with OPENAI_SECRET_NAME set
 * (the stack sets it), the OpenAI key is read from Secrets Manager with Powertools parameters (cached per
 * container); without a key, or without the secret, the offline provider serves.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import { buildProvider, buildScoringLlm, llmSettingsFromEnv } from '../llm/llm-config.ts';
import type { Judge } from '../scoring/judge.ts';
import { type TopicNamer, createTopicNamer } from '../llm/topic-namer.ts';
import { TABLE_ENV } from '../topology/topology.ts';

async function openAiKey(): Promise<string | undefined> {
  const name = process.env.OPENAI_SECRET_NAME;
  if (!name) return process.env.OPENAI_API_KEY;
  try {
    return (await getSecret<string>(name, { maxAge: 300 })) ?? undefined;
  } catch (err) {
    if (String((err as Error).message).includes('ResourceNotFoundException') || (err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

/** The OpenAI settings of the function (undefined without a key). */
export async function openAiSettingsFromEnv() {
  return llmSettingsFromEnv(process.env, await openAiKey());
}

export async function providerFromEnv(): Promise<EnrichmentProvider> {
  const settings = llmSettingsFromEnv(process.env, await openAiKey());
  return buildProvider(settings, new DynamoDBClient({}), process.env[TABLE_ENV] ?? '');
}

/** The topic namer of an LLM-calling function, or undefined without a key (topics keep their term labels). */
export async function topicNamerFromEnv(): Promise<TopicNamer | undefined> {
  const settings = llmSettingsFromEnv(process.env, await openAiKey());
  return settings && createTopicNamer(settings);
}

/** What the score function predicts and judges with (the offline pair without a key). */
export async function scoringLlmFromEnv(dynamodb: DynamoDBClient, table: string): Promise<{ provider: EnrichmentProvider; judge: Judge }> {
  return buildScoringLlm(llmSettingsFromEnv(process.env, await openAiKey()), dynamodb, table);
}
