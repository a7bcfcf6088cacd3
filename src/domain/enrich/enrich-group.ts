/**
 * Enrichment of one group (the records sharing a group key): eligibility, time order, chunking and retrieval,
 * then the provider produces the profile's declared outputs. In `fast` mode only the cheap outputs are produced;
 * expensive ones are marked `pending` for a later backfill.
 */
import * as z from 'zod';
import { tokenize } from './extractors.ts';
import { type ScoredEntity, resolveEntities } from './resolve-entities.ts';
import type { Profile } from '../../profiles/profile.ts';
import { type Chunk, chunkNotes, retrieveChunks } from './retrieval.ts';

export const modeSchema = z.enum(['fast', 'full']);
export type Mode = z.infer<typeof modeSchema>;

export interface GroupNote {
  noteId: string;
  text: string;
  /** Source line in the dropped file, for provenance and stable ordering. */
  line: number;
  values: Record<string, string>;
  attributes: Record<string, string>;
}

export interface EnrichmentRequest {
  profile: Profile;
  groupId: string;
  /** Eligible notes, oldest first. */
  notes: GroupNote[];
  /** The chunks retrieved for the profile's query (RAG context). */
  retrieved: Chunk[];
  /** The declared outputs to produce now. */
  stages: string[];
}

export const enrichmentOutputSchema = z.object({
  /** Each declared output produced, by name, its value of the output's type (`src/profiles/outputs.ts`). */
  outputs: z.record(z.string(), z.unknown()),
  /** What an output rests on, where the provider can say (the keywords that matched, the phrases found). */
  evidence: z.record(z.string(), z.array(z.string())).optional(),
  /** Who produced this output when not the configured provider (e.g. `offline` while the LLM is unavailable). */
  provider: z.string().optional(),
  model: z.string().optional(),
  /** LLM calls made for this group and their prompt tokens (0 calls: offline or a cache hit). */
  usage: z.object({ calls: z.int().nonnegative(), promptTokens: z.int().nonnegative(), cached: z.boolean().optional() }).optional(),
  /** Outputs the provider could not produce now (the LLM unavailable): left pending for a backfill. */
  deferred: z.object({ stages: z.array(z.string()), reason: z.string() }).optional(),
});
export type EnrichmentOutput = z.infer<typeof enrichmentOutputSchema>;

/** Anything that can enrich a group: the offline provider now, the OpenAI provider next. */
export interface EnrichmentProvider {
  readonly name: string;
  readonly model: string;
  readonly promptVersion: string;
  enrich(request: EnrichmentRequest): Promise<EnrichmentOutput>;
}

const consolidatedEntity = z.object({ kind: z.enum(['person', 'organization']), name: z.string(), variants: z.array(z.string()), emails: z.array(z.string()), confidence: z.number(), documents: z.array(z.string()) });

const scoredEntity = z.object({ name: z.string(), kind: z.string(), confidence: z.number() });

export const stageStatusSchema = z.enum(['done', 'pending', 'skipped']);
export type StageStatus = z.infer<typeof stageStatusSchema>;

/** A group's enrichment as stored and as written in its results line. */
export const enrichmentSchema = enrichmentOutputSchema.extend({
  provider: z.string(),
  model: z.string(),
  promptVersion: z.string(),
  mode: modeSchema,
  /** Each declared output: done, pending (for a backfill) or skipped (no eligible record). */
  stages: z.record(z.string(), stageStatusSchema),
  eligibleNoteIds: z.array(z.string()),
  ineligible: z.array(z.object({ noteId: z.string(), reason: z.string() })),
  provenance: z.object({ chunkIds: z.array(z.string()) }),
  /** The profile's facet columns, each the most frequent value among the group's records (e.g. its platform). */
  facets: z.record(z.string(), z.string()).optional(),
  /**
   * A documents profile's group (`src/domain/documents/rollup.ts`): each document read (with the boilerplate lines
   * removed and the addresses it held that could not be repaired) or rejected with the reason, and the
   * consolidated people and organisations — one per real one, those under the threshold listed for review.
   */
  documents: z
    .object({
      read: z.array(z.object({ name: z.string(), removed: z.object({ cut: z.int(), dropped: z.int(), repeated: z.int() }).optional(), invalidEmails: z.array(z.object({ raw: z.string(), reason: z.string() })).optional(), repairedEmails: z.int().optional() })),
      rejected: z.array(z.object({ name: z.string(), reason: z.string() })),
      entities: z.array(consolidatedEntity),
      review: z.array(consolidatedEntity),
    })
    .optional(),
  /** Per entities output that resolves against another: what was merged, accepted, and left for review. */
  resolution: z
    .record(
      z.string(),
      z.object({
        merged: z.array(z.object({ name: z.string(), kind: z.string(), alternative: z.string() })),
        accepted: z.array(scoredEntity),
        review: z.array(scoredEntity.extend({ reason: z.enum(['low_confidence', 'multiple_matches']), candidates: z.array(z.string()) })),
      }),
    )
    .optional(),
});
export type Enrichment = z.infer<typeof enrichmentSchema>;

/** Splits notes into the eligible ones (oldest first) and the others with their reason. */
export function selectEligibleNotes(profile: Profile, notes: GroupNote[]): { eligible: GroupNote[]; ineligible: Enrichment['ineligible'] } {
  const eligible: GroupNote[] = [];
  const ineligible: Enrichment['ineligible'] = [];
  for (const note of notes) {
    const reason = ineligibility(profile, note);
    if (reason) ineligible.push({ noteId: note.noteId, reason });
    else eligible.push(note);
  }
  return { eligible: sortByTime(profile, eligible), ineligible };
}

function ineligibility(profile: Profile, note: GroupNote): string | undefined {
  const { minTextLength, allowedValues } = profile.eligibility;
  if (note.text.length < minTextLength) return `text shorter than ${minTextLength} characters (${note.text.length})`;
  for (const [field, allowed] of Object.entries(allowedValues)) {
    const value = note.values[field];
    if (value === undefined) return `${field} is missing`;
    if (!allowed.includes(value)) return `${field} ${value} is not one of ${allowed.join(', ')}`;
  }
  return undefined;
}

function sortByTime(profile: Profile, notes: GroupNote[]): GroupNote[] {
  const key = profile.orderBy;
  return [...notes].sort((a, b) => {
    const ta = key ? Date.parse(a.values[key] ?? '') : NaN;
    const tb = key ? Date.parse(b.values[key] ?? '') : NaN;
    if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb;
    return a.line - b.line;
  });
}

/** Each facet column's most frequent value among the records (the first seen on a tie); none when no record has one. */
export function facetsOf(profile: Profile, notes: GroupNote[]): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const facet of profile.facets) {
    const counts = new Map<string, number>();
    for (const n of notes) {
      const v = n.values[facet];
      if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    let best: [string, number] | undefined;
    for (const e of counts) if (!best || e[1] > best[1]) best = e;
    if (best) (out ??= {})[facet] = best[0];
  }
  return out;
}

/** Which outputs are produced now and which wait, for a mode. */
export function planStages(profile: Profile, mode: Mode): { run: string[]; pending: string[] } {
  const run: string[] = [];
  const pending: string[] = [];
  for (const o of profile.outputs) {
    if (mode === 'fast' && o.cost === 'expensive') pending.push(o.name);
    else run.push(o.name);
  }
  return { run, pending };
}

/** Whether an output is expensive (left for a backfill in fast mode, and what the LLM is called for). */
export function isExpensive(profile: Profile, output: string): boolean {
  return profile.outputs.some((o) => o.name === output && o.cost === 'expensive');
}

/**
 * Enriches one group.
 * @example const e = await enrichGroup(profile, 'C-1', notes, offlineProvider, 'full');
 * @throws whatever the provider throws (the caller decides about retries and pending work).
 */
export async function enrichGroup(
  profile: Profile,
  groupId: string,
  notes: GroupNote[],
  provider: EnrichmentProvider,
  mode: Mode,
): Promise<Enrichment> {
  const { eligible, ineligible } = selectEligibleNotes(profile, notes);
  const plan = planStages(profile, mode);
  const stages: Record<string, StageStatus> = Object.fromEntries(profile.outputs.map((o) => [o.name, 'skipped' as StageStatus]));
  const facets = facetsOf(profile, notes);
  const base = {
    ...(facets ? { facets } : {}),
    provider: provider.name,
    model: provider.model,
    promptVersion: provider.promptVersion,
    mode,
    eligibleNoteIds: eligible.map((n) => n.noteId),
    ineligible,
  };
  if (!eligible.length) return { ...base, outputs: {}, stages, provenance: { chunkIds: [] } };
  const { chunk, topK, query } = profile.enrichment;
  const chunks = chunkNotes(eligible.map((n) => ({ noteId: n.noteId, text: n.text })), chunk.size, chunk.overlap);
  const retrieved = retrieveChunks(chunks, query, topK);
  const output = await provider.enrich({ profile, groupId, notes: eligible, retrieved, stages: plan.run });
  for (const s of plan.run) stages[s] = 'done';
  for (const s of [...plan.pending, ...(output.deferred?.stages ?? [])]) stages[s] = 'pending';
  // The retrieved chunks are the provenance of the text outputs (the others read every eligible record).
  const readChunks = profile.outputs.some((o) => o.type === 'text' && stages[o.name] === 'done');
  const resolved = resolveOutputs(profile, output.outputs);
  return {
    ...base,
    ...output,
    outputs: resolved.outputs,
    stages,
    provenance: { chunkIds: readChunks ? retrieved.map((c) => c.id) : [] },
    ...(resolved.resolution ? { resolution: resolved.resolution } : {}),
  };
}

/**
 * Entities outputs that resolve against another: their scored list becomes resolved entities per kind (the
 * conservative ones plus those accepted), and what was merged, accepted or left for review is kept beside.
 */
export function resolveOutputs(profile: Profile, outputs: Record<string, unknown>): { outputs: Record<string, unknown>; resolution?: NonNullable<Enrichment['resolution']> } {
  let resolution: NonNullable<Enrichment['resolution']> | undefined;
  const out = { ...outputs };
  for (const o of profile.outputs) {
    if (o.type !== 'entities' || !o.resolve || !Array.isArray(outputs[o.name])) continue;
    const against = profile.outputs.find((x) => x.name === o.resolve!.against);
    const variants = new Map<string, string>();
    if (against?.type === 'entities') {
      for (const kind of against.kinds) {
        if (kind.from.source !== 'dictionary') continue;
        const source = kind.from.output;
        const labelled = profile.outputs.find((x) => x.name === source);
        for (const l of labelled && 'labels' in labelled ? labelled.labels : []) for (const v of [l.value, ...l.keywords]) variants.set(tokenize(v).join(' '), l.value);
      }
    }
    const r = resolveEntities((outputs[o.resolve.against] ?? {}) as Record<string, string[]>, outputs[o.name] as ScoredEntity[], { acceptAbove: o.resolve.acceptAbove, variants });
    out[o.name] = r.entities;
    (resolution ??= {})[o.name] = { merged: r.merged, accepted: r.accepted, review: r.review };
  }
  return resolution ? { outputs: out, resolution } : { outputs: out };
}
