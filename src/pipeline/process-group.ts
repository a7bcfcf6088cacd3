/**
 * The enrich and decide steps for one group reference, and what happens when a group's message has
 * used its last receive: the group is failed with its error and counted, so the job still ends.
 * Each step is idempotent: a redelivered message changes nothing twice and counts nothing twice.
 */
import * as z from 'zod';
import { decideGroup } from '../domain/decide/decide-group.ts';
import { type GroupNote, enrichGroup } from '../domain/enrich/enrich-group.ts';
import { GroupStatus, allGroupsSettled } from '../domain/job.ts';
import { loadProfile } from '../profiles/profile.ts';
import type { PipelineDeps } from './deps.ts';
import { maybeFinalize } from './finalize-job.ts';
import { PermanentError, errorReason } from './errors.ts';
import { type GroupMarks, marksOf } from './ledger.ts';
import type { GroupRef, NotesRange } from './ports.ts';

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

export const groupRefSchema = z.object({
  jobId: z.string().min(1),
  groupId: z.string().min(1),
  profile: z.string().min(1),
  mode: z.enum(['fast', 'full']),
  noteCount: z.number().int().positive(),
  shard: z.number().int().nonnegative(),
  notes: z.object({ key: z.string().min(1), start: z.number().int().nonnegative(), end: z.number().int().nonnegative() }),
});

/** A group's notes, from the byte range of its records file that its reference (or its item) names. */
export async function readNotes(deps: PipelineDeps, range: NotesRange): Promise<GroupNote[]> {
  const object = await deps.objects.get(deps.resultsBucket, range.key, { start: range.start, end: range.end });
  const parts: Buffer[] = [];
  for await (const part of object.body) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8')) as GroupNote[];
}

/**
 * Counts a group's stored state into its job's ledger (idempotent) and finalizes the job if that settled
 * it. Every step ends here, also when it finds its group already settled: a count lost to a crash
 * between the group's write and its count is made good by the redelivery.
 */
export async function settleCount(deps: PipelineDeps, ref: GroupRef, marks: GroupMarks): Promise<void> {
  const job = await deps.store.countGroup(ref.jobId, ref.shard, ref.groupId, marks);
  deps.crashPoint?.(marks.settled ? 'settle.counted' : 'enrich.counted');
  if (job && allGroupsSettled(job)) await maybeFinalize(deps, job);
}

async function countStoredGroup(deps: PipelineDeps, ref: GroupRef): Promise<void> {
  const group = await deps.store.getGroup(ref.jobId, ref.groupId);
  if (group) await settleCount(deps, ref, marksOf(group));
}

/** Enriches a group and passes it on to the decide queue. */
export async function enrichStep(deps: PipelineDeps, ref: GroupRef): Promise<'enriched' | 'skipped'> {
  const started = Date.now();
  const notes = await readNotes(deps, ref.notes).catch(async (err) => {
    // Notes that are not there: a reference for a job the store does not know is poison, else retried.
    await requireJob(deps, ref.jobId);
    throw err;
  });
  if (notes.length !== ref.noteCount) {
    throw new Error(`group ${ref.groupId}: expected ${ref.noteCount} stored records, found ${notes.length}`);
  }
  const profile = loadProfile(ref.profile);
  const enrichment = await enrichGroup(profile, ref.groupId, notes, deps.provider, ref.mode);
  const saved = await deps.store.saveEnrichment(ref.jobId, ref.groupId, ref.noteCount, enrichment, ref.shard, ref.notes, deps.now().toISOString());
  deps.crashPoint?.('enrich.saved');
  if (saved === 'closed') {
    // Already decided or failed (a redelivery): count it again, which repairs a count a crash lost.
    await countStoredGroup(deps, ref);
    return 'skipped';
  }
  await settleCount(deps, ref, marksOf({ status: 'ENRICHED', enrichment }));
  await deps.decideQueue.sendAll([ref]);
  if (saved === 'applied') {
    deps.metrics?.add('GroupsEnriched', 1);
    deps.metrics?.add('EnrichMs', Date.now() - started, 'Milliseconds');
    deps.metrics?.add('LlmCalls', enrichment.usage?.calls ?? 0);
    deps.metrics?.add('PromptTokens', enrichment.usage?.promptTokens ?? 0);
    deps.metrics?.add('LlmCacheHits', enrichment.usage?.cached ? 1 : 0);
    deps.metrics?.add('GroupsDeferred', enrichment.deferred ? 1 : 0);
  }
  deps.logger.info('group enriched', { jobId: ref.jobId, groupId: ref.groupId, notes: notes.length, ms: Date.now() - started });
  return 'enriched';
}

/** Decides an enriched group; the group that settles the job finalizes it. */
export async function decideStep(deps: PipelineDeps, ref: GroupRef): Promise<'decided' | 'skipped'> {
  const group = await deps.store.getGroup(ref.jobId, ref.groupId);
  if (!group) await requireJob(deps, ref.jobId);
  if (!group?.enrichment) throw new Error(`group ${ref.groupId} has no enrichment yet`);
  if (group.status !== GroupStatus.ENRICHED) {
    // Already settled: a redelivery. Its count is replayed (a no-op unless a crash lost it).
    await settleCount(deps, ref, marksOf(group));
    return 'skipped';
  }
  const profile = loadProfile(ref.profile);
  const decision = await decideGroup(profile, group.enrichment);
  const saved = await deps.store.saveDecision(ref.jobId, ref.groupId, decision, deps.now().toISOString());
  deps.crashPoint?.('decide.saved');
  if (saved !== 'applied') {
    await countStoredGroup(deps, ref);
    return 'skipped';
  }
  deps.metrics?.add('GroupsDecided', 1);
  deps.logger.info('group decided', { jobId: ref.jobId, groupId: ref.groupId, outcome: decision.outcome, rule: decision.rule });
  await settleCount(deps, ref, marksOf({ ...group, status: GroupStatus.DECIDED }));
  return 'decided';
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
