/**
 * The work of one benchmark item, shared by every way of scoring: predict (the same validation, enrich and
 * decide domain code as the pipeline) and compare each expected field deterministically.
 */
import { decideGroup } from '../domain/decide/decide-group.ts';
import { type EnrichmentProvider, type GroupNote, enrichGroup } from '../domain/enrich/enrich-group.ts';
import { ONLY_BOILERPLATE, documentMentions, documentNote, prepareDocument } from '../domain/documents/prepare.ts';
import { type SettledDocument, rollUp } from '../domain/documents/rollup.ts';
import { tokenize } from '../domain/enrich/extractors.ts';
import { toGroupNote, validateRecord } from '../domain/records/validate-record.ts';
import type { OutputSpec } from '../profiles/outputs.ts';
import type { Profile } from '../profiles/profile.ts';
import type { Benchmark, BenchmarkConfig, BenchmarkItem } from './benchmark.ts';
import type { JudgeInput } from './judge.ts';

export interface Prediction {
  decision: string;
  /** Every output the profile declares, by name, as enrichment produced it. */
  outputs: Record<string, unknown>;
  provider: string;
}

/** Runs an item's records through validation, enrichment (full mode) and the profile's rules. */
export async function predictItem(profile: Profile, item: BenchmarkItem, provider: EnrichmentProvider): Promise<Prediction> {
  let groupId = '';
  const notes: GroupNote[] = item.input.records.map((r, i) => {
    const v = validateRecord(profile, Object.entries(r).map(([h, value]) => [h, value === null ? null : String(value)]));
    if (!v.ok) throw new Error(`item ${item.id}: record ${i}: ${v.field}: ${v.reason}`); // loadBenchmark refuses such items first
    const g = toGroupNote(profile, v.record, i + 2);
    groupId = g.groupId;
    return g.note;
  });
  const enrichment = profile.documents ? await rollUpDocuments(profile, notes, provider) : await enrichGroup(profile, groupId, notes, provider, 'full');
  const decision = await decideGroup(profile, enrichment);
  return { decision: decision.outcome, outputs: enrichment.outputs, provider: enrichment.provider };
}

/**
 * A documents profile's item: each record is one document of the group (its text inline), prepared and enriched on
 * its own as the pipeline's document step does, then the group rolled up as its fan-in does.
 */
async function rollUpDocuments(profile: Profile, notes: GroupNote[], provider: EnrichmentProvider) {
  const docColumn = profile.recordKey.find((k) => k !== profile.groupKey);
  const docs = await Promise.all(
    notes.map(async (n, order): Promise<SettledDocument> => {
      const name = (docColumn && n.values[docColumn]) || `document-${order + 1}`;
      const date = profile.orderBy ? n.values[profile.orderBy] : undefined;
      const prepared = prepareDocument(profile, n.text);
      if (!prepared.text.trim()) return { docId: n.noteId, name, order, status: 'rejected', reason: ONLY_BOILERPLATE };
      const note = documentNote(profile, { docId: n.noteId, name, order, text: prepared.text, values: n.values, ...(date ? { date } : {}) });
      const enrichment = await enrichGroup(profile, n.noteId, [note], provider, 'full');
      return { docId: n.noteId, name, order, status: 'read', ...(date ? { date } : {}), enrichment, mentions: documentMentions(profile, prepared.text, name, n.values, enrichment.outputs) };
    }),
  );
  return rollUp(profile, docs, { mode: 'full', provider });
}

export interface FieldVerdict {
  field: string;
  method: string;
  /** 0..1 */
  score: number;
  correct: boolean;
  expected: unknown;
  predicted: unknown;
  /** The field still needs the LLM judge (its deterministic score is the fallback). */
  needsJudge?: boolean;
}

const normalize = (s: string) => tokenize(s).join(' ');

/**
 * Share of the expected phrases found in what was predicted: in a text, every word of the phrase
 * (normalised); in a list, an element equal to it (normalised).
 */
export function factOverlap(facts: string[], predicted: string | string[]): number {
  if (!facts.length) return 1;
  if (Array.isArray(predicted)) {
    const have = new Set(predicted.map(normalize));
    return facts.filter((f) => have.has(normalize(f))).length / facts.length;
  }
  const words = new Set(tokenize(predicted));
  return facts.filter((f) => tokenize(f).every((w) => words.has(w))).length / facts.length;
}

/** An output's value as a benchmark states it: a sentiment by its label, entities as their names. */
export function comparable(output: OutputSpec | undefined, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (output?.type === 'sentiment') return (value as { label?: string }).label ?? null;
  if (output?.type === 'entities') return [...new Set(Object.values(value as Record<string, string[]>).flat())].sort();
  return value;
}

/** What a field is compared with: the decision, an output, or the text outputs its key facts are looked for in. */
export function predictedField(profile: Profile, config: BenchmarkConfig, field: string, p: Prediction): unknown {
  const spec = config.fields[field]!;
  if ('against' in spec && spec.against) return spec.against.map((o) => p.outputs[o]).filter((t): t is string => typeof t === 'string' && t.length > 0).join(' ');
  if (field === 'decision') return p.decision;
  return comparable(profile.outputs.find((o) => o.name === field), p.outputs[field]);
}

const sameSet = (a: unknown[], b: unknown[]) => a.length === b.length && [...a].map(String).sort().join('\0') === [...b].map(String).sort().join('\0');

export function compareItem(profile: Profile, config: BenchmarkConfig, item: BenchmarkItem, p: Prediction): FieldVerdict[] {
  return Object.entries(config.fields).map(([field, spec]) => {
    const expected = item.expected[field] ?? null;
    const predicted = predictedField(profile, config, field, p);
    let score: number;
    let correct: boolean;
    switch (spec.method) {
      case 'exact':
        correct = Array.isArray(expected) && Array.isArray(predicted) ? sameSet(expected, predicted) : expected === predicted;
        score = correct ? 1 : 0;
        break;
      case 'normalized_text':
        correct = normalize(String(expected ?? '')) === normalize(String(predicted ?? ''));
        score = correct ? 1 : 0;
        break;
      case 'numeric':
        correct = Math.abs(Number(expected) - Number(predicted)) <= spec.tolerance;
        score = correct ? 1 : 0;
        break;
      case 'set_overlap':
      case 'judge':
        score = factOverlap(Array.isArray(expected) ? expected.map(String) : [String(expected ?? '')], Array.isArray(predicted) ? predicted.map(String) : String(predicted ?? ''));
        correct = score >= spec.threshold;
        break;
    }
    const judged = spec.method === 'judge' && Array.isArray(expected) && expected.length > 0;
    return { field, method: spec.method, score, correct, expected, predicted, ...(judged ? { needsJudge: true } : {}) };
  });
}

/** What the judge grades for an item: its expected key facts and the text outputs they are looked for in. */
export function judgeInput(b: Benchmark, item: BenchmarkItem, p: Prediction): JudgeInput {
  if (!b.judged) throw new Error(`benchmark ${b.name} judges no field`);
  const expected = item.expected[b.judged.field];
  return {
    id: item.id,
    expected: Array.isArray(expected) ? expected.map(String) : [String(expected ?? '')],
    predicted: b.judged.against.map((o) => p.outputs[o]).filter((t): t is string => typeof t === 'string' && t.length > 0).join(' '),
  };
}
