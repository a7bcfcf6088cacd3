/**
 * Entity conflict resolution (seed 002): the entities a cheap, high-confidence extraction found first
 * (conservative) against those a later, broader one found (enhanced, each with a confidence).
 * - an enhanced entity matching exactly one conservative entity is merged into it: the conservative name
 *   stays primary, the enhanced name is kept as an alternative;
 * - one matching none is accepted as a new entity above the confidence threshold, else goes to review;
 * - one matching several goes to review with its candidates.
 * Nothing is dropped: every enhanced entity ends merged, accepted or in review; no name repeats per kind.
 */
import { tokenize } from './extractors.ts';

export interface ScoredEntity {
  name: string;
  kind: string;
  confidence: number;
}

export interface ReviewEntry extends ScoredEntity {
  reason: 'low_confidence' | 'multiple_matches';
  /** The conservative entities it could be (multiple matches). */
  candidates: string[];
}

export interface Resolution {
  /** The resolved entities per kind: every conservative one, then the accepted new ones. */
  entities: Record<string, string[]>;
  merged: Array<{ name: string; kind: string; alternative: string }>;
  accepted: ScoredEntity[];
  review: ReviewEntry[];
}

/** Legal-form words that do not tell two names apart ("Nike" and "Nike Inc"). */
const SUFFIXES = new Set(['inc', 'ltd', 'llc', 'corp', 'co', 'company', 'gmbh', 'plc', 'sa', 'ag', 'the']);
const words = (s: string) => tokenize(s).filter((w) => !SUFFIXES.has(w));
const key = (s: string) => words(s).join(' ');
const within = (a: string[], b: string[]) => a.length > 0 && a.every((w) => b.includes(w));

/**
 * Resolves enhanced entities against conservative ones.
 * @param variants normalised variant spelling → the conservative name it stands for (a dictionary's keywords)
 * @example resolveEntities({ brand: ['Nike'] }, [{ name: 'Nike Inc', kind: 'organization', confidence: 0.85 }], { acceptAbove: 0.8 })
 *   // merged: [{ name: 'Nike', kind: 'brand', alternative: 'Nike Inc' }]
 */
export function resolveEntities(conservative: Record<string, string[]>, enhanced: ScoredEntity[], o: { acceptAbove: number; variants?: Map<string, string> }): Resolution {
  const known = Object.entries(conservative).flatMap(([kind, names]) => names.map((name) => ({ kind, name, words: words(name) })));
  const entities: Record<string, string[]> = Object.fromEntries(Object.entries(conservative).map(([k, v]) => [k, [...new Set(v)]]));
  const merged: Resolution['merged'] = [];
  const accepted: ScoredEntity[] = [];
  const review: ReviewEntry[] = [];
  const seenMerge = new Set<string>();
  const seenNew = new Set<string>();
  for (const e of enhanced) {
    const k = key(e.name);
    if (!k) continue;
    const viaVariant = o.variants?.get(k) ?? o.variants?.get(tokenize(e.name).join(' '));
    const ew = words(e.name);
    // The same name (or a listed variant of it) wins; else one name's words within the other's ("Nike" in "Nike Air").
    const exact = known.filter((c) => c.name === viaVariant || key(c.name) === k);
    const matches = exact.length ? exact : known.filter((c) => within(c.words, ew) || within(ew, c.words));
    const distinct = [...new Map(matches.map((m) => [`${m.kind}\0${m.name}`, m])).values()];
    if (distinct.length === 1) {
      const c = distinct[0]!;
      const id = `${c.kind}\0${c.name}\0${k}`;
      if (seenMerge.has(id)) continue;
      seenMerge.add(id);
      if (e.name !== c.name) merged.push({ name: c.name, kind: c.kind, alternative: e.name });
      continue;
    }
    if (distinct.length > 1) {
      review.push({ ...e, reason: 'multiple_matches', candidates: distinct.map((c) => c.name) });
      continue;
    }
    if (seenNew.has(`${e.kind}\0${k}`)) continue;
    seenNew.add(`${e.kind}\0${k}`);
    if (e.confidence > o.acceptAbove) {
      accepted.push(e);
      (entities[e.kind] ??= []).push(e.name);
    } else review.push({ ...e, reason: 'low_confidence', candidates: [] });
  }
  return { entities, merged, accepted, review };
}
