/**
 * Which provider enriches: the OpenAI provider (behind the cache and the shared breaker) when an API key
 * is configured, else the offline provider. Settings come from the environment locally and in Lambda.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type BreakerSettings, createCircuitBreaker, createLlmCache } from '../adapters/dynamodb-llm-state.ts';
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../domain/enrich/offline-provider.ts';
import { type OpenAiProviderOptions, createOpenAiProvider } from './openai-provider.ts';
import { createResilientProvider } from './resilient-provider.ts';
import { createGuardedProvider } from './guarded-provider.ts';
import { type Judge, createOfflineJudge, createOpenAiJudge } from '../scoring/judge.ts';

export interface LlmSettings extends OpenAiProviderOptions {
  breaker: BreakerSettings;
  cacheTtlDays: number;
}

const num = (v: string | undefined, fallback: number) => (v === undefined || v === '' ? fallback : Number(v));

/** LLM settings from the environment, or undefined when no key is set (the offline provider serves). */
export function llmSettingsFromEnv(env: NodeJS.ProcessEnv, apiKey = env.OPENAI_API_KEY): LlmSettings | undefined {
  if (!apiKey) return undefined;
  return {
    apiKey,
    baseURL: env.OPENAI_BASE_URL || undefined,
    model: env.SLUICE_MODEL || 'gpt-4o-mini',
    promptVersion: env.SLUICE_PROMPT_VERSION || undefined,
    maxInFlight: num(env.SLUICE_LLM_MAX_IN_FLIGHT, 8),
    timeoutMs: num(env.SLUICE_LLM_TIMEOUT_MS, 30_000),
    maxRetries: num(env.SLUICE_LLM_MAX_RETRIES, 4),
    cacheTtlDays: num(env.SLUICE_LLM_CACHE_TTL_DAYS, 30),
    breaker: {
      name: 'openai',
      threshold: num(env.SLUICE_BREAKER_THRESHOLD, 5),
      cooldownMs: num(env.SLUICE_BREAKER_COOLDOWN_MS, 30_000),
      probeTimeoutMs: num(env.SLUICE_BREAKER_PROBE_TIMEOUT_MS, 60_000),
    },
  };
}

/** The enrichment provider for these settings, its cache and breaker in the status table. */
export function buildProvider(settings: LlmSettings | undefined, dynamodb: DynamoDBClient, table: string): EnrichmentProvider {
  const offline = createOfflineProvider();
  if (!settings) return offline;
  const llm = createOpenAiProvider(settings);
  return createResilientProvider({
    offline,
    llm,
    cache: createLlmCache(dynamodb, table, settings.cacheTtlDays),
    breaker: createCircuitBreaker(dynamodb, table, settings.breaker),
    promptVersionOf: (r) => settings.promptVersion ?? r.profile.enrichment.promptVersion,
  });
}

/**
 * What scoring predicts and judges with: the LLM behind the shared breaker (never an offline stand-in
 * when a key is set) and the LLM judge; without a key the offline provider and the offline judge, named so.
 */
export function buildScoringLlm(settings: LlmSettings | undefined, dynamodb: DynamoDBClient, table: string): { provider: EnrichmentProvider; judge: Judge } {
  const offline = createOfflineProvider();
  if (!settings) return { provider: offline, judge: createOfflineJudge() };
  return {
    provider: createGuardedProvider({ offline, llm: createOpenAiProvider(settings), breaker: createCircuitBreaker(dynamodb, table, settings.breaker) }),
    judge: createOpenAiJudge(settings),
  };
}
