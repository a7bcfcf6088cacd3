/**
 * A function's permissions, read from the topology's `access`: the CDK stack turns them into IAM
 * statements, and the local runtime checks every SDK call a handler makes against them (a call IAM would
 * deny fails locally too, with AccessDeniedException). One description, two enforcers.
 */
import type { BucketName, FunctionAccess, QueueName } from './topology.ts';

export type Resource =
  | { kind: 'table'; index?: string }
  | { kind: 'bucket'; name: BucketName }
  | { kind: 'queue'; name: QueueName }
  | { kind: 'dlq'; name: QueueName }
  | { kind: 'alertTopic' };

export interface Permission {
  /** IAM action, e.g. `dynamodb:UpdateItem`. */
  action: string;
  resource: Resource;
}

/** Every (action, resource) pair the access description allows. */
export function permissionsOf(access: FunctionAccess): Permission[] {
  const out: Permission[] = [];
  for (const a of access.table?.actions ?? []) {
    out.push({ action: `dynamodb:${a}`, resource: { kind: 'table' } });
    if (a === 'Query') for (const index of access.table?.indexes ?? []) out.push({ action: 'dynamodb:Query', resource: { kind: 'table', index } });
  }
  for (const [bucket, actions] of Object.entries(access.buckets ?? {}) as Array<[BucketName, string[]]>) {
    for (const a of actions) out.push({ action: `s3:${a}`, resource: { kind: 'bucket', name: bucket } });
  }
  for (const q of access.sendsTo ?? []) out.push({ action: 'sqs:SendMessage', resource: { kind: 'queue', name: q } });
  for (const q of access.readsDlqDepth ?? []) out.push({ action: 'sqs:GetQueueAttributes', resource: { kind: 'dlq', name: q } });
  for (const q of access.sendsToDlq ?? []) out.push({ action: 'sqs:SendMessage', resource: { kind: 'dlq', name: q } });
  if (access.publishesAlerts) out.push({ action: 'sns:Publish', resource: { kind: 'alertTopic' } });
  return out;
}

// The SDK operations whose IAM action is not simply `<service>:<operation>`.
const ACTION_OF_OPERATION: Record<string, string> = {
  's3:HeadObject': 's3:GetObject',
  's3:CreateMultipartUpload': 's3:PutObject',
  's3:UploadPart': 's3:PutObject',
  's3:CompleteMultipartUpload': 's3:PutObject',
  's3:ListObjectsV2': 's3:ListBucket',
  'sqs:SendMessageBatch': 'sqs:SendMessage',
};

/** The IAM action an SDK command needs, e.g. (`s3`, `UploadPartCommand`) → `s3:PutObject`. */
export function iamActionOf(service: 'dynamodb' | 's3' | 'sqs' | 'sns', commandName: string): string {
  const op = `${service}:${commandName.replace(/Command$/, '')}`;
  return ACTION_OF_OPERATION[op] ?? op;
}

export function allows(permissions: Permission[], action: string, resource: Resource): boolean {
  return permissions.some(
    (p) =>
      p.action === action &&
      p.resource.kind === resource.kind &&
      (p.resource.kind !== 'table' || p.resource.index === (resource as { index?: string }).index) &&
      (!('name' in p.resource) || p.resource.name === (resource as { name: string }).name),
  );
}

export function describeResource(r: Resource): string {
  if (r.kind === 'table') return r.index ? `table index ${r.index}` : 'table';
  if (r.kind === 'alertTopic') return 'alert topic';
  return `${r.kind} ${r.name}`;
}
