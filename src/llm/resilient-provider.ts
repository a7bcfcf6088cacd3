/**
 * The provider the pipeline uses when an LLM is configured: cheap stages from the offline provider, the
 * expensive ones (and in full mode every stage, in one call) from the LLM — through the cache (a repeat
 * costs no call; errors are never cached) and the circuit breaker shared by all invocations. When the
 * breaker is open, or the provider stays unavailable, the group gets the offline results now and its
 * LLM stages are deferred (`pending_llm`), never failed.
 */
import { createHash } from 'node:crypto';
import { type EnrichmentOutput, type EnrichmentProvider, type EnrichmentRequest, isExpensive } from '../domain/enrich/enrich-group.ts';
import { LlmUnavailableError, type OpenAiProvider } from './openai-provider.ts';

export interface LlmCache {
  get(key: string): Promise<EnrichmentOutput | undefined>;
  put(key: string, output: EnrichmentOutput): Promise<void>;
}

export type BreakerPermit = 'closed' | 'probe' | 'open';

/** A circuit breaker whose state every concurrent invocation shares. */
export interface CircuitBreaker {
  /** May a call go out now? `probe`: the one half-open trial call. */
  permit(now: number): Promise<BreakerPermit>;
  recordSuccess(permit: BreakerPermit): Promise<void>;
  recordFailure(permit: BreakerPermit, now: number): Promise<void>;
}

export interface ResilientProviderOptions {
  offline: EnrichmentProvider;
  llm: OpenAiProvider;
  cache: LlmCache;
  breaker: CircuitBreaker;
  /** Prompt version for this profile (part of the cache key). */
  promptVersionOf: (request: EnrichmentRequest) => string;
  now?: () => number;
}

export const DEFERRED_LLM = 'llm_unavailable';

/** The cache key: provider, model, prompt version and its text, the outputs, stages and the exact input the LLM would see. */
export function cacheKey(provider: string, model: string, promptVersion: string, request: EnrichmentRequest): string {
  const h = createHash('sha256');
  for (const part of [provider, model, promptVersion, request.profile.name, [...request.stages].sort().join(','), String(request.notes.length)]) h.update(`${part}\0`);
  // A pushed version may change the prompt's text or the outputs' descriptions under the same prompt version name.
  h.update(`${request.profile.data?.prompt ?? ''}\0${JSON.stringify(request.profile.outputs)}\0`);
  for (const c of request.retrieved) h.update(`${c.id}\0${c.text}\0`);
  return h.digest('hex');
}

export function createResilientProvider(o: ResilientProviderOptions): EnrichmentProvider {
  const now = o.now ?? Date.now;
  const expensive = (r: EnrichmentRequest) => r.stages.filter((s) => isExpensive(r.profile, s));
  return {
    name: o.llm.name,
    model: o.llm.model,
    promptVersion: o.llm.promptVersion,
    async enrich(request) {
      const llmStages = expensive(request);
      if (!llmStages.length) return o.offline.enrich(request);
      const key = cacheKey(o.llm.name, o.llm.model, o.promptVersionOf(request), request);
      const hit = await o.cache.get(key);
      if (hit) return { ...hit, usage: { calls: 0, promptTokens: 0, cached: true } };
      // The breaker is asked once a slot of the in-flight cap is free, so calls queued behind the cap
      // see a breaker that opened while they waited.
      const result = await o.llm.limiter(async (): Promise<EnrichmentOutput | undefined> => {
        const permit = await o.breaker.permit(now());
        if (permit === 'open') return undefined;
        try {
          const output = await o.llm.call(request);
          await o.breaker.recordSuccess(permit);
          return output;
        } catch (err) {
          if (!(err instanceof LlmUnavailableError)) throw err; // a bad answer: this group's error, retried
          await o.breaker.recordFailure(permit, now());
          return undefined;
        }
      });
      if (!result) return deferred(request, llmStages);
      await o.cache.put(key, result);
      return result;
    },
  };

  async function deferred(request: EnrichmentRequest, llmStages: string[]): Promise<EnrichmentOutput> {
    const cheap = request.stages.filter((s) => !llmStages.includes(s));
    const output: EnrichmentOutput = cheap.length ? await o.offline.enrich({ ...request, stages: cheap }) : { outputs: {} };
    return { ...output, provider: o.offline.name, model: o.offline.model, usage: { calls: 0, promptTokens: 0 }, deferred: { stages: llmStages, reason: DEFERRED_LLM } };
  }
}
