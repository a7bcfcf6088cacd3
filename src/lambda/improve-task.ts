/**
 * The improve function's dependencies, built the same way for Lambda (functions/improve/handler.ts) and the
 * local runtime: run records in the status table, run state and versions in the config bucket, candidates
 * evaluated with the offline provider (deterministic: a gain is the edit's, not the LLM's noise), proposals from
 * the offline proposer or, with an OpenAI key, the LLM proposer within the run's call budget.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { createScoreStore } from '../adapters/dynamodb-score-store.ts';
import { createVersionRegistry } from '../adapters/profile-registry.ts';
import { createRunStates } from '../adapters/s3-run-states.ts';
import { createOfflineProvider } from '../domain/enrich/offline-provider.ts';
import { ImproveInputError, createImproveTask } from '../improve/improve-task.ts';
import { type TokenPrices, createLlmProposer } from '../improve/llm-proposer.ts';
import { proposeOffline } from '../improve/offline-proposer.ts';
import type { Proposer } from '../improve/steps.ts';
import type { LlmSettings } from '../llm/llm-config.ts';
import { registryProfiles } from '../profiles/registry.ts';
import { registryBenchmarks } from '../scoring/benchmark-registry.ts';
import { profileTtlMs } from './deps-from-env.ts';
import type { TaskHandler } from './score-task.ts';

/** The estimated prices of the proposer's tokens (USD per 1,000): SLUICE_PRICE_PER_1K_PROMPT_TOKENS, SLUICE_PRICE_PER_1K_COMPLETION_TOKENS. */
export function tokenPrices(env: NodeJS.ProcessEnv): TokenPrices {
  return { prompt: Number(env.SLUICE_PRICE_PER_1K_PROMPT_TOKENS || 0.00015), completion: Number(env.SLUICE_PRICE_PER_1K_COMPLETION_TOKENS || 0.0006) };
}

export function buildImproveTask(o: { s3: S3Client; dynamodb: DynamoDBClient; bucket: string; table: string; llm?: LlmSettings; log?: (message: string, data: Record<string, unknown>) => void }): TaskHandler {
  const registry = createVersionRegistry(o.s3, o.dynamodb, o.bucket, o.table);
  const offline: Proposer = { propose: async (c) => proposeOffline(c.data, c.categories, c.train.items), calls: 0 };
  const task = createImproveTask({
    runs: createScoreStore(o.dynamodb, o.table),
    registry,
    // The start is the active version as it is now (no TTL: a run begins from what the last promotion left).
    profiles: registryProfiles(registry, { ttlMs: 0 }),
    states: createRunStates(o.s3, o.bucket),
    // The active version of the benchmark (`sluice benchmark push`), else the bundle's; a run keeps the one it started with.
    benchmark: registryBenchmarks(registry, { ttlMs: profileTtlMs(process.env, 2) }),
    provider: createOfflineProvider(),
    proposer: (kind, calls, usd) => {
      if (kind === 'offline') return offline;
      if (!o.llm) throw new ImproveInputError('the LLM proposer needs an OpenAI key (OPENAI_API_KEY, or the stage secret)');
      const llm = createLlmProposer(o.llm, { calls, ...(usd !== undefined ? { usd } : {}), prices: tokenPrices(process.env) });
      return {
        propose: (c) => llm.propose({ data: c.data, categories: c.categories, train: c.train.items }),
        get calls() {
          return llm.calls;
        },
        get costUsd() {
          return llm.costUsd;
        },
      };
    },
    ...(o.log ? { log: o.log } : {}),
  });
  return (event) => task(event);
}
