/**
 * Deterministic train / validation / test splits of a benchmark: stratified by an item's first tag (each kind of
 * item in every split), ordered within a stratum by a hash of the seed and the item's id — the same benchmark and
 * seed give the same splits anywhere, and adding an item moves no other.
 */
import { createHash } from 'node:crypto';

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: Split[] = ['train', 'validation', 'test'];

export function splitItems<T extends { id: string; tags: string[] }>(items: T[], o: { seed?: number; train?: number; validation?: number } = {}): Record<Split, T[]> {
  const seed = o.seed ?? 1;
  const shares = { train: o.train ?? 0.5, validation: o.validation ?? 0.25 };
  const strata = new Map<string, T[]>();
  for (const item of items) {
    const key = item.tags[0] ?? '(untagged)';
    strata.set(key, [...(strata.get(key) ?? []), item]);
  }
  const out: Record<Split, T[]> = { train: [], validation: [], test: [] };
  const rank = (id: string) => createHash('sha256').update(`${seed}\0${id}`).digest('hex');
  for (const group of strata.values()) {
    const ordered = [...group].sort((a, b) => rank(a.id).localeCompare(rank(b.id)));
    const nTrain = Math.round(ordered.length * shares.train);
    const nValidation = Math.round(ordered.length * shares.validation);
    out.train.push(...ordered.slice(0, nTrain));
    out.validation.push(...ordered.slice(nTrain, nTrain + nValidation));
    out.test.push(...ordered.slice(nTrain + nValidation));
  }
  return out;
}
