/**
 * The offline provider: every stage without a network or model weights. Extractive summary over the
 * BM25-retrieved chunks, loss description from the best loss sentence, taxonomy-keyword cause code,
 * AFINN lexicon sentiment, dictionary + pattern entities. Its outputs carry `provider: "offline"`.
 */
import type { EnrichmentOutput, EnrichmentProvider, EnrichmentRequest } from './enrich-group.ts';
import { buildingFacts, classifyCause, extractEntities, scoreSentiment, splitSentences, tokenize } from './text-analysis.ts';

export const OFFLINE_PROVIDER = 'offline';

export function createOfflineProvider(): EnrichmentProvider {
  return {
    name: OFFLINE_PROVIDER,
    model: 'offline-extractive-v1',
    promptVersion: 'n/a',
    async enrich(request: EnrichmentRequest): Promise<EnrichmentOutput> {
      const { profile, notes, retrieved, stages } = request;
      const fullText = notes.map((n) => n.text).join('\n');
      const sentences = notes.flatMap((n) => splitSentences(n.text));
      const out: EnrichmentOutput = {};
      if (stages.includes('causeCode')) {
        out.causeCode = classifyCause(sentences, profile.taxonomy);
        out.building = buildingFacts(sentences, profile.taxonomy);
      }
      if (stages.includes('sentiment')) out.sentiment = scoreSentiment(fullText);
      if (stages.includes('entities')) out.entities = extractEntities(fullText, profile.taxonomy);
      if (stages.includes('summary')) {
        const context = retrieved.flatMap((c) => splitSentences(c.text));
        out.summary = extractiveSummary(context, profile.enrichment.query, profile.enrichment.summarySentences);
        out.lossDescription = lossDescription(context, profile, profile.enrichment.lossDescriptionMaxChars);
      }
      return out;
    },
  };
}

/** The `count` sentences sharing most terms with the query (length-normalised), in their original order. */
export function extractiveSummary(sentences: string[], query: string, count: number): string {
  const unique = [...new Set(sentences)];
  const terms = new Set(tokenize(query));
  const scored = unique.map((s, i) => {
    const tokens = tokenize(s);
    const hits = new Set(tokens.filter((t) => terms.has(t))).size;
    return { s, i, score: hits / Math.sqrt(Math.max(tokens.length, 4)) + (i === 0 ? 0.05 : 0) };
  });
  return scored
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, count)
    .sort((a, b) => a.i - b.i)
    .map((x) => x.s)
    .join(' ');
}

function lossDescription(sentences: string[], profile: EnrichmentRequest['profile'], maxChars: number): string {
  const lossTerms = new Set([
    ...profile.taxonomy.causeCodes.flatMap((c) => c.keywords.flatMap(tokenize)),
    ...profile.taxonomy.buildingParts,
    'damage', 'damaged', 'loss',
  ]);
  let best = '';
  let bestScore = 0;
  for (const s of sentences) {
    const score = new Set(tokenize(s).filter((t) => lossTerms.has(t))).size;
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  if (best.length <= maxChars) return best;
  const cut = best.slice(0, maxChars);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), maxChars / 2))}…`;
}
