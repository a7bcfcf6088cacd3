// Under test: the improvement loop's parts, offline — deterministic stratified splits, typed edits applied or
// refused with their reason, failures clustered, and the loop on claims-v1: it learns from train, keeps only edits
// that pass the validation gate (each listed with its gain), reports test at the end, and changes nothing when
// nothing passes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchDictionary } from '../../src/domain/enrich/extractors.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { type Edit, EditError, type ProfileData, applyEdit } from '../../src/improve/edits.ts';
import { evaluate } from '../../src/improve/evaluate.ts';
import { clusterFailures } from '../../src/improve/failures.ts';
import { compile, improve, pairedBootstrap } from '../../src/improve/loop.ts';
import { ngrams, proposeOffline } from '../../src/improve/offline-proposer.ts';
import { splitItems } from '../../src/improve/splits.ts';
import { loadProfile, loadPrompt } from '../../src/profiles/profile.ts';
import { loadBenchmark, parseBenchmark } from '../../src/scoring/benchmark.ts';

const bench = loadBenchmark('claims-v1');
const claims = loadProfile('claims');
const data: ProfileData = {
  profile: JSON.parse(readFileSync(join(claims.folder, 'profile.json'), 'utf8')),
  rules: JSON.parse(readFileSync(join(claims.folder, 'rules.json'), 'utf8')),
  prompt: loadPrompt(claims, claims.enrichment.promptVersion),
};

describe('splits', () => {
  it('are deterministic, disjoint, complete and stratified by tag; another seed gives others', () => {
    const a = splitItems(bench.items, { seed: 1 });
    expect(splitItems(bench.items, { seed: 1 })).toEqual(a);
    const ids = [...a.train, ...a.validation, ...a.test].map((i) => i.id);
    expect(new Set(ids).size).toBe(bench.items.length);
    for (const tag of ['easy', 'ambiguous', 'adversarial']) {
      const n = bench.items.filter((i) => i.tags[0] === tag).length;
      expect(a.train.filter((i) => i.tags[0] === tag).length).toBe(Math.round(n * 0.5));
      expect(a.validation.filter((i) => i.tags[0] === tag).length).toBe(Math.round(n * 0.25));
    }
    expect(splitItems(bench.items, { seed: 2 }).test.map((i) => i.id)).not.toEqual(a.test.map((i) => i.id));
    // Adding an item moves no other.
    const more = splitItems([...bench.items, { ...bench.items[0]!, id: 'new-1' }], { seed: 1 });
    expect(more.test.filter((i) => i.id !== 'new-1').length).toBeGreaterThanOrEqual(a.test.length - 1);
  });
});

describe('typed edits', () => {
  it('apply to a copy, and compile', () => {
    const next = applyEdit(data, { kind: 'addKeyword', output: 'causeCode', label: 'WATER', keyword: 'sump pump' });
    expect(data.profile.outputs[0].labels[1].keywords).not.toContain('sump pump');
    const p = compile('claims', claims.folder, next);
    const water = p.outputs[0]!.type === 'label' ? p.outputs[0]!.labels.find((l) => l.value === 'WATER') : undefined;
    expect(water?.keywords).toContain('sump pump');
    // A dictionary's term keeps matching once it has a variant.
    const parts = compile('claims', claims.folder, applyEdit(data, { kind: 'addKeyword', output: 'buildingParts', label: 'roof', keyword: 'roof tiles' })).outputs.find((o) => o.name === 'buildingParts')!;
    if (parts.type !== 'labels') throw new Error('buildingParts is a labels output');
    expect(matchDictionary(['The roof leaked.'], parts.labels, claims.language).value).toEqual(['roof']);
    expect(parts.labels.find((l) => l.value === 'roof')?.keywords).toEqual(['roof', 'roof tiles']);
    const moved = applyEdit(data, { kind: 'moveRule', rule: 'many_building_parts', to: 0 });
    expect(moved.rules.rules[0].name).toBe('many_building_parts');
    expect(applyEdit(data, { kind: 'addPromptLine', line: 'Name the cause first.' }).prompt).toMatch(/- Name the cause first\.\n\nReturn:/);
  });

  it('are refused with the reason when they refer to nothing or change nothing', () => {
    const refused = (e: Parameters<typeof applyEdit>[1]) => {
      try {
        applyEdit(data, e);
        return '';
      } catch (err) {
        expect(err).toBeInstanceOf(EditError);
        return (err as Error).message;
      }
    };
    expect(refused({ kind: 'addKeyword', output: 'causeCode', label: 'ALIENS', keyword: 'ufo' })).toBe('output causeCode has no label ALIENS');
    expect(refused({ kind: 'addKeyword', output: 'causeCode', label: 'FIRE', keyword: 'Smoke' })).toBe('label FIRE of causeCode has "Smoke" already');
    expect(refused({ kind: 'addPhrase', output: 'causeCode', phrase: 'x' })).toBe('output causeCode is not produced by phrases or a count');
    expect(refused({ kind: 'setRuleValue', rule: 'building_cause_and_parts', condition: 0, value: 1 })).toBe("rule building_cause_and_parts's condition 0 compares with a fact, not a value");
    expect(refused({ kind: 'setRuleValue', rule: 'many_building_parts', condition: 0, value: 'three' })).toBe("rule many_building_parts's condition 0 compares with a number, not a string");
    expect(refused({ kind: 'moveRule', rule: 'nope', to: 0 })).toBe('no rule nope');
    expect(refused({ kind: 'addNegation', word: 'Never' })).toBe('"Never" is a negation already');
  });

  it("add a dictionary's term as a label of its own, refused where there is no dictionary or the term is there", () => {
    const parts = compile('claims', claims.folder, applyEdit(data, { kind: 'addTerm', output: 'buildingParts', term: 'Plaster' })).outputs.find((o) => o.name === 'buildingParts')!;
    if (parts.type !== 'labels') throw new Error('buildingParts is a labels output');
    expect(matchDictionary(['The plaster came down.'], parts.labels, claims.language).value).toEqual(['plaster']);
    expect(() => applyEdit(data, { kind: 'addTerm', output: 'causeCode', term: 'plaster' })).toThrow('output causeCode is not a dictionary');
    expect(() => applyEdit(data, { kind: 'addTerm', output: 'buildingParts', term: 'Roof' })).toThrow('dictionary buildingParts has "Roof" already');
  });

  it('add a negation word before or after a match, each to its own list', () => {
    const after = applyEdit(data, { kind: 'addNegation', word: 'Unharmed', after: true });
    expect(after.profile.language.negationsAfter).toEqual(['unharmed']);
    expect(after.profile.language.negations).toEqual(data.profile.language.negations);
    expect(compile('claims', claims.folder, after).language.negationsAfter).toEqual(['unharmed']);
    expect(() => applyEdit(after, { kind: 'addNegation', word: 'unharmed', after: true })).toThrow('"unharmed" is a negation after a match already');
    expect(applyEdit(data, { kind: 'addNegation', word: 'barely' }).profile.language.negations).toContain('barely');
  });
});

describe('failures and proposals', () => {
  it('cluster by field and kind of miss, and the offline proposer mines phrases no opposing train item has', async () => {
    const train = splitItems(bench.items).train;
    const e = await evaluate(claims, bench.config, train, createOfflineProvider());
    const categories = clusterFailures(e);
    const total = e.items.reduce((s, i) => s + i.verdicts.filter((v) => !v.correct).length, 0);
    expect(categories.reduce((s, c) => s + c.count, 0)).toBe(total);
    expect(categories[0]!.count).toBeGreaterThanOrEqual(categories.at(-1)!.count);
    const denied = categories.find((c) => c.key === 'decision: no → yes')!;
    expect(denied.count).toBeGreaterThan(0);
    const proposals = proposeOffline(data, categories, e.items);
    const phrases = proposals.filter((p) => p.category === denied.key).map((p) => p.edit);
    expect(phrases.filter((e) => e.kind === 'addPhrase').length).toBeGreaterThan(0);
    const yes = e.items.filter((i) => i.verdicts[0]!.expected === 'yes');
    for (const edit of phrases.filter((e) => e.kind === 'addPhrase')) {
      expect(edit).toMatchObject({ kind: 'addPhrase', output: 'buildingDamageDenied' });
      const phrase = (edit as { phrase: string }).phrase;
      for (const item of yes) expect(ngrams(item.text).has(phrase), `${phrase} in ${item.id}`).toBe(false);
    }
  });
});

describe('negation words proposed for a wrong decision', () => {
  const item = (id: string, text: string, expected: string, predicted: string) => ({ id, tags: ['t'], text, verdicts: [{ field: 'decision', method: 'exact', score: expected === predicted ? 1 : 0, correct: expected === predicted, expected, predicted }] });
  const failing = [
    item('f1', 'Hail hit the street. The roof is unharmed and sound.', 'no', 'yes'),
    item('f2', 'Storm last night; the wall looks unharmed and sound to the adjuster.', 'no', 'yes'),
    item('f3', 'Unharmed, the basement was checked by the adjuster.', 'no', 'yes'),
  ];
  const rightlyYes = item('p1', 'Hail broke the tiles, but the roof looks sound; the ceiling is leaking.', 'yes', 'yes');
  const category = { key: 'decision: no → yes', field: 'decision', expected: 'no', predicted: 'yes', count: 3, items: failing };

  it('are the words after a term of what decided the wrong outcome, in two failing items and after no such term where it was right', () => {
    const negations = proposeOffline(data, [category], [...failing, rightlyYes]).map((p) => p.edit).filter((e) => e.kind === 'addNegation');
    // "unharmed" follows a part in f1 and f2; "sound" does too but also follows one where the yes was right; "adjuster"
    // follows one in f2 only; f3's "unharmed" is before its part.
    expect(negations).toContainEqual({ kind: 'addNegation', word: 'unharmed', after: true });
    expect(negations.map((e) => (e as { word: string }).word)).not.toContain('sound');
    expect(negations.map((e) => (e as { word: string }).word)).not.toContain('adjuster');
    // Applied, the failing items' parts are negated.
    const next = compile('claims', claims.folder, applyEdit(data, { kind: 'addNegation', word: 'unharmed', after: true }));
    const parts = next.outputs.find((o) => o.name === 'buildingParts')!;
    if (parts.type !== 'labels') throw new Error('buildingParts is a labels output');
    expect(matchDictionary(['The roof is unharmed and sound.'], parts.labels, next.language).value).toEqual([]);
  });
});

describe('rule edits proposed for a wrong decision', () => {
  const item = (id: string, text: string) => ({ id, tags: ['t'], text, verdicts: [{ field: 'decision', method: 'exact', score: 0, correct: false, expected: 'yes', predicted: 'no' }] });
  const failing = [
    item('f1', 'Fire officer: no structural damage. Smoke blackened the kitchen ceiling and walls.'),
    item('f2', 'No structural damage, the surveyor says; smoke scorched the hall ceiling.'),
    item('f3', 'Contents only, says the insured, but the door was forced.'),
  ];
  const category = { key: 'decision: yes → no', field: 'decision', expected: 'yes', predicted: 'no', count: 3, items: failing };

  it("are a threshold one step toward the expected outcome, its rule one place up, and a phrase two failing items say removed", () => {
    const edits = proposeOffline(data, [category], failing).map((p) => p.edit);
    // The rules for yes hold more easily: a part fewer.
    expect(edits).toContainEqual({ kind: 'setRuleValue', rule: 'many_building_parts', condition: 0, value: 2 });
    expect(edits).toContainEqual({ kind: 'setRuleValue', rule: 'building_cause_and_parts', condition: 1, value: 0 });
    // A rule for yes below the rule for no that held moves up one place.
    expect(edits).toContainEqual({ kind: 'moveRule', rule: 'building_cause_and_parts', to: 1 });
    // The denial two failing items say is proposed for removal; the one only f3 says is not.
    expect(edits).toContainEqual({ kind: 'removePhrase', output: 'buildingDamageDenied', phrase: 'no structural damage' });
    expect(edits).not.toContainEqual({ kind: 'removePhrase', output: 'buildingDamageDenied', phrase: 'contents only' });
    // A term two failing items say, for the count a rule for yes tests; none only one says.
    expect(edits).toContainEqual({ kind: 'addTerm', output: 'buildingParts', term: 'smoke' });
    expect(edits).not.toContainEqual({ kind: 'addTerm', output: 'buildingParts', term: 'forced' });
    // Nothing moves a rule for no, or makes one hold more easily.
    expect(edits.filter((e) => e.kind === 'moveRule').map((e) => (e as { rule: string }).rule)).not.toContain('building_damage_denied');
    for (const e of edits) expect(applyEdit(data, e)).toBeDefined();
  });
});

describe('the gate on train', () => {
  // 40 items: an edit (a negation "fine" after a match) fixes the validation items; in the first run it also breaks
  // the train items, in the second it leaves them alone.
  const ids = Array.from({ length: 40 }, (_, i) => `g${String(i).padStart(2, '0')}`);
  const split = splitItems(ids.map((id) => ({ id, tags: ['easy'] })));
  const inTrain = new Set(split.train.map((i) => i.id));
  const record = (id: string, note: string) => ({ claim_id: id, note_id: '1', created_at: '2025-01-10', lob_code: '15', note });
  const benchmarkWith = (trainNote: string, trainExpected: string) => {
    const items = ids.map((id) =>
      inTrain.has(id)
        ? { id, tags: ['easy'], input: { records: [record(id, trainNote)] }, expected: { decision: trainExpected } }
        : { id, tags: ['easy'], input: { records: [record(id, 'After the storm passed the adjuster inspected the property from the garden; the roof and the walls are fine, nothing to repair.')] }, expected: { decision: 'no' } },
    );
    const text = { config: JSON.stringify({ profile: 'claims', description: 'the gate on train', fields: { decision: { method: 'exact', weight: 1 } } }), items: items.map((i) => JSON.stringify(i)).join('\n') };
    return parseBenchmark('gate', text);
  };
  const fine: Edit = { kind: 'addNegation', word: 'fine', after: true };
  const run = (b: ReturnType<typeof benchmarkWith>) =>
    improve({ benchmark: b, data, folder: claims.folder, provider: createOfflineProvider(), propose: async () => [{ category: 'decision: no → yes', edit: fine }], maxLoops: 1 });

  it('rejects an edit that gains on validation but loses on train, and keeps it when train holds', async () => {
    const breaks = await run(benchmarkWith('The storm ripped the tiles off the roof and the walls are fine, says the roofer who came out to the house today.', 'yes'));
    const tried = breaks.loops[0]!.tried[0]!;
    expect(tried.gain).toBeGreaterThan(0.02);
    expect(tried).toMatchObject({ status: 'rejected' });
    expect(tried.reason).toMatch(/^decision gains \d+\.\d% on validation but falls \d+\.\d% on train$/);
    expect(breaks.edits).toEqual([]);
    const holds = await run(benchmarkWith('The storm ripped the tiles off the roof and the window; the roof must be replaced by the roofer next week.', 'yes'));
    expect(holds.loops[0]!.tried[0]).toMatchObject({ status: 'kept' });
    expect(holds.edits).toEqual([fine]);
  });
});

describe('edits too small alone', () => {
  // 40 items, 10 on validation: two of those say the building is "fine" or "unharmed" (a negation after a match
  // each edit adds), the rest are plainly damaged. With the gate at 15 points, each edit's one item (10 points) is
  // too little alone; together they fix two.
  const ids = Array.from({ length: 40 }, (_, i) => `w${String(i).padStart(2, '0')}`);
  const split = splitItems(ids.map((id) => ({ id, tags: ['easy'] })));
  const [fineId, unharmedId] = split.validation.map((i) => i.id);
  const record = (id: string, note: string) => ({ claim_id: id, note_id: '1', created_at: '2025-01-10', lob_code: '15', note });
  const damaged = 'The storm ripped the tiles off the roof and the window; the roof must be replaced by the roofer next week.';
  const said = (word: string) => `After the storm passed the adjuster inspected the property from the garden; the roof and the walls are ${word}, nothing to repair.`;
  const items = ids.map((id) =>
    id === fineId || id === unharmedId
      ? { id, tags: ['easy'], input: { records: [record(id, said(id === fineId ? 'fine' : 'unharmed'))] }, expected: { decision: 'no' } }
      : { id, tags: ['easy'], input: { records: [record(id, damaged)] }, expected: { decision: 'yes' } },
  );
  const b = parseBenchmark('weak', { config: JSON.stringify({ profile: 'claims', description: 'edits too small alone', fields: { decision: { method: 'exact', weight: 1 } } }), items: items.map((i) => JSON.stringify(i)).join('\n') });
  const fine: Edit = { kind: 'addNegation', word: 'fine', after: true };
  const unharmed: Edit = { kind: 'addNegation', word: 'unharmed', after: true };
  const nothing: Edit = { kind: 'addNegation', word: 'splendid', after: true };
  const run = (edits: Edit[]) =>
    improve({ benchmark: b, data, folder: claims.folder, provider: createOfflineProvider(), propose: async () => edits.map((edit) => ({ category: 'decision: no → yes', edit })), maxLoops: 1, minGain: 0.15 });

  it('are tried together when each fixed an item and broke none, and kept together when together they pass the gate', async () => {
    const r = await run([fine, nothing, unharmed]);
    const [a, none, c] = r.loops[0]!.tried;
    expect(a).toMatchObject({ status: 'kept', weak: true });
    expect(a!.gain).toBeCloseTo(0.1, 10);
    expect(a!.reason).toMatch(/^decision gains 10\.0%, not more than 15\.0% alone; kept with 1 others: together decision gains 20\.0% on validation/);
    expect(c).toMatchObject({ status: 'kept', weak: true });
    expect(none).toMatchObject({ status: 'rejected' });
    expect(none!.weak).toBeUndefined();
    expect(r.edits).toEqual([fine, unharmed]);
    expect(r.final.validation.decision! - r.start.validation.decision!).toBeCloseTo(0.2, 10);
  });

  it('are not kept alone: one such edit is rejected as too small', async () => {
    const r = await run([fine, nothing]);
    expect(r.loops[0]!.tried.map((t) => t.status)).toEqual(['rejected', 'rejected']);
    expect(r.improved).toBe(false);
  });
});

describe('the improvement loop (offline proposer, claims-v1)', () => {
  const run = (o: { minGain?: number } = {}) =>
    improve({ benchmark: bench, data, folder: claims.folder, provider: createOfflineProvider(), propose: async (c) => proposeOffline(c.data, c.categories, c.train.items), maxLoops: 3, ...o });

  it('keeps only edits that pass the validation gate, each with its gain, and reports the test split at the end', async () => {
    const r = await run();
    expect(r.improved).toBe(true);
    expect(r.final.validation.decision!).toBeGreaterThan(r.start.validation.decision! + 0.02);
    expect(r.final.train.decision!).toBeGreaterThan(r.start.train.decision!);
    const kept = r.loops.flatMap((l) => l.tried.filter((t) => t.status === 'kept'));
    expect(kept.length).toBeGreaterThan(0);
    // Each kept edit passed the gate alone, or with others too small alone (each fixed an item and broke none).
    for (const t of kept) expect(t.gain! > 0.02 || /kept with \d+ others: together/.test(t.reason)).toBe(true);
    for (const e of r.edits) expect(kept.map((t) => JSON.stringify(t.edit))).toContain(JSON.stringify(e));
    expect(r.testGain.gain).toBeCloseTo(r.final.test.decision! - r.start.test.decision!, 10);
    expect(r.testGain.low).toBeLessThanOrEqual(r.testGain.gain);
    expect(r.testGain.high).toBeGreaterThanOrEqual(r.testGain.gain);
    // Test items were never learned from: the proposals came from train, the gate from validation.
    expect(new Set([...r.splits.train, ...r.splits.validation]).size + r.splits.test.length).toBe(bench.items.length);
    // The final version is a working profile.
    expect(compile('claims', claims.folder, r.data).rules.rules.length).toBe(claims.rules.rules.length);
  });

  it('changes nothing when no edit passes the gate', async () => {
    const r = await run({ minGain: 1 });
    expect(r.improved).toBe(false);
    expect(r.edits).toEqual([]);
    expect(r.data).toEqual(data);
    expect(r.final.test).toEqual(r.start.test);
    expect(r.loops[0]!.tried.every((t) => t.status !== 'kept')).toBe(true);
  });

  it('bootstraps a paired interval around the gain', () => {
    const item = (id: string, correct: boolean) => ({ id, tags: [], text: '', verdicts: [{ field: 'decision', method: 'exact', score: correct ? 1 : 0, correct, expected: 'a', predicted: 'a' }] });
    const before = { items: Array.from({ length: 40 }, (_, i) => item(`i${i}`, i < 20)), accuracy: {}, byTag: {}, weighted: 0 };
    const after = { ...before, items: Array.from({ length: 40 }, (_, i) => item(`i${i}`, i < 36)) };
    const g = pairedBootstrap(before, after, 'decision', 7);
    expect(g.gain).toBeCloseTo(0.4, 10);
    expect(g.low).toBeGreaterThan(0.2);
    expect(g.high).toBeLessThanOrEqual(0.6);
  });
});

describe('the loop as the state machine runs it: every step run twice (a retry after a crash between its work and its reply)', () => {
  it('proposes once, counts the proposer once, tries each candidate once, records each loop once, and ends as a run without repeats', async () => {
    const { createImproveSteps, memoryRunStates } = await import('../../src/improve/steps.ts');
    const settings = { field: 'decision', seed: 1, minGain: 0.02, maxDrop: 0.02, maxLoops: 3, proposer: 'llm' as const, budgetCalls: 100, concurrency: 4 };
    const run = async (twice: boolean) => {
      const states = memoryRunStates();
      let proposerRuns = 0;
      const steps = createImproveSteps({
        states,
        benchmark: () => bench,
        provider: createOfflineProvider(),
        // A proposer that counts its calls (as the LLM proposer does): one "call" per proposal round.
        proposer: () => {
          proposerRuns += 1;
          return { propose: async (c) => proposeOffline(c.data, c.categories, c.train.items), calls: 1 };
        },
      });
      const again = async <T>(step: () => Promise<T>) => {
        const first = await step();
        if (!twice) return first;
        const second = await step();
        expect(second).toEqual(first);
        return second;
      };
      await again(() => steps.prepare({ runId: 'r', benchmark: bench.name, start: data, settings }));
      for (;;) {
        const p = await again(() => steps.propose('r'));
        if (p.done) break;
        for (const c of p.candidates) await again(() => steps.tryCandidate('r', p.loop, c.index));
        if ((await again(() => steps.settle('r'))).done) break;
      }
      const final = await again(() => steps.finish('r'));
      return { final, proposerRuns };
    };
    const once = await run(false);
    const twice = await run(true);
    expect(twice.proposerRuns).toBe(once.proposerRuns);
    expect(twice.final.proposerCalls).toBe(once.final.proposerCalls);
    expect(twice.final.loops.map((l) => l.loop)).toEqual(once.final.loops.map((l) => l.loop));
    expect(twice.final.loops).toEqual(once.final.loops);
    expect(twice.final.accepted).toEqual(once.final.accepted);
    expect(twice.final.testGain).toEqual(once.final.testGain);
    expect(once.final.accepted.length).toBeGreaterThan(0);
  });
});
