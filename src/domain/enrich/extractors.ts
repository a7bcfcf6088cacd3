/**
 * The offline provider's small library of generic extractors. A profile declares each output with one of them
 * and its parameters (`src/profiles/outputs.ts`); nothing here knows a profile. Keyword and dictionary matching
 * work on word tokens with a negation scope: a negation word within `window` tokens before a match cancels it, and
 * so does a word or phrase of `negationsAfter` within `windowAfter` tokens after it in the same clause ("the parcel
 * arrived intact"; a clause ends at `;`, `:` or "but").
 */
import type Nlp from 'compromise';
import Sentiment from 'sentiment';
import { type EntityKind, type Label, type OutputSpec, kindConfidence } from '../../profiles/outputs.ts';

/** The language settings of a profile the extractors read. */
export interface Language {
  negations: string[];
  negationWindow: number;
  negationsAfter?: string[];
  negationWindowAfter?: number;
}

/** What an extractor reads: the group's text, its sentences, the retrieved sentences and the profile's query. */
export interface ExtractionInput {
  text: string;
  sentences: string[];
  /** Sentences of the chunks retrieved for the profile's query (the summaries read only these). */
  retrievedSentences: string[];
  query: string;
}

export interface Extracted {
  value: unknown;
  /** What the value rests on, when the extractor can say (the keywords that matched, the phrases found). */
  evidence?: string[];
}

export type SentimentValue = { label: 'negative' | 'neutral' | 'positive'; score: number };

/** Splits text into sentences; keeps abbreviations such as "approx.", "Mr." and "No. 5" together. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  const re = /[^.!?]+(?:[.!?]+(?=\s+[A-Z0-9"'(]|\s*$)|$)/g;
  let pending = '';
  for (const m of text.matchAll(re)) {
    pending += m[0];
    if (/\b(?:mr|mrs|ms|dr|st|approx|vs|etc|e\.g|i\.e)\.$/i.test(pending.trim())) continue;
    // "No." abbreviates a number only before one ("No. 5"); "the answer is no. A pipe burst" ends a sentence.
    if (/\bno\.$/i.test(pending.trim()) && /^\s*\d/.test(text.slice(m.index + m[0].length))) continue;
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

function findPhrase(tokens: string[], phrase: string[], from = 0): number {
  if (!phrase.length) return -1;
  outer: for (let i = from; i <= tokens.length - phrase.length; i++) {
    for (let j = 0; j < phrase.length; j++) if (tokens[i + j] !== phrase[j]) continue outer;
    return i;
  }
  return -1;
}

/** A sentence's tokens, and for each token the clause it is in (a clause ends at `;`, `:` or "but"). */
interface Tokens {
  words: string[];
  clauses?: number[];
}

function clausesOf(sentence: string, words: string[]): number[] {
  const out: number[] = [];
  let clause = 0;
  for (const m of sentence.toLowerCase().matchAll(/[a-z0-9]+(?:['-][a-z0-9]+)*|[;:]/g)) {
    if (m[0] === ';' || m[0] === ':') clause++;
    else {
      if (m[0] === 'but') clause++;
      out.push(clause);
    }
  }
  return out.length === words.length ? out : words.map(() => 0);
}

/** A compiled negation scope: whether a match at a token index is negated. */
class Negation {
  readonly #words: Set<string>;
  readonly #window: number;
  readonly #after: string[][];
  readonly #windowAfter: number;
  constructor(language: Language) {
    this.#words = new Set(language.negations.flatMap(tokenize));
    this.#window = language.negationWindow;
    this.#after = (language.negationsAfter ?? []).map(tokenize).filter((p) => p.length > 0);
    this.#windowAfter = language.negationWindowAfter ?? 6;
  }
  /** Whether matches need the sentence's clauses (only when something negates after a match). */
  get needsClauses(): boolean {
    return this.#after.length > 0;
  }
  at(t: Tokens, index: number, length: number): boolean {
    const tokens = t.words;
    for (let i = Math.max(0, index - this.#window); i < index; i++) if (this.#words.has(tokens[i]!)) return true;
    if (!t.clauses) return false;
    const clause = t.clauses[index];
    const end = Math.min(tokens.length, index + length + this.#windowAfter);
    for (let j = index + length; j < end && t.clauses[j] === clause; j++) {
      for (const phrase of this.#after) if (phrase.every((w, k) => tokens[j + k] === w && t.clauses![j + k] === clause)) return true;
    }
    return false;
  }
}

/** Each occurrence, not negated, of each phrase in the sentences: the phrase's index per hit. */
function hits(sentences: string[], phrases: string[][], negation: Negation | undefined): number[] {
  const out: number[] = [];
  for (const sentence of sentences) {
    const words = tokenize(sentence);
    const t: Tokens = negation?.needsClauses ? { words, clauses: clausesOf(sentence, words) } : { words };
    phrases.forEach((phrase, k) => {
      for (let at = findPhrase(words, phrase); at !== -1; at = findPhrase(words, phrase, at + 1)) {
        if (!negation?.at(t, at, phrase.length)) out.push(k);
      }
    });
  }
  return out;
}

/**
 * The words around each occurrence of the terms that no negation cancels: up to `window` tokens before it, and
 * after it within its clause — what a proposer mines for negation words a profile lacks.
 */
export function termContexts(sentences: string[], terms: string[], language: Language, window: number): Array<{ before: string[]; after: string[] }> {
  const negation = new Negation(language);
  const phrases = terms.map(tokenize).filter((p) => p.length > 0);
  const out: Array<{ before: string[]; after: string[] }> = [];
  for (const sentence of sentences) {
    const words = tokenize(sentence);
    const clauses = clausesOf(sentence, words);
    const t: Tokens = { words, clauses };
    for (const phrase of phrases) {
      for (let at = findPhrase(words, phrase); at !== -1; at = findPhrase(words, phrase, at + 1)) {
        if (negation.at(t, at, phrase.length)) continue;
        const end = at + phrase.length;
        let stop = end;
        while (stop < Math.min(words.length, end + window) && clauses[stop] === clauses[at]) stop++;
        out.push({ before: words.slice(Math.max(0, at - window), at), after: words.slice(end, stop) });
      }
    }
  }
  return out;
}

/** The terms that point at a label: its keywords, or its value when it has none. */
export function labelTerms(label: Label): string[] {
  return label.keywords.length ? label.keywords : [label.value];
}

/** The label with the most distinct non-negated keyword hits (ties: declared order), or the fallback. */
export function classifyByKeywords(sentences: string[], labels: Label[], fallback: Omit<Label, 'keywords'>, language: Language): Extracted {
  const negation = new Negation(language);
  const index: Array<{ label: number; keyword: string }> = [];
  labels.forEach((l, i) => l.keywords.forEach((k) => index.push({ label: i, keyword: k })));
  const matched = labels.map(() => new Set<string>());
  for (const k of hits(sentences, index.map((x) => tokenize(x.keyword)), negation)) matched[index[k]!.label]!.add(index[k]!.keyword);
  let best = -1;
  labels.forEach((_, i) => {
    if (matched[i]!.size > (best === -1 ? 0 : matched[best]!.size)) best = i;
  });
  if (best === -1) return { value: fallback.value, evidence: [] };
  return { value: labels[best]!.value, evidence: [...matched[best]!].sort() };
}

/** Every label whose terms occur, not negated: distinct values, sorted. */
export function matchDictionary(sentences: string[], labels: Label[], language: Language | undefined): Extracted {
  const index = labels.flatMap((l) => labelTerms(l).map((t) => ({ value: l.value, phrase: tokenize(t) })));
  const values = new Set(hits(sentences, index.map((x) => x.phrase), language && new Negation(language)).map((k) => index[k]!.value));
  return { value: [...values].sort() };
}

/** Whether any phrase occurs; the phrases found are the evidence. */
export function detectPhrases(sentences: string[], phrases: string[]): Extracted {
  const found = [...new Set(hits(sentences, phrases.map(tokenize), undefined).map((k) => phrases[k]!))].sort();
  return { value: found.length > 0, evidence: found };
}

/** How many times the terms occur, not negated. */
export function countTerms(sentences: string[], terms: string[], language: Language): Extracted {
  return { value: hits(sentences, terms.map(tokenize), new Negation(language)).length };
}

const sentimentAnalyzer = new Sentiment();

/** AFINN lexicon sentiment (the `sentiment` package): the comparative score, labelled at ± threshold. */
export function lexiconSentiment(text: string, threshold: number): Extracted {
  const comparative = Math.round(sentimentAnalyzer.analyze(text).comparative * 1000) / 1000;
  const label = comparative <= -threshold ? 'negative' : comparative >= threshold ? 'positive' : 'neutral';
  return { value: { label, score: Math.max(-1, Math.min(1, comparative)) } satisfies SentimentValue };
}

const clean = (xs: string[]) => [...new Set(xs.map((x) => x.trim().replace(/[.,;:!?]+$/, '')).filter(Boolean))].sort();

// compromise builds its lexicon when imported (~0.8 s of CPU and ~40 MB of a process, measured): loaded by what
// extracts entities, when it first does, not by every function whose code imports this module (ingest, decide).
let nlp: typeof Nlp | undefined;

/** Loads the NER model (compromise) once; `extractEntities` needs it for entity kinds read by NER. */
export async function loadEntityModel(): Promise<void> {
  nlp ??= (await import('compromise')).default;
}

/** Entities of each kind: compromise's NER (people, organisations, places), a pattern, or an output's labels. */
export function extractEntities(text: string, kinds: EntityKind[], labelsOf: (output: string) => Label[]): Extracted {
  let doc: ReturnType<typeof Nlp> | undefined;
  const value: Record<string, string[]> = {};
  for (const kind of kinds) {
    const from = kind.from;
    if (from.source === 'ner') {
      if (!nlp) throw new Error('the NER model is not loaded: await loadEntityModel() first');
      doc ??= nlp(text);
      value[kind.name] = clean(doc[from.tag]().out('array') as string[]);
    } else if (from.source === 'pattern') {
      value[kind.name] = clean(text.match(new RegExp(from.pattern, 'gi')) ?? []);
    } else {
      value[kind.name] = matchDictionary([text], labelsOf(from.output), undefined).value as string[];
    }
  }
  return { value };
}

/** The `count` sentences sharing most terms with the query (length-normalised), in their original order. */
export function extractiveSummary(sentences: string[], query: string, count: number): string {
  const unique = [...new Set(sentences)];
  const terms = new Set(tokenize(query));
  const scored = unique.map((s, i) => {
    const tokens = tokenize(s);
    const found = new Set(tokens.filter((t) => terms.has(t))).size;
    return { s, i, score: found / Math.sqrt(Math.max(tokens.length, 4)) + (i === 0 ? 0.05 : 0) };
  });
  return scored
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, count)
    .sort((a, b) => a.i - b.i)
    .map((x) => x.s)
    .join(' ');
}

/** The sentence with the most distinct terms ('' when none has any), cut at a word to `maxChars`. */
export function bestSentence(sentences: string[], terms: Set<string>, maxChars: number | undefined): string {
  let best = '';
  let bestScore = 0;
  for (const s of sentences) {
    const score = new Set(tokenize(s).filter((t) => terms.has(t))).size;
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  if (maxChars === undefined || best.length <= maxChars) return best;
  const cut = best.slice(0, maxChars);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), maxChars / 2))}…`;
}

/**
 * Produces one declared output from the input with its declared extractor.
 * @example extract(profile.outputs[0], input, profile.outputs, profile.language) // e.g. { value: 'BILLING', evidence: ['invoice'] }
 */
export function extract(spec: OutputSpec, input: ExtractionInput, outputs: OutputSpec[], language: Language): Extracted {
  const labelsOf = (name: string): Label[] => {
    const o = outputs.find((x) => x.name === name);
    return o && 'labels' in o ? o.labels : [];
  };
  const x = spec.offline;
  switch (x.extractor) {
    case 'keywords':
      if (spec.type !== 'label') break;
      return classifyByKeywords(input.sentences, spec.labels, spec.fallback, language);
    case 'dictionary':
      if (spec.type !== 'labels') break;
      return matchDictionary(input.sentences, spec.labels, language);
    case 'phrases':
      return detectPhrases(input.sentences, x.phrases);
    case 'count':
      return countTerms(input.sentences, x.terms, language);
    case 'lexicon':
      return lexiconSentiment(input.text, x.threshold);
    case 'entities': {
      if (spec.type !== 'entities') break;
      const found = extractEntities(input.text, spec.kinds, labelsOf);
      if (!spec.resolve) return found;
      // Entities to resolve come scored, as a model gives them: a flat list of name, kind and confidence.
      const byKind = found.value as Record<string, string[]>;
      return { value: spec.kinds.flatMap((k) => (byKind[k.name] ?? []).map((name) => ({ name, kind: k.name, confidence: kindConfidence(k) }))) };
    }
    case 'summary':
      return { value: extractiveSummary(input.retrievedSentences, input.query, x.sentences) };
    case 'best-sentence': {
      const terms = new Set([...x.terms.flatMap(tokenize), ...x.termsFrom.flatMap((o) => labelsOf(o).flatMap((l) => labelTerms(l).flatMap(tokenize)))]);
      return { value: bestSentence(input.retrievedSentences, terms, spec.type === 'text' ? spec.maxChars : undefined) };
    }
  }
  // checkOutputs refuses such a profile when it loads; reaching here means it was bypassed.
  throw new Error(`output ${spec.name}: extractor ${x.extractor} cannot produce a ${spec.type}`);
}
