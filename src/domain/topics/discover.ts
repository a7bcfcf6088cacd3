/**
 * Topic discovery over short texts: TF-IDF vectors (L2-normalised) clustered with seeded k-means++
 * (ml-kmeans); each topic is labelled by its centroid's top terms and scored with UMass coherence.
 * TF-IDF is computed here (a few lines; the NLP libraries that offer it bring far more than they'd serve).
 */
import { kmeans } from 'ml-kmeans';
import { tokenize } from '../enrich/extractors.ts';

export interface TopicDoc {
  id: string;
  text: string;
}

export interface Topic {
  id: number;
  label: string;
  terms: string[];
  size: number;
  /** UMass coherence of the top terms (closer to 0 is more coherent). */
  coherence: number;
  /** Mean normalised PMI of the top terms' pairs over the documents, -1 to 1 (above 0.3 is commonly taken as coherent). */
  npmi: number;
}

export interface TopicOptions {
  k: number;
  seed: number;
  topTerms: number;
  maxVocabulary?: number;
  minDocFrequency?: number;
  stopwords?: ReadonlySet<string>;
}

const STOPWORDS = new Set(
  'the a an and or but of to in on at for from with by as is are was were be been has have had not no it its this that these those there their they them he she his her we our you your i me my will would can could should may might also into out up down over under after before than then so such very more most some any all each per via about which who whom what when where while'.split(' '),
);

export function discoverTopics(docs: TopicDoc[], o: TopicOptions): { topics: Topic[]; assignments: Map<string, number> } {
  const stop = o.stopwords ?? STOPWORDS;
  const tokens = docs.map((d) => tokenize(d.text).filter((t) => t.length > 2 && !stop.has(t) && !/^\d+$/.test(t)));
  const df = new Map<string, number>();
  for (const ts of tokens) for (const t of new Set(ts)) df.set(t, (df.get(t) ?? 0) + 1);
  const n = docs.length;
  const vocabulary = [...df]
    .filter(([, c]) => c >= (o.minDocFrequency ?? 3) && c <= n * 0.5)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, o.maxVocabulary ?? 800)
    .map(([t]) => t);
  const index = new Map(vocabulary.map((t, i) => [t, i]));
  const idf = vocabulary.map((t) => Math.log(n / df.get(t)!) + 1);
  const vectors = tokens.map((ts) => {
    const v = new Array<number>(vocabulary.length).fill(0);
    for (const t of ts) {
      const i = index.get(t);
      if (i !== undefined) v[i]! += 1;
    }
    let norm = 0;
    for (let i = 0; i < v.length; i++) {
      v[i] = v[i]! * idf[i]!;
      norm += v[i]! * v[i]!;
    }
    norm = Math.sqrt(norm) || 1;
    return v.map((x) => x / norm);
  });
  const k = Math.min(o.k, n);
  const result = kmeans(vectors, k, { seed: o.seed, initialization: 'kmeans++', maxIterations: 100 });
  const docSets = tokens.map((ts) => new Set(ts));
  const topics: Topic[] = result.centroids.map((centroid, id) => {
    const terms = centroid
      .map((w, i) => [w, i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, o.topTerms)
      .map(([, i]) => vocabulary[i]!);
    return { id, label: terms.slice(0, 3).join(' / '), terms, size: result.clusters.filter((c) => c === id).length, coherence: umass(terms, docSets), npmi: npmi(terms, docSets) };
  });
  return { topics, assignments: new Map(docs.map((d, i) => [d.id, result.clusters[i]!])) };
}

/** UMass coherence: mean over term pairs of log((D(wi, wj) + 1) / D(wj)), wj ranked above wi. */
function npmi(terms: string[], docs: Array<Set<string>>): number {
  const n = docs.length;
  let sum = 0;
  let pairs = 0;
  for (let i = 1; i < terms.length; i++) {
    for (let j = 0; j < i; j++) {
      const pi = docs.filter((d) => d.has(terms[i]!)).length / n;
      const pj = docs.filter((d) => d.has(terms[j]!)).length / n;
      const pij = docs.filter((d) => d.has(terms[i]!) && d.has(terms[j]!)).length / n;
      if (!pi || !pj) continue;
      sum += pij ? (pij === 1 ? 1 : Math.log(pij / (pi * pj)) / -Math.log(pij)) : -1;
      pairs += 1;
    }
  }
  return pairs ? Math.round((sum / pairs) * 1000) / 1000 : 0;
}

function umass(terms: string[], docs: Array<Set<string>>): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 1; i < terms.length; i++) {
    for (let j = 0; j < i; j++) {
      const dj = docs.filter((d) => d.has(terms[j]!)).length;
      const dij = docs.filter((d) => d.has(terms[i]!) && d.has(terms[j]!)).length;
      if (!dj) continue;
      sum += Math.log((dij + 1) / dj);
      pairs += 1;
    }
  }
  return pairs ? Math.round((sum / pairs) * 1000) / 1000 : 0;
}
