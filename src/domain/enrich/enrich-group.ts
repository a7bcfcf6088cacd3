/**
 * Enrichment of one group (a claim's notes): eligibility, time order, chunking and retrieval, then
 * the provider's stages. In `fast` mode only the profile's cheap stages run; expensive ones are
 * marked `pending` for a later backfill.
 */
import type { EnrichmentStage, Profile } from '../../profiles/profile.ts';
import { enrichmentStageNames } from '../../profiles/profile.ts';
import { type Chunk, chunkNotes, retrieveChunks } from './retrieval.ts';
import type { BuildingFacts, CauseCode, Entities, SentimentResult } from './text-analysis.ts';

export type Mode = 'fast' | 'full';

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
  stages: EnrichmentStage[];
}

export interface EnrichmentOutput {
  summary?: string;
  lossDescription?: string;
  causeCode?: CauseCode;
  building?: BuildingFacts;
  sentiment?: SentimentResult;
  entities?: Entities;
  /** Who produced this output when not the configured provider (e.g. `offline` while the LLM is unavailable). */
  provider?: string;
  model?: string;
  /** LLM calls made for this group and their prompt tokens (0 calls: offline or a cache hit). */
  usage?: { calls: number; promptTokens: number; cached?: boolean };
  /** Stages the provider could not run now (the LLM unavailable): left pending for a backfill. */
  deferred?: { stages: EnrichmentStage[]; reason: string };
}

/** Anything that can enrich a group: the offline provider now, the OpenAI provider next. */
export interface EnrichmentProvider {
  readonly name: string;
  readonly model: string;
  readonly promptVersion: string;
  enrich(request: EnrichmentRequest): Promise<EnrichmentOutput>;
}

export type StageStatus = 'done' | 'pending' | 'skipped';

export interface Enrichment extends EnrichmentOutput {
  provider: string;
  model: string;
  promptVersion: string;
  mode: Mode;
  stages: Record<EnrichmentStage, StageStatus>;
  eligibleNoteIds: string[];
  ineligible: Array<{ noteId: string; reason: string }>;
  provenance: { chunkIds: string[] };
}

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

/** Which stages run now and which wait, for a mode. */
export function planStages(profile: Profile, mode: Mode): { run: EnrichmentStage[]; pending: EnrichmentStage[] } {
  const run: EnrichmentStage[] = [];
  const pending: EnrichmentStage[] = [];
  for (const stage of enrichmentStageNames) {
    const cost = profile.enrichment.stages[stage];
    if (!cost) continue;
    if (mode === 'fast' && cost === 'expensive') pending.push(stage);
    else run.push(stage);
  }
  return { run, pending };
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
  const stages = Object.fromEntries(
    enrichmentStageNames.filter((s) => profile.enrichment.stages[s]).map((s) => [s, 'skipped' as StageStatus]),
  ) as Record<EnrichmentStage, StageStatus>;
  const base = {
    provider: provider.name,
    model: provider.model,
    promptVersion: provider.promptVersion,
    mode,
    eligibleNoteIds: eligible.map((n) => n.noteId),
    ineligible,
  };
  if (!eligible.length) return { ...base, stages, provenance: { chunkIds: [] } };
  const { chunk, topK, query } = profile.enrichment;
  const chunks = chunkNotes(eligible.map((n) => ({ noteId: n.noteId, text: n.text })), chunk.size, chunk.overlap);
  const retrieved = retrieveChunks(chunks, query, topK);
  const output = await provider.enrich({ profile, groupId, notes: eligible, retrieved, stages: plan.run });
  for (const s of plan.run) stages[s] = 'done';
  for (const s of [...plan.pending, ...(output.deferred?.stages ?? [])]) stages[s] = 'pending';
  return { ...base, ...output, stages, provenance: { chunkIds: stages.summary === 'done' ? retrieved.map((c) => c.id) : [] } };
}
