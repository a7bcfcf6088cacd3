// Under test: one benchmark item scored with the pipeline's own domain code and the deterministic comparisons.
import { describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { loadBenchmark } from '../../src/scoring/benchmark.ts';
import { compareItem, factOverlap, predictItem } from '../../src/scoring/score-item.ts';

const bench = loadBenchmark('claims-v1');
const profile = loadProfile(bench.config.profile);
const item = (id: string) => bench.items.find((i) => i.id === id)!;

describe('scoring one item', () => {
  it('predicts with the enrich and decide domain code and compares each field', async () => {
    const p = await predictItem(profile, item('e01'), createOfflineProvider());
    expect(p).toMatchObject({ decision: 'yes', outputs: { causeCode: 'WATER' }, provider: 'offline' });
    const verdicts = compareItem(profile, bench.config, item('e01'), p);
    expect(verdicts.map((v) => [v.field, v.correct])).toEqual([
      ['decision', true],
      ['causeCode', true],
      ['keyFacts', verdicts[2]!.score >= 0.5],
    ]);
    expect(verdicts[2]).toMatchObject({ method: 'judge', needsJudge: true });
  });

  it('scores a wrong decision 0 and an ineligible claim not_applicable with nothing to judge', async () => {
    const p = await predictItem(profile, item('x16'), createOfflineProvider());
    expect(p.decision).toBe('not_applicable');
    const v = compareItem(profile, bench.config, item('x16'), p);
    expect(v[0]).toMatchObject({ correct: true, score: 1 });
    expect(v[2]!.needsJudge).toBeUndefined();
    const wrong = compareItem(profile, bench.config, item('e01'), { ...p, decision: 'no' });
    expect(wrong[0]).toMatchObject({ field: 'decision', correct: false, score: 0, expected: 'yes', predicted: 'no' });
  });

  it('measures key-fact overlap on normalised words', () => {
    expect(factOverlap(['burst pipe', 'kitchen ceiling'], 'A PIPE burst; the kitchen ceiling is wet.')).toBe(1);
    expect(factOverlap(['burst pipe', 'kitchen ceiling'], 'A pipe burst in the bathroom.')).toBe(0.5);
    expect(factOverlap([], 'anything')).toBe(1);
    expect(factOverlap(['Acme Phone', 'Zed'], ['acme phone', 'Other'])).toBe(0.5);
  });

  it('compares each declared output by its type: a sentiment by its label, entities by their names, lists as sets', () => {
    const config = {
      ...bench.config,
      fields: {
        decision: { method: 'exact' as const, weight: 1 },
        sentiment: { method: 'exact' as const, weight: 1 },
        entities: { method: 'set_overlap' as const, weight: 1, threshold: 1 },
        buildingParts: { method: 'exact' as const, weight: 1 },
      },
    };
    const expected = { decision: 'yes', sentiment: 'negative', entities: ['Ann Lee', 'Bob'], buildingParts: ['roof', 'wall'] };
    const p = { decision: 'yes', provider: 'offline', outputs: { sentiment: { label: 'negative', score: -0.4 }, entities: { people: ['Bob', 'Ann Lee'], places: [] }, buildingParts: ['wall', 'roof'] } };
    const v = compareItem(profile, config, { ...item('e01'), expected }, p);
    expect(v.map((f) => [f.field, f.correct, f.predicted])).toEqual([
      ['decision', true, 'yes'],
      ['sentiment', true, 'negative'],
      ['entities', true, ['Ann Lee', 'Bob']],
      ['buildingParts', true, ['wall', 'roof']],
    ]);
    const wrong = compareItem(profile, config, { ...item('e01'), expected: { ...expected, buildingParts: ['roof'] } }, { ...p, outputs: { ...p.outputs, sentiment: { label: 'neutral', score: 0 } } });
    expect(wrong.filter((f) => !f.correct).map((f) => f.field)).toEqual(['sentiment', 'buildingParts']);
  });
});
