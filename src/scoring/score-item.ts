/**
 * The work of one benchmark item, shared by every way of scoring: predict (the same enrich + decide
 * domain code as the pipeline) and compare each expected field deterministically.
 */
import { decideGroup } from '../domain/decide/decide-group.ts';
import { type EnrichmentProvider, type GroupNote, enrichGroup } from '../domain/enrich/enrich-group.ts';
import { tokenize } from '../domain/enrich/extractors.ts';
import type { Profile } from '../profiles/profile.ts';
import type { BenchmarkConfig, BenchmarkItem } from './benchmark.ts';

export interface Prediction {
  decision: string;
  causeCode: string | null;
  /** The free text the key facts are judged against: the profile's text outputs. */
  lossText: string;
  provider: string;
}

/** Runs an item's notes through enrichment (full mode) and the profile's rules. */
export async function predictItem(profile: Profile, item: BenchmarkItem, provider: EnrichmentProvider): Promise<Prediction> {
  const notes: GroupNote[] = item.input.notes.map((n, i) => ({
    noteId: n.note_id,
    text: n.text,
    line: i + 2,
    values: { claim_id: item.input.claim_id, note_id: n.note_id, lob_code: item.input.lob_code, ...(n.created_at ? { created_at: n.created_at } : {}) },
    attributes: {},
  }));
  const enrichment = await enrichGroup(profile, item.input.claim_id, notes, provider, 'full');
  const decision = await decideGroup(profile, enrichment);
  return {
    decision: decision.outcome,
    causeCode: (enrichment.outputs.causeCode as string | undefined) ?? null,
    lossText: profile.outputs.filter((o) => o.type === 'text').map((o) => enrichment.outputs[o.name]).filter((t): t is string => typeof t === 'string' && t.length > 0).join(' '),
    provider: enrichment.provider,
  };
}

export interface FieldVerdict {
  field: 'decision' | 'causeCode' | 'keyFacts';
  method: string;
  /** 0..1 */
  score: number;
  correct: boolean;
  expected: unknown;
  predicted: unknown;
  /** The key-facts field still needs the LLM judge (its deterministic score is the fallback). */
  needsJudge?: boolean;
}

const normalize = (s: string) => tokenize(s).join(' ');

/** Share of the expected key facts whose words all appear in the text (normalised). */
export function factOverlap(facts: string[], text: string): number {
  if (!facts.length) return 1;
  const words = new Set(tokenize(text));
  const found = facts.filter((f) => tokenize(f).every((w) => words.has(w)));
  return found.length / facts.length;
}

export function compareItem(config: BenchmarkConfig, item: BenchmarkItem, p: Prediction): FieldVerdict[] {
  const out: FieldVerdict[] = [];
  for (const field of ['decision', 'causeCode', 'keyFacts'] as const) {
    const spec = config.fields[field];
    const expected = item.expected[field];
    const predicted = field === 'keyFacts' ? p.lossText : p[field];
    let score: number;
    let correct: boolean;
    switch (spec.method) {
      case 'exact':
        correct = expected === predicted;
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
        score = factOverlap(Array.isArray(expected) ? expected : [String(expected ?? '')], String(predicted ?? ''));
        correct = score >= spec.threshold;
        break;
    }
    out.push({ field, method: spec.method, score, correct, expected, predicted, ...(spec.method === 'judge' && (item.expected.keyFacts.length > 0) ? { needsJudge: true } : {}) });
  }
  return out;
}
