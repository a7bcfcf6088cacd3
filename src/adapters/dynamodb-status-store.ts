/**
 * The status table adapter (single table). No transactions (dynalite has none, and none are needed):
 * every state change is one conditional UpdateItem, every counter an atomic ADD.
 *
 * Items, all under the job's partition `JOB#<jobId>`:
 *   `#JOB`                       the job (status, counts, timings, results); listed via the byKind index
 *   `CHUNK#<n>`, `PART#<n>`      what each chunk and partition of the file gave (`src/pipeline/ingest-chunks.ts`)
 *   `GRP#<group>`                a group's stage statuses, attempts, last error, enrichment and decision
 *   `LEDGER#<shard>`             a settle-ledger shard: its group count and member sets (`src/pipeline/ledger.ts`)
 *   `DOC#<group>#<doc>`          a documents profile's settled document (`src/pipeline/documents.ts`)
 *   `DOCSET#<group>`             the set of a group's settled documents (its fan-in counter)
 *
 * A job not yet ended carries `pendingPk = active_job` (sparse `pending` index), so the reconciler finds
 * every unfinished job without a scan.
 */
import pLimit from 'p-limit';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  BatchGetCommand,
  UpdateCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Decision } from '../domain/decide/decide-group.ts';
import type { Enrichment, Mode } from '../domain/enrich/enrich-group.ts';
import { COUNT_NAMES, GroupStatus, type Job, type JobCounts, type JobResults, JobStatus, emptyCounts } from '../domain/job.ts';
import { PermanentError } from '../pipeline/errors.ts';
import { type GroupMarks, type LedgerShard, groupToken, marksOf, packMembers, shardSettled } from '../pipeline/ledger.ts';
import type { ChunkSummary, DocumentItem, GroupItem, PartitionSummary, StatusStore, TopicRunRecord, TransitionResult } from '../pipeline/ports.ts';

const JOB_SK = '#JOB';
const jobPk = (jobId: string) => `JOB#${jobId}`;
const enc = (groupId: string) => encodeURIComponent(groupId);
const chunkSk = (chunk: number) => `CHUNK#${String(chunk).padStart(6, '0')}`;
const partitionSk = (partition: number) => `PART#${String(partition).padStart(4, '0')}`;
const groupSk = (groupId: string) => `GRP#${enc(groupId)}`;
const documentSk = (groupId: string, docId: string) => `DOC#${enc(groupId)}#${enc(docId)}`;
const documentSetSk = (groupId: string) => `DOCSET#${enc(groupId)}`;
const ledgerSk = (shard: number) => `LEDGER#${String(shard).padStart(6, '0')}`;
const shardOfSk = (sk: unknown) => Number(String(sk).slice('LEDGER#'.length));
export const ACTIVE_JOB_KEY = 'active_job';
const LEDGER_SETS = { enriched: 'mEnriched', pending: 'mPending', decided: 'mDecided', failed: 'mFailed' } as const;
/**
 * Each set's size beside it, raised only by the members a write added (its condition: none of them was there), so
 * a reader of the job's live counts reads four numbers per shard, not every member: a 1 GiB job has 3,400 shards.
 */
const LEDGER_COUNTS = { enriched: 'nEnriched', pending: 'nPending', decided: 'nDecided', failed: 'nFailed' } as const;
type LedgerSet = keyof typeof LEDGER_SETS;
/** Members counted per conditional write (a condition expression is at most 4 KB). */
const MEMBERS_PER_WRITE = 40;

export function createStatusStore(client: DynamoDBClient, tableName: string): StatusStore {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true } });

  const update = async (input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>) =>
    doc.send(new UpdateCommand({ TableName: tableName, ...input }));

  async function conditional<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw err;
    }
  }

  /** Adds `member` to the job's number set `set` once (and `rows` to its rows read with it); returns the set's size. */
  async function countDone(jobId: string, set: 'chunksDone' | 'partitionsDone', member: number, rows: number): Promise<number> {
    const r = await conditional(() =>
      update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: `ADD ${set} :m, rowsRead :rows`,
        ConditionExpression: `attribute_exists(pk) AND NOT contains(${set}, :id)`,
        ExpressionAttributeValues: { ':m': new Set([member]), ':id': member, ':rows': rows },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    if (r) return (r.Attributes?.[set] as Set<number>).size;
    const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: JOB_SK }, ConsistentRead: true }))).Item;
    if (!item) throw new PermanentError(`unknown job ${jobId}`);
    return (item[set] as Set<number> | undefined)?.size ?? 0;
  }

  /** The job item alone (its status; the counts of ledger shards still open are not added): one GetItem. */
  async function jobAsStored(jobId: string): Promise<Job | undefined> {
    const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: JOB_SK }, ConsistentRead: true }));
    return r.Item ? itemToJob(r.Item) : undefined;
  }

  /** One `SET … = :v` on a FINALIZING job whose finalize lease is still `leaseUntil`; false when it is not. */
  async function whileLeased(jobId: string, leaseUntil: number, UpdateExpression: string, value: unknown): Promise<boolean> {
    const r = await conditional(() =>
      update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression,
        ConditionExpression: '#s = :finalizing AND finalizeLeaseUntil = :until',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':finalizing': JobStatus.FINALIZING, ':until': leaseUntil, ':v': value },
      }),
    );
    return r !== undefined;
  }

  /**
   * Every item of a query, page by page, the next page asked for while the caller takes this one's items (a
   * finalize writing 2,500 groups' results waited on each 1 MB page in turn). At most two pages are held.
   */
  async function* queryAll(input: Omit<QueryCommandInput, 'TableName'>): AsyncGenerator<Record<string, unknown>> {
    const pageAfter = (ExclusiveStartKey: Record<string, unknown> | undefined) => {
      const page = doc.send(new QueryCommand({ TableName: tableName, ...input, ExclusiveStartKey }));
      // Handled now, thrown where awaited: a page failing while the caller takes the last one's items (or after it
      // stopped early) is not an unhandled rejection.
      page.catch(() => undefined);
      return page;
    };
    for (let next: ReturnType<typeof pageAfter> | undefined = pageAfter(input.ExclusiveStartKey); next; ) {
      const page: Awaited<ReturnType<typeof pageAfter>> = await next;
      next = page.LastEvaluatedKey ? pageAfter(page.LastEvaluatedKey) : undefined;
      for (const item of page.Items ?? []) yield item;
    }
  }

  /**
   * Adds members to a shard's sets and their counts in one write whose condition is that none of them is there
   * yet, so each count rises exactly by what its set gained. Members `presumed` there already (a decision counts
   * its group's enrichment again) are not written but checked to be there, in the same condition: one write
   * still. When the condition fails (a redelivery, a replay, an enrichment whose count a crash lost), the shard is
   * read and only the absent members are written, under the condition, until none is left. Returns the shard as
   * stored after.
   */
  async function addMembers(jobId: string, shard: number, members: Array<{ set: LedgerSet; token: string }>, presumed: (m: { set: LedgerSet }) => boolean): Promise<Record<string, unknown>> {
    const Key = { pk: jobPk(jobId), sk: ledgerSk(shard) };
    const read = async () => {
      const stored = (await doc.send(new GetCommand({ TableName: tableName, Key, ConsistentRead: true }))).Item;
      if (stored?.expected === undefined) throw new PermanentError(`job ${jobId} has no ledger shard ${shard}`);
      return stored;
    };
    const absent = (stored: Record<string, unknown>) => members.filter((m) => !(stored[LEDGER_SETS[m.set]] as Set<string> | undefined)?.has(m.token));
    let there = members.filter(presumed);
    let todo = members.filter((m) => !presumed(m));
    for (let attempt = 0; attempt < 8; attempt++) {
      if (todo.length) {
        const bySet = new Map<LedgerSet, Set<string>>();
        for (const m of todo) (bySet.get(m.set) ?? bySet.set(m.set, new Set()).get(m.set)!).add(m.token);
        const sets = [...bySet.keys()];
        const written = await conditional(() =>
          update({
            Key,
            UpdateExpression: `ADD ${sets.map((set, i) => `${LEDGER_SETS[set]} :t${i}, ${LEDGER_COUNTS[set]} :n${i}`).join(', ')}`,
            ConditionExpression: [
              'attribute_exists(expected)',
              ...todo.map((m, i) => `NOT contains(${LEDGER_SETS[m.set]}, :m${i})`),
              ...there.map((m, i) => `contains(${LEDGER_SETS[m.set]}, :p${i})`),
            ].join(' AND '),
            ExpressionAttributeValues: Object.fromEntries([
              ...sets.flatMap((set, i) => [[`:t${i}`, bySet.get(set)!], [`:n${i}`, bySet.get(set)!.size]]),
              ...todo.map((m, i) => [`:m${i}`, m.token]),
              ...there.map((m, i) => [`:p${i}`, m.token]),
            ]),
            ReturnValues: 'ALL_NEW',
          }),
        );
        if (written) return written.Attributes!;
      }
      const stored = await read();
      todo = absent(stored);
      there = [];
      if (!todo.length) return stored;
    }
    throw new Error(`ledger shard ${shard} of job ${jobId}: still contended after 8 writes`);
  }

  /** A shard's counts from its members (a shard stored without counts). */
  async function shardCounts(jobId: string, sk: string): Promise<Record<string, number>> {
    const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk }, ConsistentRead: true }))).Item ?? {};
    const shard = itemToShard(item);
    return Object.fromEntries((Object.keys(LEDGER_COUNTS) as LedgerSet[]).map((set) => [LEDGER_COUNTS[set], shard[set].size]));
  }

  return {
    async createJob(job) {
      const created = await conditional(() =>
        doc.send(
          new PutCommand({
            TableName: tableName,
            Item: jobToItem(job),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      if (created) return { created: true, job };
      const existing = await jobAsStored(job.jobId);
      if (!existing) throw new Error(`job ${job.jobId} vanished while being created`);
      return { created: false, job: existing };
    },

    async getJobStatus(jobId) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: JOB_SK }, ConsistentRead: true, ProjectionExpression: '#s', ExpressionAttributeNames: { '#s': 'status' } }));
      return r.Item?.status as JobStatus | undefined;
    },

    async getJob(jobId) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: JOB_SK }, ConsistentRead: true }));
      if (!r.Item) return undefined;
      const job = itemToJob(r.Item);
      // Closed shards' totals are on the job; the groups of the shards still open are added up here, a page at a
      // time: a 1 GiB job's 3,400 shards read whole at once were ~250 MB on the heap of the process asking.
      if (job.ledger && job.ledger.closed < job.ledger.shards && !TERMINAL.has(job.status)) {
        const closed = (r.Item.shardsClosed as Set<string> | undefined) ?? new Set<string>();
        const counts = Object.values(LEDGER_COUNTS);
        for await (const item of queryAll({ ...ledgerQuery(jobId), ProjectionExpression: ['sk', ...counts].join(', ') })) {
          if (closed.has(String(shardOfSk(item.sk)))) continue;
          // A shard opened by a sluice before the counts were kept: its members counted.
          const counted = counts.every((n) => n in item) ? item : await shardCounts(jobId, String(item.sk));
          job.counts.enriched += Number(counted[LEDGER_COUNTS.enriched]);
          job.counts.pending += Number(counted[LEDGER_COUNTS.pending]);
          job.counts.decided += Number(counted[LEDGER_COUNTS.decided]);
          job.counts.failed += Number(counted[LEDGER_COUNTS.failed]);
        }
      }
      return job;
    },

    async listJobs(limit) {
      const r = await doc.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: 'byKind',
          KeyConditionExpression: 'kindPk = :k',
          ExpressionAttributeValues: { ':k': 'JOB' },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (r.Items ?? []).map(itemToJob);
    },

    async startIngest(jobId, at, mode, lease, profileVersion) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: JOB_SK },
          UpdateExpression: 'SET #s = :ingesting, ingestStartedAt = if_not_exists(ingestStartedAt, :at), #m = :mode, ingestOwner = :owner, ingestLeaseUntil = :until, profileVersion = :pv',
          ConditionExpression: '#s = :received OR (#s = :ingesting AND (attribute_not_exists(ingestLeaseUntil) OR ingestOwner = :owner OR ingestLeaseUntil < :now))',
          ExpressionAttributeNames: { '#s': 'status', '#m': 'mode' },
          ExpressionAttributeValues: {
            ':ingesting': JobStatus.INGESTING,
            ':received': JobStatus.RECEIVED,
            ':at': at,
            ':mode': mode,
            ':owner': lease.owner,
            ':until': lease.until,
            ':now': lease.now,
            ':pv': profileVersion,
          },
        }),
      );
      if (r) return { outcome: 'started', status: JobStatus.INGESTING };
      const status = (await jobAsStored(jobId))?.status ?? JobStatus.PROCESSING;
      return { outcome: status === JobStatus.INGESTING ? 'busy' : 'past', status };
    },

    async renewIngest(jobId, lease) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: JOB_SK },
          UpdateExpression: 'SET ingestLeaseUntil = :until',
          ConditionExpression: '#s = :ingesting AND ingestOwner = :owner',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':ingesting': JobStatus.INGESTING, ':owner': lease.owner, ':until': lease.until },
        }),
      );
      return r !== undefined;
    },

    async reportIngestProgress(jobId, rowsRead) {
      await update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: 'SET rowsRead = :n',
        ExpressionAttributeValues: { ':n': rowsRead },
      });
    },

    async saveChunk(jobId, chunk, summary) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: jobPk(jobId), sk: chunkSk(chunk), chunk, ...summary } }));
      return countDone(jobId, 'chunksDone', chunk, summary.rows);
    },

    async savePartition(jobId, partition, summary) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: jobPk(jobId), sk: partitionSk(partition), partition, ...summary } }));
      return countDone(jobId, 'partitionsDone', partition, 0);
    },

    async saveDocument(jobId, groupId, item) {
      const put = await conditional(() =>
        doc.send(new PutCommand({ TableName: tableName, Item: { pk: jobPk(jobId), sk: documentSk(groupId, item.docId), ...item }, ConditionExpression: 'attribute_not_exists(pk)' })),
      );
      return put ? 'applied' : 'repeat';
    },

    async getDocument(jobId, groupId, docId) {
      const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: documentSk(groupId, docId) }, ConsistentRead: true }))).Item;
      if (!item) return undefined;
      const { pk: _pk, sk: _sk, ...rest } = item;
      return rest as unknown as DocumentItem;
    },

    async countDocuments(jobId, groupId, docIds) {
      const r = await update({
        Key: { pk: jobPk(jobId), sk: documentSetSk(groupId) },
        UpdateExpression: 'ADD settled :d',
        ExpressionAttributeValues: { ':d': new Set(docIds.map(groupToken)) },
        ReturnValues: 'ALL_NEW',
      });
      return (r.Attributes?.settled as Set<string> | undefined)?.size ?? 0;
    },

    async countSettledDocuments(jobId) {
      let settled = 0;
      for await (const item of queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': jobPk(jobId), ':prefix': 'DOCSET#' },
        ProjectionExpression: 'settled',
      })) {
        settled += (item.settled as Set<string> | undefined)?.size ?? 0;
      }
      return settled;
    },

    async listDocuments(jobId, groupId) {
      const out: DocumentItem[] = [];
      for await (const item of queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': jobPk(jobId), ':prefix': `DOC#${enc(groupId)}#` },
        ConsistentRead: true,
      })) {
        const { pk: _pk, sk: _sk, ...rest } = item;
        out.push(rest as unknown as DocumentItem);
      }
      return out.sort((a, b) => a.order - b.order);
    },

    async readIngestParts(jobId) {
      const parts = async (prefix: string) => {
        const items: Array<Record<string, unknown>> = [];
        for await (const item of queryAll({
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': jobPk(jobId), ':prefix': prefix },
          ConsistentRead: true,
        })) {
          const { pk: _pk, sk: _sk, ...rest } = item;
          items.push(rest);
        }
        return items;
      };
      const [chunks, partitions] = await Promise.all([parts('CHUNK#'), parts('PART#')]);
      return {
        chunks: chunks.map((c) => ({
          ...(c as never as ChunkSummary & { chunk: number }),
          partitions: ((c.partitions as number[]) ?? []).map(Number),
          ...(c.heads ? { heads: (c.heads as number[]).map(Number) } : {}),
        })),
        partitions: partitions as never as Array<PartitionSummary & { partition: number }>,
      };
    },

    async recordIngestCounts(jobId, counts, ledgerShards, documents) {
      await update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: `SET #rows = :rows, accepted = :accepted, rejected = :rejected, duplicates = :duplicates, #groups = :groups, rowsRead = :rows, ledgerShards = :shards${documents === undefined ? '' : ', documents = :documents'}`,
        ExpressionAttributeNames: { '#rows': 'rows', '#groups': 'groups' },
        ExpressionAttributeValues: {
          ':rows': counts.rows,
          ':accepted': counts.accepted,
          ':rejected': counts.rejected,
          ':duplicates': counts.duplicates,
          ':groups': counts.groups,
          ':shards': ledgerShards,
          ...(documents === undefined ? {} : { ':documents': documents }),
        },
      });
    },

    async finishIngest(jobId, at) {
      const r = await conditional(() => update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: 'SET #s = :processing, ingestEndedAt = :at REMOVE ingestLeaseUntil',
        ConditionExpression: '#s = :ingesting',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':processing': JobStatus.PROCESSING, ':ingesting': JobStatus.INGESTING, ':at': at },
        ReturnValues: 'ALL_NEW',
      }));
      return r ? itemToJob(r.Attributes!) : undefined;
    },

    async failJob(jobId, error, at, badInput = false) {
      await update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: 'SET #s = :failed, #e = :error, finishedAt = :at, badInput = :badInput REMOVE pendingPk, pendingSk',
        ConditionExpression: 'attribute_exists(pk) AND NOT #s IN (:complete, :completeWithErrors)',
        ExpressionAttributeNames: { '#s': 'status', '#e': 'error' },
        ExpressionAttributeValues: {
          ':failed': JobStatus.FAILED,
          ':error': error,
          ':badInput': badInput,
          ':at': at,
          ':complete': JobStatus.COMPLETE,
          ':completeWithErrors': JobStatus.COMPLETE_WITH_ERRORS,
        },
      });
    },

    async getGroup(jobId, groupId) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: groupSk(groupId) }, ConsistentRead: true }));
      return r.Item ? itemToGroup(r.Item) : undefined;
    },

    async getGroups(keys) {
      // BatchGetItem refuses a key twice: each distinct key is asked once, 100 at a time, until none is left unprocessed.
      const wanted = [...new Map(keys.map((k) => [`${k.jobId}\n${k.groupId}`, { pk: jobPk(k.jobId), sk: groupSk(k.groupId) }])).values()];
      const found = new Map<string, GroupItem>();
      for (let i = 0; i < wanted.length; i += 100) {
        let Keys: Array<Record<string, unknown>> = wanted.slice(i, i + 100);
        for (let attempt = 0; Keys.length; attempt++) {
          if (attempt > 8) throw new Error(`DynamoDB left ${Keys.length} group reads unprocessed after retries`);
          if (attempt) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
          const r = await doc.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys, ConsistentRead: true } } }));
          for (const item of r.Responses?.[tableName] ?? []) found.set(`${item.pk}\n${item.sk}`, itemToGroup(item));
          Keys = r.UnprocessedKeys?.[tableName]?.Keys ?? [];
        }
      }
      return keys.map((k) => found.get(`${jobPk(k.jobId)}\n${groupSk(k.groupId)}`));
    },

    async saveEnrichment(jobId, groupId, noteCount, enrichment: Enrichment, shard, notes, at, shadow, o) {
      const pendingStages = Object.entries(enrichment.stages).filter(([, s]) => s === 'pending').map(([s]) => s);
      const pendingAttrs = pendingStages.length
        ? ', pendingPk = :pendingPk, pendingSk = :pendingSk, pendingStages = :pendingStages'
        : ' REMOVE pendingPk, pendingSk, pendingStages';
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
          UpdateExpression: `SET jobId = :jobId, groupId = :groupId, #s = :enriched, noteCount = :noteCount, ledgerShard = :shard, notes = :notes, enrichment = :enrichment, enrichStage = :stage, updatedAt = :at${shadow ? ', shadow = :shadow' : ''}${pendingAttrs}`,
          ConditionExpression: o?.once ? 'attribute_not_exists(#s)' : 'attribute_not_exists(#s) OR #s = :enriched',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':jobId': jobId,
            ':groupId': groupId,
            ':enriched': GroupStatus.ENRICHED,
            ':noteCount': noteCount,
            ':shard': shard,
            ':notes': notes,
            ':enrichment': enrichment,
            ':stage': { status: 'done', at },
            ':at': at,
            ...(shadow ? { ':shadow': shadow } : {}),
            ...(pendingStages.length
              ? { ':pendingPk': enrichment.deferred ? 'pending_llm' : `pending_${pendingStages[0]}`, ':pendingSk': `${at}#${jobId}#${groupId}`, ':pendingStages': pendingStages }
              : {}),
          },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      if (!r) return o?.once ? 'repeat' : 'closed';
      return r.Attributes?.status === GroupStatus.ENRICHED ? 'repeat' : 'applied';
    },

    async saveDecision(jobId, groupId, decision: Decision, at) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
          UpdateExpression: 'SET #s = :decided, decision = :decision, decideStage = :stage, updatedAt = :at',
          ConditionExpression: '#s = :enriched',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':decided': GroupStatus.DECIDED,
            ':enriched': GroupStatus.ENRICHED,
            ':decision': decision,
            ':stage': { status: 'done', at },
            ':at': at,
          },
        }),
      );
      return r ? 'applied' : 'closed';
    },

    async markGroupFailed(jobId, groupId, stage, error, shard, at) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
          UpdateExpression: `SET jobId = :jobId, groupId = :groupId, #s = :failed, ledgerShard = :shard, lastError = :error, ${stage}Stage = :stage, updatedAt = :at ADD attempts :one`,
          ConditionExpression: 'attribute_not_exists(#s) OR NOT #s IN (:decided, :failed)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':jobId': jobId,
            ':groupId': groupId,
            ':failed': GroupStatus.FAILED,
            ':decided': GroupStatus.DECIDED,
            ':shard': shard,
            ':error': error,
            ':stage': { status: 'failed', at, error },
            ':at': at,
            ':one': 1,
          },
        }),
      );
      return r ? 'applied' : 'closed';
    },

    async recordGroupAttemptError(jobId, groupId, stage, error, at) {
      await update({
        Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
        UpdateExpression: `SET jobId = :jobId, groupId = :groupId, lastError = :error, ${stage}Stage = :stage, updatedAt = :at ADD attempts :one`,
        ExpressionAttributeValues: {
          ':jobId': jobId,
          ':groupId': groupId,
          ':error': error,
          ':stage': { status: 'retrying', at, error },
          ':at': at,
          ':one': 1,
        },
      });
    },

    async openLedger(jobId, shards) {
      // SET, not PUT: a retried ingest reopens the same shards without losing what they counted. Eight at a
      // time: a partition opens ~30 shards, and one at a time they cost ~0.5 s of round trips (measured).
      const limit = pLimit(8);
      const zero = Object.values(LEDGER_COUNTS).map((n) => `${n} = if_not_exists(${n}, :z)`).join(', ');
      await Promise.all(shards.map(({ shard, expected }) => limit(() => update({ Key: { pk: jobPk(jobId), sk: ledgerSk(shard) }, UpdateExpression: `SET expected = :e, ${zero}`, ExpressionAttributeValues: { ':e': expected, ':z': 0 } }))));
    },

    async countGroups(jobId, shard, members: Array<{ groupId: string; marks: GroupMarks }>) {
      const marked: Array<{ set: LedgerSet; token: string }> = [];
      for (const { groupId, marks } of members) {
        const token = groupToken(groupId);
        if (marks.enriched) marked.push({ set: 'enriched', token });
        if (marks.pending) marked.push({ set: 'pending', token });
        if (marks.settled) marked.push({ set: marks.settled, token });
      }
      const unique = [...new Map(marked.map((m) => [`${m.set}/${m.token}`, m])).values()];
      let item: Record<string, unknown> | undefined;
      // A batch that settles groups most often finds them counted as enriched (and pending) already: presumed so.
      const settles = members.some((m) => m.marks.settled !== undefined);
      const presumed = (m: { set: LedgerSet }) => settles && (m.set === 'enriched' || m.set === 'pending');
      for (let i = 0; i < unique.length; i += MEMBERS_PER_WRITE) item = await addMembers(jobId, shard, unique.slice(i, i + MEMBERS_PER_WRITE), presumed);
      item ??= (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: jobPk(jobId), sk: ledgerSk(shard) }, ConsistentRead: true }))).Item;
      if (!item) return undefined;
      const counted = itemToShard(item);
      if (!shardSettled(counted)) return undefined;
      // Close the shard into the job once: its totals are added under the guard of the closed set.
      const closed = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: JOB_SK },
          UpdateExpression: 'ADD shardsClosed :sid, enriched :e, pending :p, decided :d, failed :f',
          ConditionExpression: 'attribute_exists(pk) AND NOT contains(shardsClosed, :id)',
          ExpressionAttributeValues: {
            ':sid': new Set([String(shard)]),
            ':id': String(shard),
            ':e': counted.enriched.size,
            ':p': counted.pending.size,
            ':d': counted.decided.size,
            ':f': counted.failed.size,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return closed ? itemToJob(closed.Attributes!) : this.getJob(jobId);
    },

    async readLedger(jobId) {
      const shards: LedgerShard[] = [];
      // Packed a page at a time: a reader holds every shard's members (a replay of a 1 GiB job, 3,400 shards).
      for await (const item of queryAll(ledgerQuery(jobId))) {
        const { enriched, pending, decided, failed, ...shard } = itemToShard(item) as LedgerShard & Record<LedgerSet, ReadonlySet<string>>;
        shards.push({ ...shard, enriched: packMembers(enriched), pending: packMembers(pending), decided: packMembers(decided), failed: packMembers(failed) });
      }
      return shards;
    },

    async *listActiveJobs() {
      for await (const item of queryAll({
        IndexName: 'pending',
        KeyConditionExpression: 'pendingPk = :k',
        ExpressionAttributeValues: { ':k': ACTIVE_JOB_KEY },
      })) {
        yield String(item.jobId);
      }
    },

    async markReconciled(jobId, settled, at) {
      await update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: 'SET reconcileMark = :m',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':m': { settled, at } },
      }).catch((err: Error) => {
        if (err.name !== 'ConditionalCheckFailedException') throw err;
      });
    },

    async tryStartFinalize(jobId, leaseUntil, now) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: JOB_SK },
          UpdateExpression: 'SET #s = :finalizing, finalizeLeaseUntil = :until',
          ConditionExpression: '#s = :processing OR (#s = :finalizing AND finalizeLeaseUntil < :now)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':finalizing': JobStatus.FINALIZING, ':processing': JobStatus.PROCESSING, ':until': leaseUntil, ':now': now },
        }),
      );
      return r !== undefined;
    },

    saveFinalizeCursor: (jobId, leaseUntil, cursor) => whileLeased(jobId, leaseUntil, 'SET finalizeCursor = :v', cursor),

    renewFinalize: (jobId, leaseUntil, newLeaseUntil) => whileLeased(jobId, leaseUntil, 'SET finalizeLeaseUntil = :v', newLeaseUntil),

    async *listGroups(jobId, after) {
      for await (const item of queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': jobPk(jobId), ':prefix': 'GRP#' },
        ConsistentRead: true,
        ...(after === undefined ? {} : { ExclusiveStartKey: { pk: jobPk(jobId), sk: groupSk(after) } }),
      })) {
        yield itemToGroup(item);
      }
    },

    async *listGroupMarks(jobId) {
      for await (const item of queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': jobPk(jobId), ':prefix': 'GRP#' },
        // The enrichment's stages only: a group's marks ask whether it is there and whether a stage is pending.
        ProjectionExpression: 'groupId, #status, ledgerShard, enrichment.stages',
        ExpressionAttributeNames: { '#status': 'status' },
        ConsistentRead: true,
      })) {
        const group = { status: item.status as string, enrichment: item.enrichment as Pick<Enrichment, 'stages'> | undefined };
        yield { groupId: item.groupId as string, shard: item.ledgerShard === undefined ? undefined : Number(item.ledgerShard), marks: marksOf(group) };
      }
    },

    async listPending(key, limit, after) {
      const page = await doc.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: 'pending',
          KeyConditionExpression: 'pendingPk = :k',
          ExpressionAttributeValues: { ':k': key },
          ScanIndexForward: true,
          Limit: limit,
          ExclusiveStartKey: after ? (JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as Record<string, unknown>) : undefined,
        }),
      );
      return {
        items: (page.Items ?? []).map((i) => ({
          jobId: String(i.jobId),
          groupId: String(i.groupId),
          stages: (i.pendingStages as string[] | undefined) ?? [],
          since: String(i.pendingSk).split('#')[0]!,
        })),
        next: page.LastEvaluatedKey ? Buffer.from(JSON.stringify(page.LastEvaluatedKey)).toString('base64url') : undefined,
      };
    },

    async *listJobsReceived(from, to) {
      for await (const item of queryAll({
        IndexName: 'byKind',
        KeyConditionExpression: 'kindPk = :k AND kindSk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':k': 'JOB', ':from': from, ':to': to },
      })) {
        yield itemToJob(item);
      }
    },

    async latestTopicRun(profile) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `TOPICS#${profile}`, sk: '#LATEST' }, ConsistentRead: true }));
      if (!r.Item) return undefined;
      const { pk: _pk, sk: _sk, ...run } = r.Item;
      return run as TopicRunRecord;
    },

    async putTopicRun(run) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `TOPICS#${run.profile}`, sk: `RUN#${run.at}`, ...run } }));
      if (!run.skipped) await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `TOPICS#${run.profile}`, sk: '#LATEST', ...run } }));
    },

    async putAlert(alert) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `ALERT#${alert.day}`, sk: `${alert.profile}#${alert.gate}`, ...alert } }));
    },

    async leasePending(jobId, groupId, leaseUntil, now) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
          UpdateExpression: 'SET backfillLeaseUntil = :until',
          ConditionExpression: 'attribute_exists(pendingPk) AND (attribute_not_exists(backfillLeaseUntil) OR backfillLeaseUntil < :now)',
          ExpressionAttributeValues: { ':until': leaseUntil, ':now': now },
        }),
      );
      return r !== undefined;
    },

    async releasePending(jobId, groupId, leaseUntil) {
      await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
          UpdateExpression: 'REMOVE backfillLeaseUntil',
          ConditionExpression: 'backfillLeaseUntil = :until',
          ExpressionAttributeValues: { ':until': leaseUntil },
        }),
      );
    },

    async saveBackfill(jobId, groupId, enrichment, decision, leaseUntil, at) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: groupSk(groupId) },
          UpdateExpression: 'SET enrichment = :enrichment, decision = :decision, updatedAt = :at, backfilledAt = :at REMOVE pendingPk, pendingSk, pendingStages, backfillLeaseUntil',
          ConditionExpression: 'backfillLeaseUntil = :until AND attribute_exists(pendingPk)',
          ExpressionAttributeValues: { ':enrichment': enrichment, ':decision': decision, ':at': at, ':until': leaseUntil },
        }),
      );
      return r !== undefined;
    },

    async refreshJobCounts(jobId, counts, at) {
      await update({
        Key: { pk: jobPk(jobId), sk: JOB_SK },
        UpdateExpression: `SET resultsRefreshedAt = :at, ${COUNT_NAMES.map((k) => `#${k} = :${k}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(COUNT_NAMES.map((k) => [`#${k}`, k])),
        ExpressionAttributeValues: { ':at': at, ...Object.fromEntries(COUNT_NAMES.map((k) => [`:${k}`, counts[k]])) },
      });
    },

    async completeJob(jobId, status, counts, results, at, leaseUntil) {
      const r = await conditional(() =>
        update({
          Key: { pk: jobPk(jobId), sk: JOB_SK },
          UpdateExpression: `SET #s = :status, results = :results, finishedAt = :at, ${COUNT_NAMES.map((k) => `#${k} = :${k}`).join(', ')} REMOVE finalizeLeaseUntil, finalizeCursor, pendingPk, pendingSk`,
          // Only the holder of the lease ends the job: a finalizer presumed dead that wakes up changes nothing.
          ConditionExpression: '#s = :finalizing AND finalizeLeaseUntil = :until',
          ExpressionAttributeNames: { '#s': 'status', ...Object.fromEntries(COUNT_NAMES.map((k) => [`#${k}`, k])) },
          ExpressionAttributeValues: {
            ':status': status,
            ':results': results,
            ':at': at,
            ':finalizing': JobStatus.FINALIZING,
            ':until': leaseUntil,
            ...Object.fromEntries(COUNT_NAMES.map((k) => [`:${k}`, counts[k]])),
          },
        }),
      );
      return r !== undefined;
    },
  };
}

const TERMINAL: ReadonlySet<string> = new Set([JobStatus.COMPLETE, JobStatus.COMPLETE_WITH_ERRORS, JobStatus.FAILED]);

function jobToItem(job: Job): Record<string, unknown> {
  return {
    pk: jobPk(job.jobId),
    sk: JOB_SK,
    kindPk: 'JOB',
    kindSk: `${job.timings.receivedAt}#${job.jobId}`,
    ...(TERMINAL.has(job.status) ? {} : { pendingPk: ACTIVE_JOB_KEY, pendingSk: `${job.timings.receivedAt}#${job.jobId}` }),
    jobId: job.jobId,
    bucket: job.bucket,
    key: job.key,
    etag: job.etag,
    size: job.size,
    profile: job.profile,
    mode: job.mode,
    status: job.status,
    ...job.counts,
    ...job.timings,
    error: job.error,
    results: job.results,
  };
}

function itemToJob(item: Record<string, unknown>): Job {
  const counts = emptyCounts();
  for (const k of COUNT_NAMES) counts[k] = Number(item[k] ?? 0);
  return {
    jobId: item.jobId as string,
    bucket: item.bucket as string,
    key: item.key as string,
    etag: item.etag as string,
    size: Number(item.size ?? 0),
    profile: item.profile as string,
    profileVersion: item.profileVersion as string | undefined,
    mode: (item.mode as Mode) ?? 'full',
    status: item.status as JobStatus,
    counts,
    timings: {
      receivedAt: item.receivedAt as string,
      ingestStartedAt: item.ingestStartedAt as string | undefined,
      ingestEndedAt: item.ingestEndedAt as string | undefined,
      finishedAt: item.finishedAt as string | undefined,
    },
    rowsRead: item.rowsRead === undefined ? undefined : Number(item.rowsRead),
    documents: item.documents === undefined ? undefined : Number(item.documents),
    error: item.error as string | undefined,
    badInput: item.badInput === true ? true : undefined,
    results: item.results as JobResults | undefined,
    reconcileMark: item.reconcileMark as Job['reconcileMark'],
    finalizeCursor: item.finalizeCursor as Job['finalizeCursor'],
    ledger: item.ledgerShards === undefined ? undefined : { shards: Number(item.ledgerShards), closed: (item.shardsClosed as Set<string> | undefined)?.size ?? 0 },
  };
}

/** A job's ledger shards, in shard order. */
const ledgerQuery = (jobId: string) => ({
  KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
  ExpressionAttributeValues: { ':pk': jobPk(jobId), ':prefix': 'LEDGER#' },
  ConsistentRead: true,
});

function itemToShard(item: Record<string, unknown>): LedgerShard {
  const set = (name: string) => (item[name] as Set<string> | undefined) ?? new Set<string>();
  return {
    shard: shardOfSk(item.sk),
    expected: Number(item.expected ?? 0),
    enriched: set(LEDGER_SETS.enriched),
    pending: set(LEDGER_SETS.pending),
    decided: set(LEDGER_SETS.decided),
    failed: set(LEDGER_SETS.failed),
  };
}

function itemToGroup(item: Record<string, unknown>): GroupItem {
  const stages: GroupItem['stages'] = {};
  if (item.enrichStage) stages.enrich = item.enrichStage as GroupItem['stages'][string];
  if (item.decideStage) stages.decide = item.decideStage as GroupItem['stages'][string];
  return {
    jobId: item.jobId as string,
    groupId: item.groupId as string,
    status: item.status as string,
    noteCount: Number(item.noteCount ?? 0),
    attempts: Number(item.attempts ?? 0),
    enrichment: item.enrichment as Enrichment | undefined,
    decision: item.decision as Decision | undefined,
    stages,
    lastError: item.lastError as string | undefined,
    updatedAt: item.updatedAt as string,
    shard: item.ledgerShard === undefined ? undefined : Number(item.ledgerShard),
    notes: item.notes as GroupItem['notes'],
    ...(item.shadow ? { shadow: item.shadow as GroupItem['shadow'] } : {}),
  };
}


export type { JobCounts };
