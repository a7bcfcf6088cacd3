/**
 * A documents job's groups as the manifest step stored them (`staging/<job>/groups.json`: one group message each),
 * and what the reconciler does with them. Apart from the document pipeline (`documents.ts`) so the reconcile
 * function does not carry the readers and the enrichment.
 */
import { bytesOf } from './bytes.ts';
import type { PipelineDeps } from './deps.ts';
import type { GroupMessage } from './documents.ts';

/** Where a documents job's groups are stored, as group messages (each can be sent again to roll its group up). */
export const groupsKey = (jobId: string) => `staging/${jobId}/groups.json`;

export const isMissing = (err: unknown) => (err as Error).name === 'NoSuchKey' || (err as Error).name === 'NotFound';

/** A JSON object of the results bucket, or undefined when there is none. */
export async function readJson<T>(deps: PipelineDeps, key: string): Promise<T | undefined> {
  try {
    return JSON.parse((await bytesOf((await deps.objects.get(deps.resultsBucket, key)).body)).toString('utf8')) as T;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/**
 * The reconciler's part for a stalled documents job: each group whose documents are all stored but that no delivery
 * rolled up (one died between its document's store and its count on its last receive, so its message went to the
 * DLQ uncounted) is sent again as a group message, which rolls it up. A group still missing documents is left:
 * their messages are in flight, or in the DLQ (`sluice redrive enrich`).
 * @returns how many groups were sent again, and how many still miss documents
 */
export async function resumeDocumentGroups(deps: PipelineDeps, jobId: string, deadline: number): Promise<{ resent: number; waiting: number }> {
  const groups = await readJson<GroupMessage[]>(deps, groupsKey(jobId));
  if (!groups) return { resent: 0, waiting: 0 };
  const rolledUp = new Set<string>();
  for await (const g of deps.store.listGroupMarks(jobId)) if (g.marks.enriched || g.marks.settled) rolledUp.add(g.groupId);
  const resend: GroupMessage[] = [];
  let waiting = 0;
  for (const group of groups) {
    if (rolledUp.has(group.groupId)) continue;
    if (Date.now() >= deadline) break;
    if ((await deps.store.listDocuments(jobId, group.groupId)).length >= group.documents) resend.push(group);
    else waiting += 1;
  }
  await deps.enrichQueue.sendAll(resend);
  return { resent: resend.length, waiting };
}

