/**
 * The S3 event notification envelope as it arrives in an SQS message body (S3 → SQS), validated.
 * Keys arrive URL-encoded with `+` for spaces; `s3:TestEvent` is sent once when a notification is set up.
 */
import * as z from 'zod';
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';

// The notification's shape is Powertools parser's (the S3 event schema AWS documents), plus S3's test event.
const envelopeSchema = z.union([z.object({ Event: z.literal('s3:TestEvent') }).loose(), S3Schema]);

export interface CreatedObject {
  bucket: string;
  key: string;
  etag: string;
  size: number;
}

/** Decodes an S3 event key: `+` is a space, then percent-decoding. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** Encodes a key as S3 does in event notifications. */
export function encodeS3Key(key: string): string {
  // S3 encodes keys form-style (as Java's URLEncoder: `( ) ! ' ~` too), keeping `/`.
  return encodeURIComponent(key)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, '/')
    .replace(/%20/g, '+');
}

/**
 * Parses an SQS message body holding an S3 notification: the created objects, and what was ignored.
 * @throws Error naming what is wrong when the body is not an S3 notification at all.
 */
export function parseS3Notification(body: string): { created: CreatedObject[]; ignored: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error('message body is not JSON');
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) throw new Error(`message body is not an S3 event notification: ${parsed.error.issues[0]?.message}`);
  if ('Event' in parsed.data) return { created: [], ignored: ['s3:TestEvent'] };
  const created: CreatedObject[] = [];
  const ignored: string[] = [];
  for (const r of parsed.data.Records) {
    if (!r.eventName.startsWith('ObjectCreated:')) {
      ignored.push(r.eventName);
      continue;
    }
    created.push({
      bucket: r.s3.bucket.name,
      key: decodeS3Key(r.s3.object.key),
      etag: (r.s3.object.eTag ?? '').replace(/"/g, ''),
      size: r.s3.object.size ?? 0,
    });
  }
  return { created, ignored };
}
