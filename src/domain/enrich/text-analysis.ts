/**
 * Cheap, deterministic text analysis over a profile's taxonomy: sentence splitting, keyword matching
 * with negation, cause codes, building facts, lexicon sentiment and dictionary + pattern entities.
 */
import nlp from 'compromise';
import Sentiment from 'sentiment';
import * as z from 'zod';
import type { Taxonomy } from '../../profiles/profile.ts';

export const causeCodeSchema = z.object({
  code: z.string(),
  label: z.string(),
  /** Keywords that matched, not negated. */
  matched: z.array(z.string()),
});
export type CauseCode = z.infer<typeof causeCodeSchema>;

export const buildingFactsSchema = z.object({
  /** Non-negated mentions of building parts. */
  partMentions: z.int().nonnegative(),
  distinctParts: z.array(z.string()),
  /** Statements that the building itself was not damaged. */
  damageDenied: z.boolean(),
  denials: z.array(z.string()),
});
export type BuildingFacts = z.infer<typeof buildingFactsSchema>;

export const sentimentResultSchema = z.object({
  score: z.number(),
  comparative: z.number(),
  label: z.enum(['negative', 'neutral', 'positive']),
});
export type SentimentResult = z.infer<typeof sentimentResultSchema>;

export const entitiesSchema = z.object({
  people: z.array(z.string()),
  organizations: z.array(z.string()),
  places: z.array(z.string()),
  money: z.array(z.string()),
  dates: z.array(z.string()),
  policyNumbers: z.array(z.string()),
  phones: z.array(z.string()),
  buildingParts: z.array(z.string()),
});
export type Entities = z.infer<typeof entitiesSchema>;

/** Splits text into sentences; keeps abbreviations such as "approx." and "Mr." together. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  const re = /[^.!?]+(?:[.!?]+(?=\s+[A-Z0-9"'(]|\s*$)|$)/g;
  let pending = '';
  for (const m of text.matchAll(re)) {
    const piece = m[0];
    pending += piece;
    if (/\b(?:mr|mrs|ms|dr|st|approx|no|vs|etc|e\.g|i\.e)\.$/i.test(pending.trim())) continue;
    const s = pending.trim();
    if (s) out.push(s);
    pending = '';
  }
  if (pending.trim()) out.push(pending.trim());
  return out;
}

export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:['-][a-z0-9]+)*/g) ?? [];
}

interface CompiledTaxonomy {
  causes: Array<{ code: string; label: string; phrases: string[][]; keywords: string[] }>;
  parts: Set<string>;
  negations: Set<string>;
  denials: string[][];
  denialText: string[];
  patterns: Array<[keyof Entities, RegExp]>;
  window: number;
}

const compiled = new WeakMap<Taxonomy, CompiledTaxonomy>();

function compile(t: Taxonomy): CompiledTaxonomy {
  let c = compiled.get(t);
  if (c) return c;
  const patternNames: Record<string, keyof Entities> = { money: 'money', date: 'dates', policyNumber: 'policyNumbers', phone: 'phones' };
  c = {
    causes: t.causeCodes.map((cc) => ({ code: cc.code, label: cc.label, phrases: cc.keywords.map(tokenize), keywords: cc.keywords })),
    parts: new Set(t.buildingParts.map((p) => p.toLowerCase())),
    negations: new Set(t.negations.flatMap(tokenize)),
    denials: t.buildingNegations.map(tokenize),
    denialText: t.buildingNegations,
    patterns: Object.entries(t.entityPatterns)
      .filter(([name]) => patternNames[name])
      .map(([name, p]) => [patternNames[name]!, new RegExp(p, 'gi')] as [keyof Entities, RegExp]),
    window: t.negationWindow,
  };
  compiled.set(t, c);
  return c;
}

function findPhrase(tokens: string[], phrase: string[], from = 0): number {
  outer: for (let i = from; i <= tokens.length - phrase.length; i++) {
    for (let j = 0; j < phrase.length; j++) if (tokens[i + j] !== phrase[j]) continue outer;
    return i;
  }
  return -1;
}

function negatedAt(tokens: string[], index: number, c: CompiledTaxonomy): boolean {
  for (let i = Math.max(0, index - c.window); i < index; i++) if (c.negations.has(tokens[i]!)) return true;
  return false;
}

/** The cause code with the most non-negated keyword hits; ties go to the taxonomy's order. */
export function classifyCause(sentences: string[], taxonomy: Taxonomy): CauseCode {
  const c = compile(taxonomy);
  const hits = new Map<string, Set<string>>();
  for (const sentence of sentences) {
    const tokens = tokenize(sentence);
    for (const cause of c.causes) {
      cause.phrases.forEach((phrase, k) => {
        for (let at = findPhrase(tokens, phrase); at !== -1; at = findPhrase(tokens, phrase, at + 1)) {
          if (negatedAt(tokens, at, c)) continue;
          const set = hits.get(cause.code) ?? new Set<string>();
          set.add(cause.keywords[k]!);
          hits.set(cause.code, set);
        }
      });
    }
  }
  let best: CauseCode = { code: 'UNKNOWN', label: 'No cause found in the notes', matched: [] };
  for (const cause of c.causes) {
    const matched = hits.get(cause.code);
    if (matched && matched.size > best.matched.length) best = { code: cause.code, label: cause.label, matched: [...matched].sort() };
  }
  return best;
}

/** Building parts mentioned (not negated) and explicit denials of building damage. */
export function buildingFacts(sentences: string[], taxonomy: Taxonomy): BuildingFacts {
  const c = compile(taxonomy);
  let partMentions = 0;
  const parts = new Set<string>();
  const denials = new Set<string>();
  for (const sentence of sentences) {
    const tokens = tokenize(sentence);
    c.denials.forEach((phrase, k) => {
      if (findPhrase(tokens, phrase) !== -1) denials.add(c.denialText[k]!);
    });
    tokens.forEach((tok, i) => {
      if (c.parts.has(tok) && !negatedAt(tokens, i, c)) {
        partMentions += 1;
        parts.add(tok);
      }
    });
  }
  return { partMentions, distinctParts: [...parts].sort(), damageDenied: denials.size > 0, denials: [...denials].sort() };
}

const sentimentAnalyzer = new Sentiment();

/** AFINN lexicon sentiment (the `sentiment` package), labelled by the comparative score. */
export function scoreSentiment(text: string): SentimentResult {
  const r = sentimentAnalyzer.analyze(text);
  const comparative = Math.round(r.comparative * 1000) / 1000;
  const label = comparative <= -0.05 ? 'negative' : comparative >= 0.05 ? 'positive' : 'neutral';
  return { score: r.score, comparative, label };
}

/** People, organisations and places from compromise; money, dates, policy numbers and phones by pattern. */
export function extractEntities(text: string, taxonomy: Taxonomy): Entities {
  const c = compile(taxonomy);
  const doc = nlp(text);
  const uniq = (xs: string[]) => [...new Set(xs.map((x) => x.trim().replace(/[.,;:]+$/, '')).filter(Boolean))].sort();
  const entities: Entities = {
    people: uniq(doc.people().out('array') as string[]),
    organizations: uniq(doc.organizations().out('array') as string[]),
    places: uniq(doc.places().out('array') as string[]),
    money: [],
    dates: [],
    policyNumbers: [],
    phones: [],
    buildingParts: uniq(tokenize(text).filter((t) => c.parts.has(t))),
  };
  for (const [name, re] of c.patterns) entities[name] = uniq(text.match(re) ?? []);
  return entities;
}
