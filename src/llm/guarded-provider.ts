/**
 * The provider scoring predicts with: the same LLM call as the pipeline behind the same shared breaker,
 * but it never substitutes offline results. A prediction must be the configured model's or fail: an open
 * breaker throws `BreakerOpenError` (the item is skipped with that reason) and an unavailable provider
 * throws (the state machine retries, then marks the item failed). No answer cache: a score run measures
 * the provider as it answers now.
 */
import { type EnrichmentProvider, isExpensive } from '../domain/enrich/enrich-group.ts';
import { LlmUnavailableError, type OpenAiProvider } from './openai-provider.ts';
import type { CircuitBreaker } from './resilient-provider.ts';

export class BreakerOpenError extends Error {
  override name = 'BreakerOpenError';
}

export function createGuardedProvider(o: { offline: EnrichmentProvider; llm: OpenAiProvider; breaker: CircuitBreaker; now?: () => number }): EnrichmentProvider {
  const now = o.now ?? Date.now;
  return {
    name: o.llm.name,
    model: o.llm.model,
    promptVersion: o.llm.promptVersion,
    async enrich(request) {
      if (!request.stages.some((s) => isExpensive(request.profile, s))) return o.offline.enrich(request);
      return o.llm.limiter(async () => {
        const permit = await o.breaker.permit(now());
        if (permit === 'open') throw new BreakerOpenError('the LLM circuit breaker is open: the provider failed repeatedly, calls are paused until its cool-down ends');
        try {
          const output = await o.llm.call(request);
          await o.breaker.recordSuccess(permit);
          return output;
        } catch (err) {
          if (err instanceof LlmUnavailableError) await o.breaker.recordFailure(permit, now());
          throw err;
        }
      });
    },
  };
}
