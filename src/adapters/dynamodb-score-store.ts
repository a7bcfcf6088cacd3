/**
 * Score runs in the status table:
 *   `SCORERUN#<runId>` / `#RUN`          the run, its status and (when done) its report
 *   `SCORERUN#<runId>` / `ITEM#<id>`     one item's prediction, field verdicts, judgement and timings
 *   `SCORE#<benchmark>` / `RUN#<startedAt>#<runId>`   the listing of a benchmark's runs (summaries), newest first
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ScoreItemRecord, ScoreRun, ScoreStore } from '../scoring/score-store.ts';

const RUN_SK = '#RUN';
const runPk = (runId: string) => `SCORERUN#${runId}`;
const strip = <T>({ pk: _pk, sk: _sk, ...rest }: Record<string, unknown>) => rest as T;

export function createScoreStore(client: DynamoDBClient, tableName: string): ScoreStore {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    async startRun(run) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: runPk(run.runId), sk: RUN_SK, ...run } }));
    },
    async getRun(runId) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: runPk(runId), sk: RUN_SK }, ConsistentRead: true }));
      return r.Item && strip<ScoreRun & { report?: unknown }>(r.Item);
    },
    async updateItem(runId, id, patch) {
      const entries = Object.entries({ ...patch, id }).filter(([, v]) => v !== undefined);
      await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: runPk(runId), sk: `ITEM#${id}` },
          UpdateExpression: `SET ${entries.map((_, i) => `#k${i} = :v${i}`).join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(entries.map(([k], i) => [`#k${i}`, k])),
          ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
        }),
      );
    },
    async getItem(runId, id) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: runPk(runId), sk: `ITEM#${id}` }, ConsistentRead: true }));
      return r.Item && strip<ScoreItemRecord>(r.Item);
    },
    async listItems(runId) {
      const items: ScoreItemRecord[] = [];
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :item)',
            ExpressionAttributeValues: { ':pk': runPk(runId), ':item': 'ITEM#' },
            ConsistentRead: true,
            ExclusiveStartKey,
          }),
        );
        for (const item of page.Items ?? []) items.push(strip<ScoreItemRecord>(item));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return items;
    },
    async finishRun(run, report, summary) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: runPk(run.runId), sk: RUN_SK, ...run, report } }));
      await doc.send(
        new PutCommand({ TableName: tableName, Item: { pk: `SCORE#${run.benchmark}`, sk: `RUN#${run.startedAt}#${run.runId}`, runId: run.runId, startedAt: run.startedAt, ...summary } }),
      );
    },
    listRuns(benchmark, limit = 20) {
      return runsUnder(`SCORE#${benchmark}`, limit);
    },
    async putImproveRun(run) {
      // The run under its benchmark (the listing), and a pointer by its id (approve and reject name the run only).
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `IMPROVERUN#${run.runId}`, sk: RUN_SK, benchmark: run.benchmark, startedAt: run.startedAt } }));
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `IMPROVE#${run.benchmark}`, sk: `RUN#${run.startedAt}#${run.runId}`, ...run } }));
    },
    async getImproveRun(runId) {
      const key = await improveKey(runId);
      if (!key) return undefined;
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
      return r.Item && strip<Record<string, unknown> & { runId: string; benchmark: string; startedAt: string; status?: string }>(r.Item);
    },
    async updateImproveRun(runId, patch, expectedStatus) {
      const key = await improveKey(runId);
      if (!key) return 'conflict';
      const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: `SET ${entries.map((_, i) => `#k${i} = :v${i}`).join(', ')}`,
            ConditionExpression: expectedStatus === undefined ? 'attribute_exists(pk)' : '#status = :expected',
            ExpressionAttributeNames: { ...Object.fromEntries(entries.map(([k], i) => [`#k${i}`, k])), ...(expectedStatus === undefined ? {} : { '#status': 'status' }) },
            ExpressionAttributeValues: { ...Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])), ...(expectedStatus === undefined ? {} : { ':expected': expectedStatus }) },
          }),
        );
        return 'applied';
      } catch (err) {
        if ((err as Error).name === 'ConditionalCheckFailedException') return 'conflict';
        throw err;
      }
    },
    async putTaskOutcome(token, outcome) {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `TASKTOKEN#${token}`, sk: RUN_SK, outcome } }));
    },
    async getTaskOutcome(token) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `TASKTOKEN#${token}`, sk: RUN_SK }, ConsistentRead: true }));
      return r.Item?.outcome as Record<string, unknown> | undefined;
    },
    listImproveRuns(benchmark, limit = 20) {
      return runsUnder(`IMPROVE#${benchmark}`, limit);
    },
  };

  async function improveKey(runId: string) {
    const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `IMPROVERUN#${runId}`, sk: RUN_SK }, ConsistentRead: true }));
    return r.Item ? { pk: `IMPROVE#${String(r.Item.benchmark)}`, sk: `RUN#${String(r.Item.startedAt)}#${runId}` } : undefined;
  }

  async function runsUnder(pk: string, limit: number) {
    const r = await doc.send(
      new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)', ExpressionAttributeValues: { ':pk': pk, ':run': 'RUN#' }, ScanIndexForward: false, Limit: limit }),
    );
    return (r.Items ?? []).map((i) => strip<Record<string, unknown> & { runId: string; startedAt: string }>(i));
  }
}
