/**
 * The offline provider: every declared output without a network or model weights, each from its profile's
 * declared generic extractor (`extractors.ts`): keyword and dictionary matching with negation, lexicon
 * sentiment, NER/pattern/dictionary entities, extractive text over the BM25-retrieved chunks. Its outputs carry
 * `provider: "offline"`.
 */
import type { EnrichmentOutput, EnrichmentProvider, EnrichmentRequest } from './enrich-group.ts';
import { extract, loadEntityModel, splitSentences } from './extractors.ts';

export const OFFLINE_PROVIDER = 'offline';

export function createOfflineProvider(): EnrichmentProvider {
  return {
    name: OFFLINE_PROVIDER,
    model: 'offline-extractive-v1',
    promptVersion: 'n/a',
    async enrich(request: EnrichmentRequest): Promise<EnrichmentOutput> {
      const { profile, notes, retrieved, stages } = request;
      await loadEntityModel();
      const input = {
        text: notes.map((n) => n.text).join('\n'),
        sentences: notes.flatMap((n) => splitSentences(n.text)),
        retrievedSentences: retrieved.flatMap((c) => splitSentences(c.text)),
        query: profile.enrichment.query,
      };
      const outputs: Record<string, unknown> = {};
      const evidence: Record<string, string[]> = {};
      for (const spec of profile.outputs) {
        if (!stages.includes(spec.name)) continue;
        const got = extract(spec, input, profile.outputs, profile.language);
        outputs[spec.name] = got.value;
        if (got.evidence?.length) evidence[spec.name] = got.evidence;
      }
      return Object.keys(evidence).length ? { outputs, evidence } : { outputs };
    },
  };
}
