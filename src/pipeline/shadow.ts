/**
 * Shadow runs (seed 003): a candidate version of a profile decides a share of the live groups beside the active
 * one. Its decision is stored on the group item (never in the results) and compared by `sluice metrics`
 * (agreement and flips). Whatever goes wrong in the candidate, the active result stands: an error is recorded as
 * the shadow's, not thrown.
 */
import { createHash } from 'node:crypto';
import { decideGroup } from '../domain/decide/decide-group.ts';
import { type GroupNote, type Mode, enrichGroup } from '../domain/enrich/enrich-group.ts';
import type { PipelineDeps } from './deps.ts';
import { errorReason } from './errors.ts';
import type { GroupRef, ShadowDecision } from './ports.ts';

/** Whether a group is in the shadow's share: a hash of job and group, so a redelivery picks the same groups. */
export function inShadowShare(jobId: string, groupId: string, share: number): boolean {
  return createHash('sha256').update(`${jobId}\0${groupId}`).digest().readUInt32BE(0) / 2 ** 32 < share;
}

/** The shadow candidate's decision of a group (or its error), when the profile has a shadow and the group is in its share. */
export async function shadowDecision(deps: PipelineDeps, ref: GroupRef, notes: GroupNote[], mode: Mode): Promise<ShadowDecision | undefined> {
  let setting;
  try {
    setting = await deps.profiles.shadow(ref.profile);
  } catch (err) {
    deps.logger.warn('shadow setting not read; the group runs without its shadow', { jobId: ref.jobId, groupId: ref.groupId, error: errorReason(err) });
    return undefined;
  }
  if (!setting || setting.version === ref.profileVersion || !inShadowShare(ref.jobId, ref.groupId, setting.share)) return undefined;
  try {
    const candidate = await deps.profiles.at(ref.profile, setting.version);
    const enrichment = await enrichGroup(candidate, ref.groupId, notes, deps.provider, mode);
    const decision = await decideGroup(candidate, enrichment);
    return { version: setting.version, outcome: decision.outcome, rule: decision.rule };
  } catch (err) {
    deps.metrics?.add('ShadowErrors', 1);
    return { version: setting.version, error: errorReason(err) };
  }
}
