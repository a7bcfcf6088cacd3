/**
 * A documents profile's pipeline (a profile with `documents`, e.g. deals): two levels of fan-out and a fan-in.
 *
 * 1. The manifest step (chunk λ) reads a dropped manifest: its groups (opportunities) and where their documents are
 *    (a key prefix in the drop bucket, listed; or inline, staged in the results bucket). It writes the rejects file
 *    (bad manifest rows), the job's counts and ledger, then sends one message per document to the enrich queue.
 * 2. The document step (enrich λ) reads one document (any format `readDocument` knows), removes its boilerplate,
 *    repairs its addresses, enriches it with the profile's outputs (same provider, cache, breaker and mode as any
 *    group) and stores it settled — or rejected with the file, its group and the reason. Then the batch's stored
 *    documents of each group are counted into its set of settled documents together (one ADD to a set: each once
 *    however often it is replayed).
 * 3. The delivery that sees the set complete rolls the group up (`src/domain/documents/rollup.ts`): its documents'
 *    outputs merged, its people and organisations consolidated, the rollup facts computed; stored with one
 *    conditional write, counted into the job's ledger and passed to the decide queue, where it is decided as any group.
 *
 * A crash between any two writes is made good by the redelivery: a stored document is not read again but counted
 * again; a complete set is rolled up again (the same documents give the same enrichment) and only one write of it
 * applies; a group already rolled up is only counted and passed on again. A delivery that dies on its last receive
 * leaves its message to the DLQ: the reconciler sends again each group whose documents are all stored
 * (`document-groups.ts`).
 */
import { hash } from 'node:crypto';
import { bytesOf } from './bytes.ts';
import pLimit from 'p-limit';
import * as z from 'zod';
import { type ManifestEntry, manifestColumns, parseRowRange, readManifest } from '../domain/documents/manifest.ts';
import { ONLY_BOILERPLATE, boilerplateOf, documentMentions, documentNote, prepareDocument } from '../domain/documents/prepare.ts';
import { learnRepeatedLines, sampleEvenly } from '../domain/documents/boilerplate.ts';
import { type SettledDocument, rollUp } from '../domain/documents/rollup.ts';
import { type Enrichment, type GroupNote, enrichGroup, facetsOf, modeSchema } from '../domain/enrich/enrich-group.ts';
import { GroupStatus, type JobStatus, TERMINAL_STATUSES, resultKeys } from '../domain/job.ts';
import { UnreadableFileError } from '../domain/records/read-rows.ts';
import type { Profile } from '../profiles/profile.ts';
import type { PipelineDeps } from './deps.ts';
import { PermanentError, errorReason } from './errors.ts';
import { maybeFinalize } from './finalize-job.ts';
import type { ManifestMessage, RejectLine } from './ingest-chunks.ts';
import { GROUPS_PER_SHARD, marksOf, shardSizes } from './ledger.ts';
import { groupsKey, isMissing, readJson } from './document-groups.ts';
import type { GroupRef, NotesRange } from './ports.ts';
import { UnknownJobError, recordStepFailure, settleGroups } from './process-group.ts';

const common = {
  jobId: z.string().min(1),
  profile: z.string().min(1),
  profileVersion: z.string().optional(),
  mode: modeSchema,
  groupId: z.string().min(1),
  shard: z.int().nonnegative(),
  /** How many documents the group has: its fan-in waits for this many to settle. */
  documents: z.int().nonnegative(),
  /** The group's columns from the manifest (its account, owner, …). */
  values: z.record(z.string(), z.string()),
  /** Sent again by a redelivered manifest: its document may be stored already. */
  resent: z.boolean().optional(),
};

/** The enrich queue's messages of a documents profile: one document, or a group without documents (rolled up at once). */
export const documentMessageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('document'),
    ...common,
    doc: z.object({ docId: z.string().min(1), name: z.string().min(1), bucket: z.string().min(1), key: z.string().min(1), order: z.int().nonnegative() }),
  }),
  z.object({ kind: z.literal('group'), ...common }),
]);
export type DocumentMessage = z.infer<typeof documentMessageSchema>;

/** Whether an enrich message is a document's (or a group's without documents) rather than a batch of group references. */
export function isDocumentMessage(body: unknown): boolean {
  const kind = (body as { kind?: unknown } | null)?.kind;
  return kind === 'document' || kind === 'group';
}

/** The document readers (pdf.js, mammoth, mailparser), loaded on first use: a records profile's steps never load them. */
const readers = () => import('../domain/documents/read-document.ts');

/** A document's id: stable for its key, whatever delivery computes it. */
const docIdOf = (key: string) => hash('sha256', key, 'base64url').slice(0, 16);
const stagedDocumentKey = (jobId: string, group: number, i: number, name: string) => `staging/${jobId}/documents/${group}/${i}-${name.replace(/[^\w.-]+/g, '_')}`;
const documentNotesKey = (jobId: string, docId: string) => `records/${jobId}/documents/${docId}.json`;
const repeatedLinesKey = (jobId: string) => `staging/${jobId}/repeated-lines.json`;
const groupNotesKey = (jobId: string, groupId: string) => `records/${jobId}/groups/${hash('sha256', groupId, 'base64url').slice(0, 16)}.json`;

/**
 * The manifest step: a documents profile's drop becomes one message per document.
 * @throws on infrastructure errors (the message is retried); a manifest that cannot be read fails its job.
 */
export async function manifestStep(deps: PipelineDeps, msg: ManifestMessage): Promise<'done' | 'failed'> {
  const started = Date.now();
  const profile = await deps.profiles.at(msg.profile, msg.profileVersion);
  if (!profile.documents) throw new PermanentError(`profile ${profile.name} has no documents section`);
  const object = await deps.objects.get(msg.bucket, msg.key);
  if (object.etag && object.etag !== msg.etag.replace(/"/g, '')) {
    // Replaced since its event: this job's manifest is gone (the new one is a job of its own).
    object.body.destroy();
    await deps.store.failJob(msg.jobId, `${msg.key}: the object changed after this event; its newer version is ingested as its own job`, deps.now().toISOString());
    return 'failed';
  }
  let read;
  try {
    read = await readManifest(object.body, msg.key, { groupKey: profile.groupKey, columns: manifestColumns(profile), ...(msg.rows ? { rows: parseRowRange(msg.rows) } : {}) });
  } catch (err) {
    object.body.destroy();
    if (!(err instanceof UnreadableFileError)) throw err;
    await deps.store.failJob(msg.jobId, `${msg.key}: ${err.message}`, deps.now().toISOString(), true);
    return 'failed';
  }
  const { entries, rejects } = read;
  // The plan (each group's documents) is fixed by the first delivery that lists them: a redelivery fans out the same
  // documents with the same counts, even if files were added under a prefix since.
  const planned = await readPlan(deps, msg.jobId);
  const documents = planned ?? (await listDocuments(deps, msg, entries));
  if (!planned) await deps.objects.put(deps.resultsBucket, planKey(msg.jobId), JSON.stringify(documents), 'application/json');
  if (planned && planned.length !== entries.length) throw new PermanentError(`${msg.key}: the manifest's groups differ from the job's plan`);
  await learnDropLines(deps, profile, msg.jobId, documents.flat());
  const rejectLines = rejects.map((r) => JSON.stringify({ file: msg.key, ...r } satisfies RejectLine));
  await deps.objects.put(deps.resultsBucket, resultKeys(msg.jobId).rejects, rejectLines.length ? `${rejectLines.join('\n')}\n` : '', 'application/x-ndjson');
  const sizes = shardSizes(entries.length);
  const counts = { rows: entries.length + rejects.length, accepted: entries.length, rejected: rejects.length, duplicates: 0, groups: entries.length };
  await deps.store.recordIngestCounts(msg.jobId, counts, sizes.length, documents.reduce((n, d) => n + d.length, 0));
  await deps.store.openLedger(msg.jobId, sizes.map((expected, shard) => ({ shard, expected })));
  const base = { jobId: msg.jobId, profile: msg.profile, ...(msg.profileVersion ? { profileVersion: msg.profileVersion } : {}), mode: msg.mode };
  const groups = entries.map((entry, g): GroupMessage => ({ kind: 'group', ...base, groupId: entry.group, shard: Math.floor(g / GROUPS_PER_SHARD), documents: documents[g]!.length, values: entry.values }));
  await deps.objects.put(deps.resultsBucket, groupsKey(msg.jobId), JSON.stringify(groups), 'application/json');
  deps.crashPoint?.('manifest.stored');
  const messages = groups.flatMap((group, g): DocumentMessage[] => {
    if (!group.documents) return [group];
    return documents[g]!.map((d, order) => ({ ...group, kind: 'document' as const, ...(planned ? { resent: true } : {}), doc: { docId: docIdOf(`${d.bucket}/${d.key}`), name: d.name, bucket: d.bucket, key: d.key, order } }));
  });
  await deps.enrichQueue.sendAll(messages);
  deps.crashPoint?.('manifest.fanned-out');
  const after = (await deps.store.finishIngest(msg.jobId, deps.now().toISOString())) ?? (await deps.store.getJob(msg.jobId));
  deps.logger.info('manifest read', { jobId: msg.jobId, groups: entries.length, rejected: rejects.length, documents: messages.filter((m) => m.kind === 'document').length, ms: Date.now() - started });
  deps.metrics?.add('GroupsFannedOut', entries.length);
  deps.metrics?.add('DocumentsFannedOut', messages.length);
  if (after) await maybeFinalize(deps, after);
  return 'done';
}

/** Documents larger than this are left out of the sample the repeated lines are learned from. */
const SAMPLE_MAX_BYTES = 2 * 1024 * 1024;

type PlannedDocument = { bucket: string; key: string; name: string };

const planKey = (jobId: string) => `staging/${jobId}/plan.json`;

/** A pending document's note is stored before the document: its absence is retried, never skipped. */
function missingNote(docId: string): never {
  throw new Error(`document ${docId}: its stored note is missing`);
}

/** The plan a first delivery stored, if any. */
const readPlan = (deps: PipelineDeps, jobId: string) => readJson<PlannedDocument[][]>(deps, planKey(jobId));

/** Each group's documents, in key order: listed under its prefix, or staged from the manifest. */
async function listDocuments(deps: PipelineDeps, msg: ManifestMessage, entries: ManifestEntry[]): Promise<PlannedDocument[][]> {
  const limit = pLimit(8);
  return Promise.all(
    entries.map((entry, g) =>
      limit(async () => {
        if (entry.documents_prefix) return (await deps.objects.list(msg.bucket, entry.documents_prefix)).filter((o) => !o.key.endsWith('/')).map((o) => ({ bucket: msg.bucket, key: o.key, name: o.key }));
        return Promise.all(
          entry.documents!.map(async (d, i) => {
            const key = stagedDocumentKey(msg.jobId, g, i, d.name);
            await deps.objects.put(deps.resultsBucket, key, d.text, 'text/plain; charset=utf-8');
            return { bucket: deps.resultsBucket, key, name: d.name };
          }),
        );
      }),
    ),
  );
}

/**
 * Learns the lines repeated across a drop (footers, template lines) from a sample of its documents read evenly
 * across it, before any is enriched, and stores them for the document steps. The same drop gives the same sample,
 * so a redelivered manifest stores the same lines.
 */
async function learnDropLines(deps: PipelineDeps, profile: Profile, jobId: string, documents: Array<{ bucket: string; key: string; name: string }>): Promise<void> {
  const { repeated } = profile.documents!.boilerplate;
  const sample = sampleEvenly(documents, repeated.sample);
  if (sample.length < repeated.minDocuments) return;
  const { readDocument } = await readers();
  const limit = pLimit(8);
  const texts = await Promise.all(
    sample.map((d) =>
      limit(async () => {
        // A sample, not the drop: a document that cannot be read (or is large) is left out of it, never fatal here.
        const object = await deps.objects.get(d.bucket, d.key).catch(() => undefined);
        if (!object || object.size > Math.min(SAMPLE_MAX_BYTES, profile.documents!.maxBytes)) {
          object?.body.destroy();
          return '';
        }
        const read = await readDocument(d.name, await bytesOf(object.body), { maxBytes: profile.documents!.maxBytes }).catch(() => undefined);
        return read?.ok ? read.text : '';
      }),
    ),
  );
  const learned = [...learnRepeatedLines(texts, boilerplateOf(profile))].sort();
  await deps.objects.put(deps.resultsBucket, repeatedLinesKey(jobId), JSON.stringify(learned), 'application/json');
  deps.logger.info('repeated lines learned', { jobId, sample: sample.length, lines: learned.length });
}

/** Per store (one per function, and per runtime in a test process), so two runtimes never share a job's entries. */
function cacheOf<T>(caches: WeakMap<object, Map<string, T>>, deps: PipelineDeps): Map<string, T> {
  return caches.get(deps.store) ?? caches.set(deps.store, new Map()).get(deps.store)!;
}

/** A job's learned lines, read once per job by each instance (a few jobs kept). */
const learnedCaches = new WeakMap<object, Map<string, Promise<Set<string>>>>();
function repeatedLinesOf(deps: PipelineDeps, jobId: string): Promise<Set<string>> {
  const learnedOf = cacheOf(learnedCaches, deps);
  let hit = learnedOf.get(jobId);
  if (!hit) {
    hit = readJson<string[]>(deps, repeatedLinesKey(jobId)).then(
      (lines) => new Set(lines ?? []),
      (err: unknown) => {
        learnedOf.delete(jobId);
        throw err;
      },
    );
    learnedOf.set(jobId, hit);
    if (learnedOf.size > 16) learnedOf.delete(learnedOf.keys().next().value!);
  }
  return hit;
}

/** A job's status, read at most every 2 s by an instance (a batch's documents are mostly of one job). */
const statusCaches = new WeakMap<object, Map<string, { status: Promise<JobStatus | undefined>; at: number }>>();
function jobStatusOf(deps: PipelineDeps, jobId: string): Promise<JobStatus | undefined> {
  const statusOf = cacheOf(statusCaches, deps);
  const hit = statusOf.get(jobId);
  if (hit && Date.now() - hit.at < 2000) return hit.status;
  const status = deps.store.getJobStatus(jobId);
  statusOf.set(jobId, { status, at: Date.now() });
  status.catch(() => statusOf.delete(jobId));
  if (statusOf.size > 64) statusOf.delete(statusOf.keys().next().value!);
  return status;
}

const hasPending = (e: Enrichment) => Object.values(e.stages).includes('pending');

function refOf(msg: DocumentMessage, noteCount: number): GroupRef {
  return { jobId: msg.jobId, groupId: msg.groupId, profile: msg.profile, ...(msg.profileVersion ? { profileVersion: msg.profileVersion } : {}), mode: msg.mode, noteCount, shard: msg.shard, notes: { key: groupNotesKey(msg.jobId, msg.groupId), start: 0, end: 0 } };
}

/** How a message came: again (look for its document stored first), and whether on its last receive. */
export interface Delivery {
  redelivered?: boolean;
  lastReceive?: boolean;
}

export type DocumentOutcome = 'read' | 'rejected' | 'counted' | 'skipped';

type DocumentOnly = Extract<DocumentMessage, { kind: 'document' }>;
export type GroupMessage = Extract<DocumentMessage, { kind: 'group' }>;

/**
 * A batch of a documents profile's messages (as one invocation receives them): each document read, enriched and
 * stored on its own; then the batch's documents of each group counted into its set together (one write per group)
 * and each group the batch completes rolled up; a group without documents rolled up at once.
 * @returns per message, in order, its outcome or its error (the caller retries, or settles it as failed)
 */
export async function documentSteps(deps: PipelineDeps, batch: Array<{ msg: DocumentMessage } & Delivery>): Promise<Array<PromiseSettledResult<DocumentOutcome>>> {
  const stored = await Promise.allSettled(
    batch.map(async ({ msg, ...delivery }): Promise<DocumentOutcome> => {
      const status = await jobStatusOf(deps, msg.jobId);
      if (!status) throw new UnknownJobError(msg.jobId);
      if (TERMINAL_STATUSES.has(status)) return 'skipped';
      if (msg.kind === 'group') {
        await fanIn(deps, msg);
        return 'counted';
      }
      return storeDocument(deps, msg, delivery);
    }),
  );
  // The documents stored (or found stored), by group: each group's counted in one write.
  const byGroup = new Map<string, number[]>();
  batch.forEach(({ msg }, i) => {
    const r = stored[i]!;
    if (msg.kind !== 'document' || r.status !== 'fulfilled' || r.value === 'skipped') return;
    const key = `${msg.jobId}\0${msg.groupId}`;
    (byGroup.get(key) ?? byGroup.set(key, []).get(key)!).push(i);
  });
  const counted = new Map<number, PromiseSettledResult<void>>();
  await Promise.all(
    [...byGroup.values()].map(async (indexes) => {
      const [result] = await Promise.allSettled([countAndMaybeFanIn(deps, indexes.map((i) => batch[i]!.msg as DocumentOnly))]);
      for (const i of indexes) counted.set(i, result!);
    }),
  );
  return stored.map((r, i) => {
    const c = counted.get(i);
    return c?.status === 'rejected' ? c : r;
  });
}

/**
 * One message's document read, enriched and stored once: a message received for the first time is read at once
 * (a copy delivered beside it is settled by the conditional write); a redelivery first looks for the document
 * stored, so as not to read and enrich it again.
 * @throws on infrastructure and provider errors (the message is retried); a document that cannot be read is settled as rejected.
 */
async function storeDocument(deps: PipelineDeps, msg: DocumentOnly, o: Delivery): Promise<'read' | 'rejected' | 'counted'> {
  if ((o.redelivered || msg.resent) && (await deps.store.getDocument(msg.jobId, msg.groupId, msg.doc.docId))) return 'counted';
  const started = Date.now();
  const profile = await deps.profiles.at(msg.profile, msg.profileVersion);
  // On its last receive, a document every earlier receive failed to settle is not read again: one that kills its
  // handler (out of memory, over the timeout) would go to the DLQ uncounted and its group would never roll up.
  const settled = o.lastReceive
    ? { docId: msg.doc.docId, name: msg.doc.name, order: msg.doc.order, status: 'failed' as const, reason: 'not settled in its earlier attempts (an error, or its handler died or timed out reading it); not read again' }
    : await settleDocument(deps, profile, msg);
  let outcome: 'read' | 'rejected' | 'counted' = 'counted';
  if ((await deps.store.saveDocument(msg.jobId, msg.groupId, settled)) === 'applied') {
    outcome = settled.status === 'read' ? 'read' : 'rejected';
    deps.metrics?.add({ read: 'DocumentsRead', rejected: 'DocumentsRejected', failed: 'DocumentsFailed' }[settled.status], 1);
    deps.metrics?.add('LlmCalls', settled.enrichment?.usage?.calls ?? 0);
    deps.logger.info('document settled', { jobId: msg.jobId, groupId: msg.groupId, docId: msg.doc.docId, status: settled.status, chars: settled.chars ?? 0, ms: Date.now() - started });
  }
  deps.crashPoint?.('document.saved');
  return outcome;
}

/** Counts documents of one group (stored already) into its set; the write that completes the set rolls the group up. */
async function countAndMaybeFanIn(deps: PipelineDeps, msgs: DocumentOnly[]): Promise<void> {
  const [first] = msgs;
  const settled = await deps.store.countDocuments(first!.jobId, first!.groupId, msgs.map((m) => m.doc.docId));
  deps.crashPoint?.('document.counted');
  if (settled >= first!.documents) await fanIn(deps, first!);
}

/** Reads, cleans and enriches one document; what cannot be read is settled as rejected, with the reason. */
async function settleDocument(deps: PipelineDeps, profile: Profile, msg: Extract<DocumentMessage, { kind: 'document' }>): Promise<SettledDocument> {
  const spec = profile.documents!;
  const { docId, name, order } = msg.doc;
  const rejected = (reason: string): SettledDocument => ({ docId, name, order, status: 'rejected', reason });
  let object;
  try {
    object = await deps.objects.get(msg.doc.bucket, msg.doc.key);
  } catch (err) {
    if (isMissing(err)) return rejected('the file no longer exists (deleted after the manifest was read)');
    throw err;
  }
  if (object.size > spec.maxBytes) {
    object.body.destroy();
    return rejected(`the file is ${object.size} bytes; at most ${spec.maxBytes} are read`);
  }
  const { readDocument } = await readers();
  const read = await readDocument(name, await bytesOf(object.body), { maxBytes: spec.maxBytes });
  if (!read.ok) return rejected(read.reason);
  // An attachment that is itself a document is read as part of it; one that cannot be read is left out.
  const parts = [read.text];
  for (const a of read.attachments) {
    const inner = await readDocument(a.name, a.bytes, { maxBytes: spec.maxBytes });
    if (inner.ok) parts.push(inner.text);
  }
  const { text, removed, repairedEmails, invalidEmails } = prepareDocument(profile, parts.join('\n\n'), await repeatedLinesOf(deps, msg.jobId));
  if (!text.trim()) return rejected(ONLY_BOILERPLATE);
  const date = read.headers?.date && !Number.isNaN(Date.parse(read.headers.date)) ? new Date(read.headers.date).toISOString() : undefined;
  const note = documentNote(profile, { docId, name, order, text, values: msg.values, ...(date ? { date } : {}) });
  const enrichment = await enrichGroup(profile, docId, [note], deps.provider, msg.mode);
  // A note with outputs left pending (fast mode, the LLM unavailable) is kept for the group's backfill.
  if (hasPending(enrichment)) await deps.objects.put(deps.resultsBucket, documentNotesKey(msg.jobId, docId), JSON.stringify([note]), 'application/json');
  return {
    docId,
    name,
    order,
    status: 'read',
    ...(date ? { date } : {}),
    enrichment,
    mentions: documentMentions(profile, text, name, msg.values, enrichment.outputs),
    removed,
    ...(invalidEmails.length ? { invalidEmails } : {}),
    ...(repairedEmails ? { repairedEmails } : {}),
    chars: text.length,
  };
}

/**
 * The fan-in: once all of a group's documents have settled, it is rolled up, stored once, counted into the job's
 * ledger and passed to the decide queue. A group already rolled up (a redelivery, or a second delivery that saw
 * the set complete) is only counted and passed on again.
 */
async function fanIn(deps: PipelineDeps, msg: DocumentMessage): Promise<void> {
  const group = await deps.store.getGroup(msg.jobId, msg.groupId);
  if (group && (group.enrichment || group.status === GroupStatus.DECIDED || group.status === GroupStatus.FAILED)) {
    await settleGroups(deps, [{ ref: refOf(msg, group.noteCount), marks: marksOf(group), forward: group.status === GroupStatus.ENRICHED }]);
    return;
  }
  const docs = await deps.store.listDocuments(msg.jobId, msg.groupId);
  if (docs.length < msg.documents) throw new Error(`group ${msg.groupId}: ${docs.length} of its ${msg.documents} documents are stored`);
  const profile = await deps.profiles.at(msg.profile, msg.profileVersion);
  const read = docs.filter((d) => d.status === 'read');
  const ref = refOf(msg, read.length);
  // The group's notes, for a backfill: its documents with outputs left pending, cleaned (none: no notes file).
  const pending = read.filter((d) => hasPending(d.enrichment!));
  if (pending.length) {
    const notes = (await Promise.all(pending.map(async (d) => (await readJson<GroupNote[]>(deps, documentNotesKey(msg.jobId, d.docId))) ?? missingNote(d.docId)))).flat();
    const body = JSON.stringify(notes);
    ref.notes = { ...ref.notes, end: Buffer.byteLength(body) } satisfies NotesRange;
    await deps.objects.put(deps.resultsBucket, ref.notes.key, body, 'application/json');
  }
  const enrichment = rollUp(profile, docs, { mode: msg.mode, provider: deps.provider, facets: facetsOf(profile, [{ noteId: '', text: '', line: 0, values: msg.values, attributes: {} }]) });
  // Stored once: a second roll-up (a concurrent delivery that also saw the set complete) changes nothing.
  const saved = await deps.store.saveEnrichment(msg.jobId, msg.groupId, read.length, enrichment, msg.shard, ref.notes, deps.now().toISOString(), undefined, { once: true });
  deps.crashPoint?.('group.rolled-up');
  if (saved === 'applied') {
    deps.metrics?.add('GroupsEnriched', 1);
    deps.logger.info('group rolled up', { jobId: msg.jobId, groupId: msg.groupId, documents: docs.length, read: read.length, entities: enrichment.documents!.entities.length, review: enrichment.documents!.review.length });
  }
  // Not ours (another delivery rolled it up first): what is stored is counted and passed on.
  const stored = saved === 'applied' ? undefined : await deps.store.getGroup(msg.jobId, msg.groupId);
  const marks = stored ? marksOf(stored) : marksOf({ status: GroupStatus.ENRICHED, enrichment });
  await settleGroups(deps, [{ ref, marks, forward: !stored || stored.status === GroupStatus.ENRICHED }]);
}

/**
 * Called when a document's message throws: on its last receive (or at once for a permanent error) the document is
 * settled as failed with the reason and counted, so its group still completes; before that the message is retried.
 */
export async function documentFailed(deps: PipelineDeps, msg: DocumentMessage, error: unknown, lastAttempt: boolean): Promise<void> {
  if (!lastAttempt) return;
  const reason = errorReason(error);
  try {
    if (msg.kind === 'document') {
      const { docId, name, order } = msg.doc;
      if ((await deps.store.saveDocument(msg.jobId, msg.groupId, { docId, name, order, status: 'failed', reason })) === 'applied') {
        deps.logger.error('document failed', { jobId: msg.jobId, groupId: msg.groupId, docId, error: reason });
        deps.metrics?.add('DocumentsFailed', 1);
      }
      await countAndMaybeFanIn(deps, [msg]);
      return;
    }
  } catch (err) {
    // The fan-in itself cannot succeed: the group fails with the reason and is counted, so its job still ends.
    await recordStepFailure(deps, refOf(msg, 0), 'enrich', err, true);
    return;
  }
  await recordStepFailure(deps, refOf(msg, 0), 'enrich', error, true);
}

/**
 * A documents group's backfill: each of its documents read is enriched again in full from its stored note, and the
 * group rolled up again, their mentions from the new enrichment (the documents' stored states are left as they were).
 */
export async function backfillDocuments(deps: PipelineDeps, profile: Profile, jobId: string, groupId: string, notes: GroupNote[], facets?: Record<string, string>): Promise<Enrichment> {
  const byId = new Map(notes.map((n) => [n.noteId, n]));
  const docs = await deps.store.listDocuments(jobId, groupId);
  const redone = await Promise.all(
    docs.map(async (d) => {
      const note = byId.get(d.docId);
      if (d.status !== 'read' || !note) return d;
      const enrichment = await enrichGroup(profile, d.docId, [note], deps.provider, 'full');
      // Its people as the full enrichment names them.
      return { ...d, enrichment, mentions: documentMentions(profile, note.text, d.name, note.values, enrichment.outputs) };
    }),
  );
  return rollUp(profile, redone, { mode: 'full', provider: deps.provider, ...(facets ? { facets } : {}) });
}
