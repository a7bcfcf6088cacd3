// Under test: the generic extractors a profile declares its outputs with (src/domain/enrich/extractors.ts), and a
// profile whose outputs, rules or gates name what it does not declare, refused naming the file and the path.
// (That the claims profile as declared outputs gives what its claims-specific code gave was shown, before that
// code went, on every benchmark item and 300 generated claims: commit "Profiles declare their outputs"; the
// decisions, cause codes and scores are held by test/e2e/claims-snapshot.test.ts.)
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyByKeywords, detectPhrases, matchDictionary } from '../../src/domain/enrich/extractors.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

describe('the generic extractors', () => {
  const lang = { negations: ['no', 'not', 'never'], negationWindow: 3 };

  it('classify by the label with most distinct keywords not negated, ties to the declared order, else the fallback', () => {
    const labels = [
      { value: 'A', keywords: ['red', 'crimson'] },
      { value: 'B', keywords: ['blue', 'navy blue'] },
    ];
    const fallback = { value: 'NONE' };
    expect(classifyByKeywords(['It was navy blue, not red.'], labels, fallback, lang)).toEqual({ value: 'B', evidence: ['blue', 'navy blue'] });
    expect(classifyByKeywords(['Red and blue.'], labels, fallback, lang)).toEqual({ value: 'A', evidence: ['red'] });
    expect(classifyByKeywords(['Never red, never blue.'], labels, fallback, lang)).toEqual({ value: 'NONE', evidence: [] });
  });

  it('match a dictionary with a negation scope, and detect phrases with what was found', () => {
    expect(matchDictionary(['The roof and the wall; not the door.'], [{ value: 'roof', keywords: [] }, { value: 'door', keywords: [] }, { value: 'wall', keywords: ['wall', 'walls'] }], lang).value).toEqual(['roof', 'wall']);
    expect(detectPhrases(['There was no damage to the home at all.'], ['no damage to the home', 'contents only'])).toEqual({ value: true, evidence: ['no damage to the home'] });
    expect(detectPhrases(['Damage to the home.'], ['no damage to the home']).value).toBe(false);
  });

  it('negate a match that a word or phrase of negationsAfter follows within its window, in the same clause only', () => {
    const after = { ...lang, negationsAfter: ['intact', 'no damage'], negationWindowAfter: 5 };
    const labels = ['roof', 'wall', 'door'].map((value) => ({ value, keywords: [] }));
    // A part the words follow within 5 tokens: roof (4 tokens between it and "intact") and wall; not door nor roof in the
    // longer list.
    expect(matchDictionary(['The roof and the wall are intact.'], labels, after).value).toEqual([]);
    expect(matchDictionary(['The door, the roof and the side wall all look intact.'], labels, after).value).toEqual(['door', 'roof']);
    // A clause ends at ; : and "but": what follows there negates nothing before it.
    expect(matchDictionary(['The roof caved in; the wall is intact.'], labels, after).value).toEqual(['roof']);
    expect(matchDictionary(['The roof leaked but the wall is intact.'], labels, after).value).toEqual(['roof']);
    expect(matchDictionary(['The wall shows no damage.'], labels, after).value).toEqual([]);
    // Without negationsAfter nothing changes.
    expect(matchDictionary(['The roof and the wall are intact.'], labels, lang).value).toEqual(['roof', 'wall']);
  });
});

describe('a profile that names what it does not declare', () => {
  const copy = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-profile-'));
    cpSync('profiles/claims', join(dir, 'claims'), { recursive: true });
    return dir;
  };
  const edit = (dir: string, file: string, change: (json: Record<string, any>) => void) => {
    const path = join(dir, 'claims', file);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    change(json);
    writeFileSync(path, JSON.stringify(json));
  };

  it('is refused when a rule names an unknown fact, naming the rules file and the path', () => {
    const dir = copy();
    edit(dir, 'rules.json', (r) => (r.rules[2].conditions.all[1].fact = 'roomCount'));
    expect(() => loadProfile('claims', dir)).toThrow(/claims\/rules\.json: rules\.2\.conditions\.all\.1\.fact: unknown fact "roomCount" \(known: eligibleRecordCount, causeCode, /);
  });

  it('is refused when a gate watches an unknown metric, or a fact counts what is not a list', () => {
    const dir = copy();
    edit(dir, 'profile.json', (p) => (p.qualityGates[0].metric = 'coverage.mood'));
    expect(() => loadProfile('claims', dir)).toThrow(/claims\/profile\.json: qualityGates\.0\.metric: unknown metric "coverage\.mood"/);
    const other = copy();
    edit(other, 'profile.json', (p) => (p.facts[1].count = 'causeCode'));
    expect(() => loadProfile('claims', other)).toThrow(/facts\.1\.count: "causeCode" is not a list output/);
  });

  it('is refused when an extractor cannot produce its output, or an output is named twice', () => {
    const dir = copy();
    edit(dir, 'profile.json', (p) => (p.outputs[2].offline = { extractor: 'lexicon' }));
    expect(() => loadProfile('claims', dir)).toThrow(/outputs\.2\.offline\.extractor: lexicon cannot produce a boolean/);
    const other = copy();
    edit(other, 'profile.json', (p) => (p.outputs[3].name = 'causeCode'));
    expect(() => loadProfile('claims', other)).toThrow(/outputs\.3\.name: "causeCode" is already outputs\.0\.name/);
  });
});
