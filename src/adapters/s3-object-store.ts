/**
 * Object store adapter over S3: streamed reads; a stream written through lib-storage's Upload (multipart above
 * 8 MiB, so no request body is larger than one part), bytes already in memory in one PutObject.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import type { ObjectStore } from '../pipeline/ports.ts';

export function createObjectStore(client: S3Client): ObjectStore {
  return {
    async get(bucket, key, range) {
      // An empty range asks for nothing: S3 would refuse `bytes=n-(n-1)`.
      if (range && range.end <= range.start) return { body: Readable.from([]), etag: '', size: 0, metadata: {} };
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}) }));
      return {
        body: r.Body as Readable,
        etag: (r.ETag ?? '').replace(/"/g, ''),
        size: r.ContentLength ?? 0,
        metadata: r.Metadata ?? {},
      };
    },
    async list(bucket, prefix) {
      const out: Array<{ key: string; size: number }> = [];
      for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
      }
      return out;
    },
    async put(bucket, key, body, contentType) {
      // Bytes in memory: one request (a 16 MiB staged file as multipart cost 4 calls and the parts' copies), its
      // pieces sent as they are, never joined first. S3 takes up to 5 GB in one PUT.
      if (Array.isArray(body)) {
        const length = body.reduce((n, b) => n + b.length, 0);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body.length === 1 ? body[0] : Readable.from(body, { objectMode: false }), ContentLength: length, ContentType: contentType }));
        return;
      }
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
        return;
      }
      await new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
      }).done();
    },
  };
}
