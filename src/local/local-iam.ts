/**
 * Local IAM: each function's SDK clients refuse any call its topology `access` does not allow, as AWS
 * would with the policy the CDK stack derives from the same description. A handler that starts calling
 * something new fails locally first, instead of in a deployed stage.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type Permission, type Resource, allows, describeResource, iamActionOf } from '../topology/permissions.ts';

export type Service = 'dynamodb' | 's3' | 'sqs';

export interface CallRecord {
  fn: string;
  action: string;
  resource: Resource;
  allowed: boolean;
}

export class AccessDeniedException extends Error {
  override name = 'AccessDeniedException';
}

/** Maps a call's input to the logical resource it touches (undefined: not one of sluice's). */
export type ResourceOf = (service: Service, input: Record<string, unknown>) => Resource | undefined;

export function guardClient(
  client: DynamoDBClient | S3Client | SQSClient,
  service: Service,
  fn: string,
  permissions: Permission[],
  resourceOf: ResourceOf,
  onCall?: (call: CallRecord) => void,
): void {
  (client.middlewareStack as DynamoDBClient['middlewareStack']).add(
    (next, context) => async (args) => {
      const action = iamActionOf(service, String(context.commandName));
      const resource = resourceOf(service, args.input as Record<string, unknown>);
      const allowed = resource !== undefined && allows(permissions, action, resource);
      onCall?.({ fn, action, resource: resource ?? { kind: 'table', index: '?' }, allowed });
      if (!allowed) {
        throw new AccessDeniedException(
          `local IAM: function ${fn} is not allowed ${action} on ${resource ? describeResource(resource) : 'a resource outside the topology'} (see its access in src/topology/topology.ts)`,
        );
      }
      return next(args);
    },
    { step: 'initialize', name: 'sluiceLocalIam' },
  );
}
