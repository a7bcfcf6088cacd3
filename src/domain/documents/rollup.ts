/**
 * The fan-in of a documents profile's group (an opportunity): once every one of its documents has settled, their
 * enrichments are rolled up into the group's one enrichment — each declared output merged over the documents read,
 * the people and organisations they mention consolidated (`consolidate.ts`), the profile's rollup facts computed
 * over all documents or the latest ones, and every rejected document listed with its reason. Pure: the same
 * settled documents give the same enrichment, however often it is computed.
 */
import type { DocumentsSpec } from '../../profiles/documents.ts';
import type { Profile } from '../../profiles/profile.ts';
import type { OutputSpec } from '../../profiles/outputs.ts';
import type { Enrichment, Mode, StageStatus } from '../enrich/enrich-group.ts';
import type { Removed } from './boilerplate.ts';
import { type Mention, consolidate } from './consolidate.ts';

/** One document of a group, settled: read and enriched, or rejected (cannot be read) or failed, with the reason. */
export interface SettledDocument {
  docId: string;
  /** The file as the user knows it (its key in the drop bucket, or its name in the manifest). */
  name: string;
  /** Its place among its group's documents (listing or manifest order): the later, the newer when no date says. */
  order: number;
  status: 'read' | 'rejected' | 'failed';
  reason?: string;
  /** When it was written (an e-mail's Date), ISO. */
  date?: string;
  enrichment?: Enrichment;
  /** The people and organisations it mentions, for its group's consolidation. */
  mentions?: Mention[];
  /** Boilerplate lines removed, by kind. */
  removed?: Removed;
  /** Addresses it holds that could not be repaired (reported, never emitted). */
  invalidEmails?: Array<{ raw: string; reason: string }>;
  /** Broken addresses it held that were repaired. */
  repairedEmails?: number;
  /** Its cleaned text's length. */
  chars?: number;
}

/**
 * Newest first: by date when every document has one (ties by order), else by their order in the group — one key
 * for all, so the order is consistent (dates for some documents only, e.g. the e-mails, would not be).
 */
function newestFirst(docs: SettledDocument[]): SettledDocument[] {
  const dated = docs.every((d) => d.date);
  return [...docs].sort((a, b) => (dated && a.date !== b.date ? b.date!.localeCompare(a.date!) : b.order - a.order));
}

/**
 * One output's values over several documents (newest first): a list (labels, entities) as the union of its values,
 * a number as the sum, a boolean as whether any holds, a text as the texts joined (newest first, to the output's
 * length), a label or sentiment as the newest.
 */
export function mergeOutput(spec: OutputSpec, values: unknown[]): unknown {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (!present.length) return undefined;
  switch (spec.type) {
    case 'labels':
      return [...new Set(present.flatMap((v) => v as string[]))].sort();
    case 'entities': {
      if (present.every(Array.isArray)) {
        // Scored entities: one per kind and name, the surest kept.
        const best = new Map<string, { name: string; kind: string; confidence: number }>();
        for (const e of present.flat() as Array<{ name: string; kind: string; confidence: number }>) {
          const k = `${e.kind}\0${e.name.toLowerCase()}`;
          if (!best.has(k) || best.get(k)!.confidence < e.confidence) best.set(k, e);
        }
        return [...best.values()];
      }
      const out: Record<string, string[]> = {};
      for (const v of present as Array<Record<string, string[]>>) for (const [kind, names] of Object.entries(v)) out[kind] = [...new Set([...(out[kind] ?? []), ...names])];
      return out;
    }
    case 'number':
      return present.reduce((n: number, v) => n + Number(v), 0);
    case 'boolean':
      return present.some(Boolean);
    case 'text': {
      const text = present.map(String).filter((t) => t.trim()).join(' ');
      return spec.maxChars && text.length > spec.maxChars ? `${text.slice(0, spec.maxChars - 1).trimEnd()}…` : text;
    }
    default:
      return present[0];
  }
}

/** A rollup fact's value: how many distinct values a list holds, a number's sum, a boolean's any, else the merged value. */
function rollupValue(spec: OutputSpec, merged: unknown): unknown {
  if (merged === undefined) return spec.type === 'labels' || spec.type === 'entities' || spec.type === 'number' ? 0 : undefined;
  if (spec.type === 'labels') return (merged as string[]).length;
  if (spec.type === 'entities') return Array.isArray(merged) ? merged.length : Object.values(merged as Record<string, string[]>).reduce((n, v) => n + v.length, 0);
  if (spec.type === 'sentiment') return (merged as { label: string }).label;
  return merged;
}

/**
 * Rolls a group's settled documents up into its enrichment.
 * @example rollUp(profile, docs, { mode: 'full', provider }) // outputs: merged, consolidated counts, rollup facts
 */
export function rollUp(
  profile: Profile,
  documents: SettledDocument[],
  o: { mode: Mode; provider: { name: string; model: string; promptVersion: string }; facets?: Record<string, string> },
): Enrichment {
  const spec: DocumentsSpec = profile.documents!;
  const read = newestFirst(documents.filter((d) => d.status === 'read' && d.enrichment));
  const notRead = documents.filter((d) => d.status !== 'read' || !d.enrichment);
  const outputs: Record<string, unknown> = {};
  const stages: Record<string, StageStatus> = {};
  for (const out of profile.outputs) {
    const merged = mergeOutput(out, read.map((d) => d.enrichment!.outputs[out.name]));
    if (merged !== undefined) outputs[out.name] = merged;
    const states = read.map((d) => d.enrichment!.stages[out.name]);
    stages[out.name] = states.includes('pending') ? 'pending' : states.includes('done') ? 'done' : 'skipped';
  }
  const latest = read.slice(0, spec.latest);
  for (const r of spec.rollup) {
    const out = profile.outputs.find((x) => x.name === r.from)!;
    const over = r.over === 'latest' ? latest : read;
    outputs[r.name] = rollupValue(out, mergeOutput(out, over.map((d) => d.enrichment!.outputs[r.from])));
  }
  const { entities, review } = consolidate(
    read.flatMap((d) => d.mentions ?? []),
    spec.acceptAbove,
  );
  const into = spec.consolidateInto;
  if (into && outputs[into.output]) {
    const names = (kind: 'person' | 'organization') => entities.filter((e) => e.kind === kind).map((e) => e.name);
    outputs[into.output] = { ...(outputs[into.output] as Record<string, string[]>), [into.person]: names('person'), [into.organization]: names('organization') };
  }
  outputs.documentsRead = read.length;
  outputs.documentsRejected = notRead.length;
  outputs.people = entities.filter((e) => e.kind === 'person').length;
  outputs.organizations = entities.filter((e) => e.kind === 'organization').length;
  const first = read[0]?.enrichment;
  const deferred = read.map((d) => d.enrichment!.deferred).filter((x) => x !== undefined);
  const usage = read.reduce((u, d) => ({ calls: u.calls + (d.enrichment!.usage?.calls ?? 0), promptTokens: u.promptTokens + (d.enrichment!.usage?.promptTokens ?? 0) }), { calls: 0, promptTokens: 0 });
  const byOrder = [...read].sort((a, b) => a.order - b.order);
  return {
    ...(o.facets ? { facets: o.facets } : {}),
    outputs,
    provider: first?.provider ?? o.provider.name,
    model: first?.model ?? o.provider.model,
    promptVersion: first?.promptVersion ?? o.provider.promptVersion,
    mode: o.mode,
    usage,
    ...(deferred.length ? { deferred: { stages: [...new Set(deferred.flatMap((d) => d.stages))], reason: deferred[0]!.reason } } : {}),
    stages,
    eligibleNoteIds: byOrder.map((d) => d.docId),
    ineligible: notRead.map((d) => ({ noteId: d.docId, reason: d.reason ?? 'not read' })),
    provenance: { chunkIds: byOrder.flatMap((d) => d.enrichment!.provenance.chunkIds.map((c) => `${d.docId}/${c}`)) },
    documents: {
      read: byOrder.map((d) => ({ name: d.name, ...(d.removed ? { removed: d.removed } : {}), ...(d.invalidEmails?.length ? { invalidEmails: d.invalidEmails } : {}), ...(d.repairedEmails ? { repairedEmails: d.repairedEmails } : {}) })),
      rejected: notRead.map((d) => ({ name: d.name, reason: d.reason ?? 'not read' })),
      entities,
      review,
    },
  };
}
