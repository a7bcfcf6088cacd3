/** Which job a queued message belongs to, whatever queue it sits in: for `sluice status` on a DLQ. */
import { jobIdFor } from '../domain/job.ts';
import { parseS3Notification } from '../domain/s3-event.ts';

/**
 * The job of a message body: a group reference names it; an S3 notification names its object.
 * @example jobOfMessage('{"jobId":"j-1","groupId":"C-1",...}') // 'j-1'
 */
export function jobOfMessage(body: string): string[] {
  try {
    const value = JSON.parse(body) as { jobId?: unknown };
    if (typeof value?.jobId === 'string') return [value.jobId];
  } catch {
    return [];
  }
  try {
    return parseS3Notification(body).created.map((o) => jobIdFor(o.bucket, o.key, o.etag));
  } catch {
    return [];
  }
}
