// Under test: entity conflict resolution (seed 002) on generated conservative vs enhanced sets with a known truth:
// every matched pair merged once, no duplicate entity per thread, the review list exactly the low-confidence and
// multi-match cases, nothing dropped.
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/domain/random.ts';
import { resolveEntities, type ScoredEntity } from '../../src/domain/enrich/resolve-entities.ts';

// A seeded generator, so a failing case can be replayed.
const rng = prng;

const STEMS = ['Aurora', 'Basalt', 'Cobalt', 'Dune', 'Ember', 'Fjord', 'Glacier', 'Harbor', 'Indigo', 'Juniper', 'Kestrel', 'Lumen', 'Meadow', 'Nimbus', 'Onyx', 'Prism'];

function thread(seed: number) {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const stems = [...STEMS].sort(() => r() - 0.5);
  // Conservative: a few brands, each with one product named after it ("Aurora" and "Aurora Phone").
  const brands = stems.slice(0, 2 + Math.floor(r() * 3));
  const conservative = { brand: brands.map((b) => `${b} Labs`), product: brands.filter(() => r() < 0.5).map((b) => `${b} Labs Phone`) };
  const enhanced: ScoredEntity[] = [];
  const truth = { merged: [] as Array<{ name: string; alternative: string }>, review: [] as string[], accepted: [] as string[] };
  for (const name of [...conservative.brand, ...conservative.product]) {
    if (r() < 0.3) continue;
    const alternative = pick([`${name} Inc`, name.toUpperCase(), `The ${name}`, `${name} Ltd`]);
    enhanced.push({ name: alternative, kind: 'organization', confidence: 0.5 + r() * 0.5 });
    if (r() < 0.2) enhanced.push({ name: alternative, kind: 'organization', confidence: 0.7 }); // found twice: merged once
    truth.merged.push({ name, alternative });
  }
  // Ambiguous: the bare stem of a brand that has a product is within both names.
  for (const b of brands.filter((x) => conservative.product.includes(`${x} Labs Phone`))) {
    if (r() < 0.5) continue;
    enhanced.push({ name: b.toLowerCase(), kind: 'organization', confidence: 0.9 });
    truth.review.push(b.toLowerCase());
  }
  // New entities: accepted above 0.8, reviewed otherwise; a repeat of the same new name is one entity.
  for (const s of stems.slice(8, 8 + Math.floor(r() * 5))) {
    const confidence = Math.round((0.5 + r() * 0.5) * 100) / 100;
    enhanced.push({ name: `${s} Outfitters`, kind: 'organization', confidence });
    if (r() < 0.3) enhanced.push({ name: `${s} Outfitters`, kind: 'organization', confidence });
    (confidence > 0.8 ? truth.accepted : truth.review).push(`${s} Outfitters`);
  }
  return { conservative, enhanced: enhanced.sort(() => r() - 0.5), truth };
}

describe('entity conflict resolution', () => {
  it('merges every matched pair once, accepts confident new entities, reviews exactly the unsure and the ambiguous', () => {
    let cases = 0;
    for (let seed = 1; seed <= 300; seed += 1) {
      const { conservative, enhanced, truth } = thread(seed);
      const r = resolveEntities(conservative, enhanced, { acceptAbove: 0.8 });
      expect(r.merged.map((m) => ({ name: m.name, alternative: m.alternative })).sort((a, b) => a.alternative.localeCompare(b.alternative)), `seed ${seed}`).toEqual(
        [...truth.merged].sort((a, b) => a.alternative.localeCompare(b.alternative)),
      );
      expect(r.review.map((e) => e.name).sort(), `seed ${seed}`).toEqual([...truth.review].sort());
      expect(r.accepted.map((e) => e.name).sort(), `seed ${seed}`).toEqual([...truth.accepted].sort());
      for (const e of r.review) expect(e.reason).toBe(e.candidates.length > 1 ? 'multiple_matches' : 'low_confidence');
      for (const names of Object.values(r.entities)) expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(names.length);
      // Conservative names stay primary: every one is still there, under its kind.
      expect(r.entities.brand).toEqual(expect.arrayContaining(conservative.brand));
      cases += truth.merged.length + truth.review.length + truth.accepted.length;
    }
    expect(cases).toBeGreaterThan(1000);
  });

  it("the seed's example: Nike (conservative) and Nike Inc (enhanced, 85 %) are one entity, Nike primary", () => {
    const r = resolveEntities({ brand: ['Nike'] }, [{ name: 'Nike Inc', kind: 'organization', confidence: 0.85 }], { acceptAbove: 0.8 });
    expect(r).toEqual({ entities: { brand: ['Nike'] }, merged: [{ name: 'Nike', kind: 'brand', alternative: 'Nike Inc' }], accepted: [], review: [] });
  });

  it("matches a dictionary's variant spellings to the name they stand for", () => {
    const variants = new Map([['acmefone', 'Acme Phone']]);
    const r = resolveEntities({ product: ['Acme Phone', 'Zeta Buds'] }, [{ name: 'AcmeFone', kind: 'product', confidence: 0.6 }], { acceptAbove: 0.8, variants });
    expect(r.merged).toEqual([{ name: 'Acme Phone', kind: 'product', alternative: 'AcmeFone' }]);
    expect(r.review).toEqual([]);
  });
});
