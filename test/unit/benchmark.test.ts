// Under test: benchmark files as data — the shipped claims benchmark loads; bad files fail naming the file, line and field.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { thrown } from '../helpers/factories.ts';
import { loadBenchmark, parseBenchmark, readBenchmarkData } from '../../src/scoring/benchmark.ts';
import { judgeOptions } from '../../src/scoring/score-steps.ts';

describe('the claims-v1 benchmark', () => {
  it('has at least 60 hand-written items: easy, ambiguous and adversarial, with negations, injections and ineligible notes', () => {
    const b = loadBenchmark('claims-v1');
    expect(b.items.length).toBeGreaterThanOrEqual(60);
    const tagged = (t: string) => b.items.filter((i) => i.tags.includes(t)).length;
    expect(tagged('easy')).toBeGreaterThanOrEqual(20);
    expect(tagged('ambiguous')).toBeGreaterThanOrEqual(10);
    expect(tagged('adversarial')).toBeGreaterThanOrEqual(15);
    expect(tagged('negation')).toBeGreaterThanOrEqual(5);
    expect(tagged('injection')).toBeGreaterThanOrEqual(3);
    expect(new Set(b.items.map((i) => i.expected.decision))).toEqual(new Set(['yes', 'no', 'not_applicable']));
    expect(b.config.fields.decision).toMatchObject({ method: 'exact' });
  });
});

describe('the claims-v2 benchmark', () => {
  it("holds claims-v1's items and at least 150 in all, with the kinds that fail today well represented", () => {
    const v1 = loadBenchmark('claims-v1');
    const b = loadBenchmark('claims-v2');
    expect(b.items.length).toBeGreaterThanOrEqual(150);
    expect(b.items.slice(0, v1.items.length)).toEqual(v1.items);
    const tagged = (t: string) => b.items.filter((i) => i.tags.includes(t)).length;
    expect(tagged('negation')).toBeGreaterThanOrEqual(20);
    expect(tagged('preexisting')).toBeGreaterThanOrEqual(8);
    expect(tagged('contents_only')).toBeGreaterThanOrEqual(10);
    expect(tagged('injection')).toBeGreaterThanOrEqual(10);
    expect(tagged('long')).toBeGreaterThanOrEqual(10);
    for (const i of b.items.filter((x) => x.tags.includes('long'))) expect(String(i.input.records[0]!.note).length).toBeGreaterThan(1000);
  });
});

describe('the social-v1 benchmark', () => {
  it('has at least 40 hand-written threads: sarcasm, negated complaints, mixed sentiment, brand variants, injections', () => {
    const b = loadBenchmark('social-v1');
    expect(b.items.length).toBeGreaterThanOrEqual(40);
    const tagged = (t: string) => b.items.filter((i) => i.tags.includes(t)).length;
    for (const t of ['sarcasm', 'negation', 'mixed', 'variant']) expect(tagged(t), t).toBeGreaterThanOrEqual(5);
    expect(tagged('injection')).toBeGreaterThanOrEqual(3);
    expect(new Set(b.items.map((i) => i.expected.decision))).toEqual(new Set(['escalate', 'monitor', 'none']));
    expect(b).toMatchObject({ decision: 'escalation', judged: { field: 'keyPoints', against: ['summary'], prompt: 'social-judge-v1' } });
  });
});

describe('a bad benchmark file', () => {
  it('is refused with every problem named by file, line and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
    writeFileSync(join(dir, 'bad.config.json'), JSON.stringify({ profile: 'claims', description: 'd', fields: { decision: { method: 'exact', weight: 1 }, causeCode: { method: 'exact', weight: 1 }, keyFacts: { method: 'set_overlap', weight: 1, threshold: 0.5, against: ['summary'] } } }));
    const ok = { id: 'a', tags: [], input: { records: [{ CLAIMNO: 'C', lob_code: '15', note_id: '1', note: 'x' }] }, expected: { decision: 'yes', causeCode: 'FIRE', keyFacts: [] } };
    writeFileSync(
      join(dir, 'bad.jsonl'),
      [
        JSON.stringify(ok),
        '{not json',
        JSON.stringify({ ...ok, id: 'b', expected: { ...ok.expected, decision: 'maybe' } }),
        JSON.stringify({ ...ok, id: 'c', input: { records: [] } }),
        JSON.stringify(ok),
        JSON.stringify({ ...ok, id: 'd', expected: { ...ok.expected, causeCode: 'ALIENS' } }),
        JSON.stringify({ ...ok, id: 'e', input: { records: [ok.input.records[0], { ...ok.input.records[0], CLAIMNO: 'D', created_at: 'yesterday' }] } }),
        JSON.stringify({ ...ok, id: 'f', input: { records: [ok.input.records[0], { ...ok.input.records[0], CLAIMNO: 'D' }] }, expected: { decision: 'yes', keyFacts: 'roof', mood: 'sad' } }),
      ].join('\n'),
    );
    const { message } = await thrown(async () => loadBenchmark('bad', dir));
    expect(message).toContain('bad.jsonl line 2: not JSON');
    expect(message).toContain('bad.jsonl line 3: expected.decision: "maybe" is not one of yes, no, not_applicable');
    expect(message).toContain('bad.jsonl line 4: input.records:');
    expect(message).toContain('bad.jsonl line 5: id: a repeats line 1');
    expect(message).toContain('bad.jsonl line 6: expected.causeCode: "ALIENS" is not a label of causeCode (');
    expect(message).toContain('bad.jsonl line 7: input.records.1.created_at: ');
    expect(message).toContain('bad.jsonl line 8: input.records: all records must be of one claim_id (found C, D)');
    expect(message).toContain('bad.jsonl line 8: expected.causeCode: missing (the config compares it)');
    expect(message).toContain('bad.jsonl line 8: expected.keyFacts: a list of key-fact phrases is expected');
    expect(message).toContain('bad.jsonl line 8: expected.mood: not a field of the benchmark\'s config (decision, causeCode, keyFacts)');
    expect(() => loadBenchmark('nope', dir)).toThrow('unknown benchmark "nope" (known: bad)');
  });

  it('is refused when a field names neither the decision nor an output, or key facts look in a non-text output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
    writeFileSync(join(dir, 'cfg.jsonl'), '');
    writeFileSync(
      join(dir, 'cfg.config.json'),
      JSON.stringify({ profile: 'claims', description: 'd', fields: { decision: { method: 'exact', weight: 1 }, mood: { method: 'exact', weight: 1 }, facts: { method: 'judge', weight: 1, fallback: 'set_overlap', threshold: 0.5, against: ['causeCode'] } } }),
    );
    const { message } = await thrown(async () => loadBenchmark('cfg', dir));
    expect(message).toContain('cfg.config.json: fields.mood: not the decision nor an output of profile claims');
    expect(message).toContain('fields.facts.against: "causeCode" is not a text output of profile claims (lossDescription, summary)');
    expect(message).toContain("judgePrompt: a judged field needs the judge's prompt");
  });
});

describe("a benchmark's judge prompt", () => {
  it('travels with its data and is part of its version: a new wording is a new version; a named prompt that is missing is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-judge-'));
    const config = JSON.parse(readFileSync('benchmarks/claims-v1.config.json', 'utf8'));
    writeFileSync(join(dir, 'j.config.json'), JSON.stringify({ ...config, judgePrompt: 'my-judge' }));
    writeFileSync(join(dir, 'j.jsonl'), readFileSync('benchmarks/claims-v1.jsonl', 'utf8'));
    const { message } = await thrown(async () => loadBenchmark('j', dir));
    expect(message).toContain('j.config.json: judgePrompt: prompts/my-judge.md does not exist or is empty');

    mkdirSync(join(dir, 'prompts'));
    writeFileSync(join(dir, 'prompts', 'my-judge.md'), 'Grade strictly.\n');
    const data = readBenchmarkData('j', dir);
    expect(data.judgePrompt).toBe('Grade strictly.\n');
    const b = loadBenchmark('j', dir);
    expect(b.judged).toMatchObject({ field: 'keyFacts', prompt: 'my-judge', promptText: 'Grade strictly.\n' });
    expect(b.source).toEqual(data);
    // Parsed from the data alone (as a pushed version is, with no folder), the same benchmark and version.
    expect(parseBenchmark('j', data).version).toBe(b.version);
    const reworded = parseBenchmark('j', { ...data, judgePrompt: 'Grade leniently.\n' });
    expect(reworded.version).not.toBe(b.version);
    expect(reworded.judged!.promptText).toBe('Grade leniently.\n');
    expect(judgeOptions(reworded)).toEqual({ threshold: 0.5, prompt: 'my-judge', promptText: 'Grade leniently.\n' });
  });
});
