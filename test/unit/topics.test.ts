// Under test: topic discovery on texts — seeded and so repeatable, labelled by top terms, every text assigned.
import { describe, expect, it } from 'vitest';
import { discoverTopics } from '../../src/domain/topics/discover.ts';

const THEMES = {
  fire: ['fire smoke kitchen stove flames damaged the ceiling', 'smoke damage from a kitchen fire, soot on the walls', 'fire department attended the kitchen fire'],
  water: ['pipe burst and water soaked the basement floor', 'water leak from the pipe under the sink', 'basement flooded with water from a burst pipe'],
  theft: ['bicycle stolen from the garage, police report filed', 'theft of jewelry, police report number given', 'laptop stolen in a break-in, police attended'],
};
const docs = Object.entries(THEMES).flatMap(([theme, texts]) => Array.from({ length: 12 }, (_, i) => ({ id: `${theme}-${i}`, text: `${texts[i % 3]} case ${i}` })));

describe('discoverTopics', () => {
  it('separates the themes, labels each topic by its terms, and gives the same topics for the same texts', () => {
    const a = discoverTopics(docs, { k: 3, seed: 7, topTerms: 4, minDocFrequency: 2 });
    const b = discoverTopics(docs, { k: 3, seed: 7, topTerms: 4, minDocFrequency: 2 });
    expect(b.topics).toEqual(a.topics);
    expect(a.assignments.size).toBe(docs.length);
    for (const theme of Object.keys(THEMES)) {
      const topics = new Set(docs.filter((d) => d.id.startsWith(theme)).map((d) => a.assignments.get(d.id)));
      expect(topics.size, theme).toBe(1);
    }
    const labels = a.topics.map((t) => t.terms.join(' '));
    expect(labels.some((l) => /fire|smoke|kitchen/.test(l))).toBe(true);
    expect(labels.some((l) => /police|stolen/.test(l))).toBe(true);
    expect(a.topics.reduce((n, t) => n + t.size, 0)).toBe(docs.length);
  });
});
