/**
 * The enrich and decide steps over a batch of group references, and what happens when a group's message
 * has used its last receive: the group is failed with its error and counted, so the job still ends.
 * Each step is idempotent: a redelivered message changes nothing twice and counts nothing twice. A batch's
 * groups are stepped at once and settled together: their counts are one write per ledger shard, their
 * decide messages one send, their items (for decide) one read.
 */
import * as z from 'zod';
import pLimit from 'p-limit';
import { decideGroup } from '../domain/decide/decide-group.ts';
import { type GroupNote, enrichGroup } from '../domain/enrich/enrich-group.ts';
import { GroupStatus, type Job, allGroupsSettled } from '../domain/job.ts';
import type { PipelineDeps } from './deps.ts';
import { maybeFinalize } from './finalize-job.ts';
import { shadowDecision } from './shadow.ts';
import { PermanentError, errorReason } from './errors.ts';
import { type GroupMarks, marksOf } from './ledger.ts';
import type { GroupItem, GroupRef, NotesRange, NotesSpan } from './ports.ts';
import { bytesOf } from './bytes.ts';

/** A message for a job the store does not know: nothing to fail or count, so it goes to the DLQ. */
export class UnknownJobError extends PermanentError {
  constructor(jobId: string) {
    super(`unknown job ${jobId}`);
    this.name = 'UnknownJobError';
  }
}

async function requireJob(deps: PipelineDeps, jobId: string): Promise<void> {
  if (!(await deps.store.getJob(jobId))) throw new UnknownJobError(jobId);
}

/** Groups per message of the enrich and decide queues: a partition's groups go out ten to a message. */
export const GROUPS_PER_MESSAGE = 10;
/** A message's size at most, so that ten of them fit one SendMessageBatch (256 KB). */
const MESSAGE_BYTES = 24 * 1024;
/** Runs a group's notes may lie in and be read from in place; the ingest copies a group in more into one run. */
export const MAX_NOTE_RUNS = 4;

/**
 * The message of the enrich and decide queues: up to GROUPS_PER_MESSAGE groups of one job whose notes start
 * in one records file, each with its ledger shard, the byte range [start, end) of its notes and any further runs.
 */
export const groupMessageSchema = z.object({
  jobId: z.string().min(1),
  profile: z.string().min(1),
  profileVersion: z.string().optional(),
  mode: z.enum(['fast', 'full']),
  key: z.string().min(1),
  groups: z
    .array(
      z.object({
        groupId: z.string().min(1),
        noteCount: z.number().int().nonnegative(),
        shard: z.number().int().nonnegative(),
        start: z.number().int().nonnegative(),
        end: z.number().int().nonnegative(),
        /** Further runs of its notes, in order, when they lie in several (`NotesRange.more`). */
        more: z.array(z.object({ key: z.string().min(1), start: z.number().int().nonnegative(), end: z.number().int().nonnegative() })).max(MAX_NOTE_RUNS - 1).optional(),
      }),
    )
    .min(1)
    .max(GROUPS_PER_MESSAGE),
});

export type GroupMessage = z.infer<typeof groupMessageSchema>;

/** The group references a message carries, in its order. */
export function unpackGroups(message: GroupMessage): GroupRef[] {
  const { jobId, profile, profileVersion, mode, key } = message;
  return message.groups.map((g) => ({ jobId, profile, ...(profileVersion ? { profileVersion } : {}), mode, groupId: g.groupId, noteCount: g.noteCount, shard: g.shard, notes: { key, start: g.start, end: g.end, ...(g.more ? { more: g.more } : {}) } }));
}

/**
 * Packs group references into messages: consecutive references of one job, mode and records file share a
 * message, up to GROUPS_PER_MESSAGE of them and MESSAGE_BYTES.
 * @example packGroups(refs).length // ⌈refs.length / 10⌉ for one partition's groups
 */
export function packGroups(refs: Iterable<GroupRef>): GroupMessage[] {
  const out: GroupMessage[] = [];
  let bytes = 0;
  for (const ref of refs) {
    const group = { groupId: ref.groupId, noteCount: ref.noteCount, shard: ref.shard, start: ref.notes.start, end: ref.notes.end, ...(ref.notes.more ? { more: ref.notes.more } : {}) };
    const size = JSON.stringify(group).length + 1;
    const last = out.at(-1);
    if (last && last.jobId === ref.jobId && last.profile === ref.profile && last.profileVersion === ref.profileVersion && last.mode === ref.mode && last.key === ref.notes.key && last.groups.length < GROUPS_PER_MESSAGE && bytes + size <= MESSAGE_BYTES) {
      last.groups.push(group);
      bytes += size;
    } else {
      out.push({ jobId: ref.jobId, profile: ref.profile, ...(ref.profileVersion ? { profileVersion: ref.profileVersion } : {}), mode: ref.mode, key: ref.notes.key, groups: [group] });
      bytes = 200 + ref.jobId.length + ref.notes.key.length + size;
    }
  }
  return out;
}

async function readSpan(deps: PipelineDeps, span: NotesSpan): Promise<Buffer> {
  const object = await deps.objects.get(deps.resultsBucket, span.key, { start: span.start, end: span.end });
  return bytesOf(object.body);
}

const OPEN_BRACKET = 0x5b; // [
const LF = 0x0a;

/** Notes as stored: one note's JSON per line, or (records files of an earlier sluice) one JSON array. */
export function parseNotes(bytes: Buffer): GroupNote[] {
  if (bytes[0] === OPEN_BRACKET) return JSON.parse(bytes.toString('utf8')) as GroupNote[];
  const notes: GroupNote[] = [];
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(LF, start);
    if (end < 0) end = bytes.length;
    if (end > start) notes.push(JSON.parse(bytes.toString('utf8', start, end)) as GroupNote);
    start = end + 1;
  }
  return notes;
}

/** A group's notes, from the byte ranges of records files that its reference (or its item) names. */
export async function readNotes(deps: PipelineDeps, range: NotesRange): Promise<GroupNote[]> {
  return readNotesOf(deps, [range])[0]!;
}

/** Spans closer than this in one object are read with one GET (the bytes between are read and dropped). */
const COALESCE_GAP_BYTES = 64 * 1024;
const COALESCE_MAX_BYTES = 8 * 1024 * 1024;
/** GETs one call of `readSpans` has open at once (a partition copying its spread groups may name thousands of runs). */
export const READS_AT_ONCE = 16;

/**
 * The bytes of several spans, one promise per span in the order given: spans side by side in one object (groups
 * fanned out one after the other, a partition's notes in a chunk's file) are read with one GET, not one each.
 */
export function readSpans(deps: PipelineDeps, spans: NotesSpan[]): Array<Promise<Buffer>> {
  const order = spans.map((span, i) => ({ span, i })).sort((a, b) => (a.span.key < b.span.key ? -1 : a.span.key > b.span.key ? 1 : a.span.start - b.span.start));
  const runs: Array<{ span: NotesSpan; members: typeof order }> = [];
  for (const m of order) {
    const run = runs.at(-1);
    if (run && run.span.key === m.span.key && m.span.start - run.span.end <= COALESCE_GAP_BYTES && Math.max(run.span.end, m.span.end) - run.span.start <= COALESCE_MAX_BYTES) {
      run.span.end = Math.max(run.span.end, m.span.end);
      run.members.push(m);
    } else runs.push({ span: { key: m.span.key, start: m.span.start, end: m.span.end }, members: [m] });
  }
  const out = new Array<Promise<Buffer>>(spans.length);
  const limit = pLimit(READS_AT_ONCE);
  for (const run of runs) {
    const bytes = limit(() => readSpan(deps, run.span));
    for (const { span, i } of run.members) out[i] = bytes.then((b) => b.subarray(span.start - run.span.start, span.end - run.span.start));
  }
  // A failed read is seen by each of its spans; none is left unhandled while the others are awaited.
  for (const p of out) p.catch(() => undefined);
  return out;
}

/** The notes of several groups, one promise per range in the order given, every run of each read with its neighbours'. */
export function readNotesOf(deps: PipelineDeps, ranges: NotesRange[]): Array<Promise<GroupNote[]>> {
  const spans = ranges.map((r) => [r, ...(r.more ?? [])]);
  const reads = readSpans(deps, spans.flat());
  let next = 0;
  const out = spans.map((runs) => {
    const mine = reads.slice(next, (next += runs.length));
    return Promise.all(mine).then((parts) => parts.flatMap(parseNotes));
  });
  for (const p of out) p.catch(() => undefined);
  return out;
}

/** What a step leaves for the end of its batch: the group's marks to count and, after enrich, its decide message. */
export interface Settle {
  ref: GroupRef;
  marks: GroupMarks;
  forward: boolean;
}

/**
 * Counts groups' stored states into their jobs' ledgers (one write per job and shard), finalizes each job
 * that this settled, then passes the enriched groups on to the decide queue (one batched send). Every step
 * ends here, also when it finds its group already settled: a count lost to a crash between the group's
 * write and its count is made good by the redelivery.
 */
export async function settleGroups(deps: PipelineDeps, settles: Settle[]): Promise<void> {
  const shards = new Map<string, Settle[]>();
  for (const s of settles) {
    const key = `${s.ref.jobId}\n${s.ref.shard}`;
    (shards.get(key) ?? shards.set(key, []).get(key)!).push(s);
  }
  const settledJobs = new Map<string, Job>();
  await Promise.all(
    [...shards.values()].map(async (members) => {
      const { jobId, shard } = members[0]!.ref;
      const job = await deps.store.countGroups(jobId, shard, members.map((m) => ({ groupId: m.ref.groupId, marks: m.marks })));
      for (const m of members) deps.crashPoint?.(m.marks.settled ? 'settle.counted' : 'enrich.counted');
      if (job && allGroupsSettled(job)) settledJobs.set(jobId, job);
    }),
  );
  for (const job of settledJobs.values()) await maybeFinalize(deps, job);
  const forward = settles.filter((s) => s.forward).map((s) => s.ref);
  if (forward.length) await deps.decideQueue.sendAll(packGroups(forward));
}

/** Counts one group's marks (a failure's, or a group found settled); the job it settles is finalized. */
export async function settleCount(deps: PipelineDeps, ref: GroupRef, marks: GroupMarks): Promise<void> {
  await settleGroups(deps, [{ ref, marks, forward: false }]);
}

async function storedMarks(deps: PipelineDeps, ref: GroupRef): Promise<Settle[]> {
  const group = await deps.store.getGroup(ref.jobId, ref.groupId);
  return group ? [{ ref, marks: marksOf(group), forward: false }] : [];
}

async function countStoredGroup(deps: PipelineDeps, ref: GroupRef): Promise<void> {
  await settleGroups(deps, await storedMarks(deps, ref));
}

type GroupStep<T> = (ref: GroupRef, index: number) => Promise<{ outcome: T; settles: Settle[] }>;

/**
 * Reads a batch's group items in one call, runs the step `stepFor` makes of them over each group at once,
 * then settles what they left in one go. The result of each group is in the order given; a group whose
 * read, step or settle failed has its error there.
 */
async function runBatch<T>(deps: PipelineDeps, refs: GroupRef[], stepFor: (stored: Array<GroupItem | undefined>) => GroupStep<T>): Promise<Array<PromiseSettledResult<T>>> {
  let stored: Array<GroupItem | undefined>;
  try {
    stored = await deps.store.getGroups(refs.map((r) => ({ jobId: r.jobId, groupId: r.groupId })));
  } catch (err) {
    return refs.map(() => ({ status: 'rejected', reason: err }));
  }
  const stepped = await Promise.allSettled(refs.map(stepFor(stored)));
  const settles = stepped.flatMap((r) => (r.status === 'fulfilled' ? r.value.settles : []));
  const settled = await settleGroups(deps, settles).then(
    () => undefined,
    (err: unknown) => err ?? new Error('settle failed'),
  );
  return stepped.map((r) => {
    if (r.status === 'rejected') return r;
    if (settled !== undefined && r.value.settles.length) return { status: 'rejected', reason: settled };
    return { status: 'fulfilled', value: r.value.outcome };
  });
}

/**
 * Enriches a batch of groups and passes them on to the decide queue. A group already enriched or settled (a
 * redelivery, or a message retried for another of its groups) is not enriched again: its stored state is
 * counted (and, if only enriched, passed on) again.
 */
export async function enrichGroups(deps: PipelineDeps, refs: GroupRef[]): Promise<Array<PromiseSettledResult<'enriched' | 'skipped'>>> {
  const done = (g: GroupItem | undefined) => g !== undefined && (g.enrichment !== undefined || g.status === GroupStatus.DECIDED || g.status === GroupStatus.FAILED);
  return runBatch(deps, refs, (stored) => {
    const fresh = refs.filter((_, i) => !done(stored[i]));
    const reads = new Map(readNotesOf(deps, fresh.map((r) => r.notes)).map((read, i) => [fresh[i]!, read]));
    return (ref, i) => enrichOne(deps, ref, stored[i], reads.get(ref));
  });
}

/** One group of an enrich batch: its stored item (if any) and the read of its notes (if it needs them). */
async function enrichOne(deps: PipelineDeps, ref: GroupRef, group: GroupItem | undefined, read: Promise<GroupNote[]> | undefined): Promise<{ outcome: 'enriched' | 'skipped'; settles: Settle[] }> {
  if (group && !read) {
    return { outcome: 'skipped' as const, settles: [{ ref, marks: marksOf(group), forward: group.status === GroupStatus.ENRICHED }] };
  }
  const started = Date.now();
  const notes = await read!.catch(async (err) => {
    // Notes that are not there: a reference for a job the store does not know is poison, else retried.
    await requireJob(deps, ref.jobId);
    throw err;
  });
  if (notes.length !== ref.noteCount) {
    throw new Error(`group ${ref.groupId}: expected ${ref.noteCount} stored records, found ${notes.length}`);
  }
  const profile = await deps.profiles.at(ref.profile, ref.profileVersion);
  const enrichment = await enrichGroup(profile, ref.groupId, notes, deps.provider, ref.mode);
  // The shadow candidate's decision goes in the same write (never served; its errors are its own).
  const shadow = await shadowDecision(deps, ref, notes, ref.mode);
  const saved = await deps.store.saveEnrichment(ref.jobId, ref.groupId, ref.noteCount, enrichment, ref.shard, ref.notes, deps.now().toISOString(), shadow);
  deps.crashPoint?.('enrich.saved');
  if (saved === 'closed') {
    // Already decided or failed (a redelivery): count it again, which repairs a count a crash lost.
    return { outcome: 'skipped' as const, settles: await storedMarks(deps, ref) };
  }
  if (saved === 'applied') {
    deps.metrics?.add('GroupsEnriched', 1);
    deps.metrics?.add('EnrichMs', Date.now() - started, 'Milliseconds');
    deps.metrics?.add('LlmCalls', enrichment.usage?.calls ?? 0);
    deps.metrics?.add('PromptTokens', enrichment.usage?.promptTokens ?? 0);
    deps.metrics?.add('LlmCacheHits', enrichment.usage?.cached ? 1 : 0);
    deps.metrics?.add('GroupsDeferred', enrichment.deferred ? 1 : 0);
  }
  deps.logger.info('group enriched', { jobId: ref.jobId, groupId: ref.groupId, notes: notes.length, ms: Date.now() - started });
  return { outcome: 'enriched' as const, settles: [{ ref, marks: marksOf({ status: 'ENRICHED', enrichment }), forward: true }] };
}

/** Decides a batch of enriched groups (their items read in one call); the group that settles a job finalizes it. */
export async function decideGroups(deps: PipelineDeps, refs: GroupRef[]): Promise<Array<PromiseSettledResult<'decided' | 'skipped'>>> {
  return runBatch(deps, refs, (groups) => async (ref, i) => {
    const group = groups[i];
    if (!group) await requireJob(deps, ref.jobId);
    if (!group?.enrichment) throw new Error(`group ${ref.groupId} has no enrichment yet`);
    if (group.status !== GroupStatus.ENRICHED) {
      // Already settled: a redelivery. Its count is replayed (a no-op unless a crash lost it).
      return { outcome: 'skipped' as const, settles: [{ ref, marks: marksOf(group), forward: false }] };
    }
    const profile = await deps.profiles.at(ref.profile, ref.profileVersion);
    const decision = await decideGroup(profile, group.enrichment);
    const saved = await deps.store.saveDecision(ref.jobId, ref.groupId, decision, deps.now().toISOString());
    deps.crashPoint?.('decide.saved');
    if (saved !== 'applied') return { outcome: 'skipped' as const, settles: await storedMarks(deps, ref) };
    deps.metrics?.add('GroupsDecided', 1);
    deps.logger.info('group decided', { jobId: ref.jobId, groupId: ref.groupId, outcome: decision.outcome, rule: decision.rule });
    return { outcome: 'decided' as const, settles: [{ ref, marks: marksOf({ ...group, status: GroupStatus.DECIDED }), forward: false }] };
  });
}

/**
 * Called when a step throws. On the last receive (or at once for a permanent error) the group is failed
 * and counted (a retryable error's message then goes to the DLQ); before that the attempt's error is
 * recorded and the message retried.
 */
export async function recordStepFailure(
  deps: PipelineDeps,
  ref: GroupRef,
  stage: 'enrich' | 'decide',
  error: unknown,
  lastAttempt: boolean,
): Promise<void> {
  const message = errorReason(error);
  const at = deps.now().toISOString();
  if (!lastAttempt) {
    await deps.store.recordGroupAttemptError(ref.jobId, ref.groupId, stage, message, at);
    return;
  }
  const applied = await deps.store.markGroupFailed(ref.jobId, ref.groupId, stage, message, ref.shard, at);
  deps.logger.error('group failed', { jobId: ref.jobId, groupId: ref.groupId, stage, error: message });
  if (applied === 'applied') deps.metrics?.add('GroupsFailed', 1);
  await countStoredGroup(deps, ref);
}
