/**
 * LLM state in the status table: the answer cache (`CACHE#<hash>`, expiring through the table's TTL) and
 * the circuit breaker every concurrent invocation shares (`BREAKER#<name>`): closed → open after
 * `threshold` consecutive failures; after `cooldownMs` exactly one invocation wins the conditional write
 * that makes it the half-open probe; the probe's success closes the breaker, its failure reopens it.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { EnrichmentOutput } from '../domain/enrich/enrich-group.ts';
import type { BreakerPermit, CircuitBreaker, LlmCache } from '../llm/resilient-provider.ts';

const STATE_SK = '#STATE';

export function createLlmCache(client: DynamoDBClient, tableName: string, ttlDays = 30): LlmCache {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    async get(key) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `CACHE#${key}`, sk: STATE_SK } }));
      return r.Item?.output as EnrichmentOutput | undefined;
    },
    async put(key, output) {
      const expiresAt = Math.floor(Date.now() / 1000) + ttlDays * 86400;
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `CACHE#${key}`, sk: STATE_SK, output, expiresAt } }));
    },
  };
}

export interface BreakerSettings {
  name: string;
  threshold: number;
  cooldownMs: number;
  /** A probe that has not reported within this long is presumed dead; another may probe. */
  probeTimeoutMs: number;
  /** How long this process may reuse a read of a closed breaker before reading it again (default 1000 ms). */
  closedReadTtlMs?: number;
}

export type BreakerState = { state: 'closed' | 'open' | 'half_open'; failures: number; openedAt?: number; probeUntil?: number };

export function createCircuitBreaker(client: DynamoDBClient, tableName: string, s: BreakerSettings): CircuitBreaker & { read(): Promise<BreakerState> } {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const Key = { pk: `BREAKER#${s.name}`, sk: STATE_SK };
  const conditional = async (input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>) => {
    try {
      return await doc.send(new UpdateCommand({ TableName: tableName, Key, ...input }));
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw err;
    }
  };
  // A closed breaker read is reused briefly, so a busy invocation does not read it once per call.
  let closedSeen: { at: number; failures: number } | undefined;
  async function read(): Promise<BreakerState> {
    const r = await doc.send(new GetCommand({ TableName: tableName, Key, ConsistentRead: true }));
    const item = (r.Item ?? {}) as Partial<BreakerState>;
    return { ...item, state: item.state ?? 'closed', failures: item.failures ?? 0 };
  }
  return {
    read,
    async permit(now) {
      if (closedSeen && now - closedSeen.at < (s.closedReadTtlMs ?? 1000)) return 'closed';
      const b = await read();
      closedSeen = b.state === 'closed' ? { at: now, failures: b.failures } : undefined;
      if (b.state === 'closed') return 'closed';
      const probeDue = b.state === 'open' ? (b.openedAt ?? 0) + s.cooldownMs <= now : (b.probeUntil ?? 0) <= now;
      if (!probeDue) return 'open';
      // Exactly one invocation turns the breaker half-open (or takes over a dead probe).
      const won = await conditional({
        UpdateExpression: 'SET #s = :half, probeUntil = :until',
        ConditionExpression: b.state === 'open' ? '#s = :open AND openedAt = :openedAt' : '#s = :half AND probeUntil = :probeUntil',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':half': 'half_open',
          ':until': now + s.probeTimeoutMs,
          ...(b.state === 'open' ? { ':open': 'open', ':openedAt': b.openedAt } : { ':probeUntil': b.probeUntil }),
        },
      });
      return won ? 'probe' : 'open';
    },
    async recordSuccess(permit: BreakerPermit) {
      if (permit === 'probe') {
        await doc.send(new UpdateCommand({ TableName: tableName, Key, UpdateExpression: 'SET #s = :closed, failures = :zero REMOVE openedAt, probeUntil', ExpressionAttributeNames: { '#s': 'state' }, ExpressionAttributeValues: { ':closed': 'closed', ':zero': 0 } }));
        return;
      }
      // A success resets the run of consecutive failures (only written when there may be one to reset).
      if (closedSeen && closedSeen.failures === 0) return;
      await conditional({ UpdateExpression: 'SET failures = :zero', ConditionExpression: '#s = :closed AND failures > :zero', ExpressionAttributeNames: { '#s': 'state' }, ExpressionAttributeValues: { ':closed': 'closed', ':zero': 0 } });
    },
    async recordFailure(permit: BreakerPermit, now: number) {
      closedSeen = undefined;
      if (permit === 'probe') {
        await conditional({ UpdateExpression: 'SET #s = :open, openedAt = :now REMOVE probeUntil', ConditionExpression: '#s = :half', ExpressionAttributeNames: { '#s': 'state' }, ExpressionAttributeValues: { ':open': 'open', ':half': 'half_open', ':now': now } });
        return;
      }
      const r = await doc.send(new UpdateCommand({ TableName: tableName, Key, UpdateExpression: 'ADD failures :one', ExpressionAttributeValues: { ':one': 1 }, ReturnValues: 'ALL_NEW' }));
      const b = r.Attributes as BreakerState;
      closedSeen = undefined;
      if ((b.state ?? 'closed') === 'closed' && b.failures >= s.threshold) {
        await conditional({
          UpdateExpression: 'SET #s = :open, openedAt = :now',
          ConditionExpression: 'attribute_not_exists(#s) OR #s = :closed',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: { ':open': 'open', ':closed': 'closed', ':now': now },
        });
      }
    },
  };
}
