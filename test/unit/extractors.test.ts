// Under test: the generic extractors a profile declares its outputs with (src/domain/enrich/extractors.ts), and
// the claims profile re-expressed as declared outputs: on every benchmark item and 300 generated claims, the
// declaration gives exactly what the claims-specific analysis gives today (cause code and its keywords, building
// parts, denials, sentiment, every entity kind, summary and loss description). Also: a profile whose outputs,
// rules or gates name what it does not declare is refused naming the file and the path.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type EnrichmentOutput, type EnrichmentProvider, type EnrichmentRequest, type GroupNote, enrichGroup } from '../../src/domain/enrich/enrich-group.ts';
import { classifyByKeywords, detectPhrases, extract, matchDictionary, splitSentences } from '../../src/domain/enrich/extractors.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { loadBenchmark } from '../../src/scoring/benchmark.ts';
import { generateClaims } from '../../scripts/lib/claims-generator.ts';

const claims = loadProfile('claims');
const language = claims.language!;
const outputs = claims.outputs!;

/** Every group to compare: the benchmark's items and generated claims (the generator's columns mapped by alias). */
function groups(): Array<{ id: string; notes: GroupNote[] }> {
  const out: Array<{ id: string; notes: GroupNote[] }> = [];
  for (const item of loadBenchmark('claims-v1').items) {
    const input = item.input as { lob_code?: string; notes: Array<{ note_id: string; created_at?: string; text: string }> };
    out.push({ id: item.id, notes: input.notes.map((n, i) => ({ noteId: n.note_id, text: n.text, line: i + 2, values: { lob_code: input.lob_code ?? '', created_at: n.created_at ?? '' }, attributes: {} })) });
  }
  const { header, rows } = generateClaims({ seed: 7, claims: 300, notesPerClaim: 3, longNoteShare: 0.1, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
  const col = (name: string) => header.indexOf(name);
  const byClaim = new Map<string, GroupNote[]>();
  rows.forEach((r, i) => {
    const cell = (name: string) => String(r[col(name)]);
    const notes = byClaim.get(cell('CLAIMNO')) ?? [];
    notes.push({ noteId: cell('NOTEID'), text: cell('FN_TEXT'), line: i + 2, values: { lob_code: cell('LOBCD'), created_at: cell('FN_CRT_DT') }, attributes: {} });
    byClaim.set(cell('CLAIMNO'), notes);
  });
  for (const [id, notes] of byClaim) out.push({ id, notes });
  return out;
}

/** The request enrichGroup makes (eligible notes, retrieved chunks) and today's offline output for it. */
async function today(notes: GroupNote[], id: string): Promise<{ request?: EnrichmentRequest; output?: EnrichmentOutput }> {
  const offline = createOfflineProvider();
  const seen: { request?: EnrichmentRequest; output?: EnrichmentOutput } = {};
  const capturing: EnrichmentProvider = { ...offline, enrich: async (request) => ((seen.request = request), (seen.output = await offline.enrich(request))) };
  await enrichGroup(claims, id, notes, capturing, 'full');
  return seen;
}

describe('the claims profile as declared outputs', () => {
  it('gives what the claims-specific analysis gives on every benchmark item and 300 generated claims', async () => {
    let compared = 0;
    for (const g of groups()) {
      const { request, output } = await today(g.notes, g.id);
      if (!request || !output) continue; // no eligible note: nothing is extracted either way
      const text = request.notes.map((n) => n.text).join('\n');
      const input = { text, sentences: request.notes.flatMap((n) => splitSentences(n.text)), retrievedSentences: request.retrieved.flatMap((c) => splitSentences(c.text)), query: claims.enrichment.query };
      const got = Object.fromEntries(outputs.map((o) => [o.name, extract(o, input, outputs, language)]));
      const sentiment = got.sentiment!.value as { label: string; score: number };
      expect({
        causeCode: got.causeCode!.value,
        matched: got.causeCode!.evidence,
        parts: got.buildingParts!.value,
        denied: got.buildingDamageDenied!.value,
        denials: got.buildingDamageDenied!.evidence,
        sentiment: [sentiment.label, sentiment.score],
        entities: got.entities!.value,
        summary: got.summary!.value,
        lossDescription: got.lossDescription!.value,
      }, g.id).toEqual({
        causeCode: output.causeCode!.code,
        matched: output.causeCode!.matched,
        parts: output.building!.distinctParts,
        denied: output.building!.damageDenied,
        denials: output.building!.denials,
        sentiment: [output.sentiment!.label, output.sentiment!.comparative],
        entities: output.entities,
        summary: output.summary,
        lossDescription: output.lossDescription,
      });
      compared += 1;
    }
    expect(compared).toBeGreaterThan(250);
  });
});

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
