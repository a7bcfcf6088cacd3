/**
 * The version registry on AWS (and the local emulators):
 *   config bucket  `<kind>s/<name>/<version>.json`     a version's data, immutable (same content, same key)
 *   status table   `PROFILE#<name>` / `VERSION#<version>`   its listing (when and by whom it was pushed)
 *   status table   `PROFILE#<name>` / `ACTIVE`              the active version and the ones before it
 * (`BENCHMARK#<name>` for benchmarks.)
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ActiveRecord, VersionKind, VersionMeta, VersionRegistry } from '../profiles/registry.ts';

const pk = (kind: VersionKind, name: string) => `${kind.toUpperCase()}#${name}`;
export const versionKey = (kind: VersionKind, name: string, version: string) => `${kind}s/${name}/${version}.json`;

export function createVersionRegistry(s3: S3Client, dynamodb: DynamoDBClient, bucket: string, tableName: string): VersionRegistry {
  const doc = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  return {
    async putVersion(kind, name, meta, data) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: versionKey(kind, name, meta.version), Body: JSON.stringify(data), ContentType: 'application/json' }));
      try {
        await doc.send(
          new PutCommand({ TableName: tableName, Item: { pk: pk(kind, name), sk: `VERSION#${meta.version}`, ...meta }, ConditionExpression: 'attribute_not_exists(pk)' }),
        );
      } catch (err) {
        // Pushed before: the first push's listing stands.
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
      }
    },
    async getVersion(kind, name, version) {
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: versionKey(kind, name, version) }));
        return JSON.parse(await r.Body!.transformToString('utf8')) as unknown;
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey' || (err as Error).name === 'NotFound') return undefined;
        throw err;
      }
    },
    async listVersions(kind, name) {
      const out: VersionMeta[] = [];
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)', ExpressionAttributeValues: { ':pk': pk(kind, name), ':v': 'VERSION#' }, ExclusiveStartKey }),
        );
        for (const i of page.Items ?? []) out.push({ version: String(i.version), pushedAt: String(i.pushedAt), source: String(i.source) });
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return out.sort((a, b) => b.pushedAt.localeCompare(a.pushedAt) || a.version.localeCompare(b.version));
    },
    async getActive(kind, name) {
      const r = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: pk(kind, name), sk: 'ACTIVE' }, ConsistentRead: true }));
      if (!r.Item) return undefined;
      return {
        version: String(r.Item.version),
        history: (r.Item.history as string[] | undefined) ?? [],
        activatedAt: String(r.Item.activatedAt),
        source: String(r.Item.source),
        ...(r.Item.shadow ? { shadow: r.Item.shadow as ActiveRecord['shadow'] } : {}),
      };
    },
    async setActive(kind, name, next: ActiveRecord, expected) {
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: pk(kind, name), sk: 'ACTIVE', ...next },
            ...(expected === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : { ConditionExpression: '#v = :expected', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':expected': expected } }),
          }),
        );
        return 'applied';
      } catch (err) {
        if ((err as Error).name === 'ConditionalCheckFailedException') return 'conflict';
        throw err;
      }
    },
  };
}
