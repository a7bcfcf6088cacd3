// Under test: the disk-backed S3 server of the local runtime (src/local/disk-s3.ts) through the real SDK over loopback — multipart uploads and their ETags, the checks S3 makes at completion, abort, ranges, metadata, object-created reports, and objects kept across a restart on the same folder.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiskS3, startDiskS3 } from '../../src/local/disk-s3.ts';
import type { S3Upload } from '../../src/local/emulators.ts';

const MiB = 1024 * 1024;
const Bucket = 'sluice-test';
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
/** S3's multipart ETag: the MD5 of the parts' binary MD5s, then the part count. */
const multipartEtag = (parts: Buffer[]) => `${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-${parts.length}`;

function clientOf(server: DiskS3): S3Client {
  return new S3Client({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, forcePathStyle: true });
}

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Uploads `parts` with the plain multipart API and returns the upload id and the part list to complete with. */
async function uploadParts(s3: S3Client, Key: string, parts: Buffer[]) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  const listed = [];
  for (const [i, Body] of parts.entries()) {
    const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }));
    listed.push({ PartNumber: i + 1, ETag: r.ETag! });
  }
  return { UploadId: UploadId!, listed };
}

const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (err: Error) => err.name);

describe('disk S3 server', () => {
  const created: S3Upload[] = [];
  let server: DiskS3;
  let s3: S3Client;
  beforeAll(async () => {
    server = await startDiskS3({ port: 0, onObjectCreated: (u) => created.push(u) });
    s3 = clientOf(server);
    await s3.send(new CreateBucketCommand({ Bucket }));
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
  });

  it('takes a 20 MB file from lib-storage in 8 MiB parts and gives it back byte for byte, with the <md5 of part md5s>-3 ETag', async () => {
    // Prepare
    const file = randomBytes(20 * 1000 * 1000);
    const parts = [file.subarray(0, 8 * MiB), file.subarray(8 * MiB, 16 * MiB), file.subarray(16 * MiB)];
    // Act
    const done = await new Upload({ client: s3, params: { Bucket, Key: 'big/20mb.bin', Body: Readable.from([file]) }, partSize: 8 * MiB, queueSize: 2 }).done();
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'big/20mb.bin' }));
    // Assess
    expect(done.ETag).toBe(`"${multipartEtag(parts)}"`);
    expect(got.ETag).toBe(done.ETag);
    expect(got.ContentLength).toBe(file.length);
    expect(md5(await bytesOf(got.Body))).toBe(md5(file));
  });

  it('refuses a completion listing a wrong ETag or a part never uploaded (InvalidPart), parts out of order (InvalidPartOrder) or a small middle part (EntityTooSmall), and the upload stays open', async () => {
    // Prepare
    const parts = [Buffer.alloc(5 * MiB, 'a'), Buffer.alloc(5 * MiB, 'b'), Buffer.from('tail')];
    const { UploadId, listed } = await uploadParts(s3, 'checked/object', parts);
    const small = await uploadParts(s3, 'checked/small', [Buffer.from('too small'), Buffer.from('tail')]);
    const complete = (Parts: typeof listed, upload = UploadId, Key = 'checked/object') => s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: upload, MultipartUpload: { Parts } }));
    // Act
    const wrongEtag = await refusal(complete([listed[0]!, { PartNumber: 2, ETag: `"${md5(Buffer.from('other'))}"` }, listed[2]!]));
    const missing = await refusal(complete([...listed, { PartNumber: 4, ETag: listed[2]!.ETag }]));
    const outOfOrder = await refusal(complete([listed[1]!, listed[0]!, listed[2]!]));
    const tooSmall = await refusal(complete(small.listed, small.UploadId, 'checked/small'));
    const done = await complete(listed);
    // Assess
    expect({ wrongEtag, missing, outOfOrder, tooSmall }).toEqual({ wrongEtag: 'InvalidPart', missing: 'InvalidPart', outOfOrder: 'InvalidPartOrder', tooSmall: 'EntityTooSmall' });
    expect(done.ETag).toBe(`"${multipartEtag(parts)}"`);
    expect(md5(await bytesOf((await s3.send(new GetObjectCommand({ Bucket, Key: 'checked/object' }))).Body))).toBe(md5(Buffer.concat(parts)));
  });

  it('drops the parts of an aborted upload: no parts to list, none to add, none to complete with', async () => {
    // Prepare
    const { UploadId, listed } = await uploadParts(s3, 'aborted/object', [Buffer.alloc(5 * MiB, 'x'), Buffer.from('y')]);
    const before = await s3.send(new ListPartsCommand({ Bucket, Key: 'aborted/object', UploadId }));
    // Act
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'aborted/object', UploadId }));
    // Assess
    expect(before.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([[1, 5 * MiB], [2, 1]]);
    expect(await refusal(s3.send(new ListPartsCommand({ Bucket, Key: 'aborted/object', UploadId })))).toBe('NoSuchUpload');
    expect(await refusal(s3.send(new UploadPartCommand({ Bucket, Key: 'aborted/object', UploadId, PartNumber: 3, Body: 'z' })))).toBe('NoSuchUpload');
    expect(await refusal(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'aborted/object', UploadId, MultipartUpload: { Parts: listed } })))).toBe('NoSuchUpload');
    expect(await refusal(s3.send(new HeadObjectCommand({ Bucket, Key: 'aborted/object' })))).toBe('NotFound');
  });

  it('serves byte ranges, across part boundaries too, and refuses one past the end with InvalidRange', async () => {
    // Prepare: a two-part object, so a range can span the boundary at 5 MiB
    const parts = [randomBytes(5 * MiB), randomBytes(1000)];
    const whole = Buffer.concat(parts);
    const { UploadId, listed } = await uploadParts(s3, 'ranged/object', parts);
    await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'ranged/object', UploadId, MultipartUpload: { Parts: listed } }));
    const get = (Range: string) => s3.send(new GetObjectCommand({ Bucket, Key: 'ranged/object', Range }));
    // Act
    const span = await get(`bytes=${5 * MiB - 10}-${5 * MiB + 9}`);
    const suffix = await get('bytes=-100');
    const open = await get(`bytes=${whole.length - 5}-`);
    const past = await refusal(get(`bytes=${whole.length}-`));
    // Assess
    expect(span.ContentRange).toBe(`bytes ${5 * MiB - 10}-${5 * MiB + 9}/${whole.length}`);
    expect(await bytesOf(span.Body)).toEqual(whole.subarray(5 * MiB - 10, 5 * MiB + 10));
    expect(await bytesOf(suffix.Body)).toEqual(whole.subarray(-100));
    expect(await bytesOf(open.Body)).toEqual(whole.subarray(-5));
    expect(past).toBe('InvalidRange');
  });

  it('keeps user metadata and the content type of a PUT and of a multipart upload, and returns them on HEAD and GET', async () => {
    // Prepare
    const Metadata = { 'sluice-mode': 'fast', origin: 'test' };
    // Act
    await s3.send(new PutObjectCommand({ Bucket, Key: 'meta/put.csv', Body: 'a,b\n', ContentType: 'text/csv', Metadata }));
    await new Upload({ client: s3, params: { Bucket, Key: 'meta/multipart.csv', Body: Buffer.alloc(6 * MiB, 'n'), ContentType: 'text/csv', Metadata }, partSize: 5 * MiB }).done();
    const heads = await Promise.all(['meta/put.csv', 'meta/multipart.csv'].map((Key) => s3.send(new HeadObjectCommand({ Bucket, Key }))));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'meta/put.csv' }));
    // Assess
    for (const h of heads) expect({ type: h.ContentType, meta: h.Metadata }).toEqual({ type: 'text/csv', meta: Metadata });
    expect(got.Metadata).toEqual(Metadata);
    expect(await bytesOf(got.Body)).toEqual(Buffer.from('a,b\n'));
  });

  it('reports every created object once — each PUT and each multipart completion — and nothing for an abort or a refused completion', async () => {
    // Prepare
    created.length = 0;
    const parts = [Buffer.alloc(5 * MiB, 'p'), Buffer.from('q')];
    const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'events/put.txt', Body: 'hello' }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'events/put.txt', Body: 'hello again' }));
    const mp = await uploadParts(s3, 'events/multipart.bin', parts);
    const aborted = await uploadParts(s3, 'events/aborted.bin', [Buffer.from('r')]);
    // Act
    await refusal(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'events/multipart.bin', UploadId: mp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: `"${md5(Buffer.from('not it'))}"` }] } })));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'events/multipart.bin', UploadId: mp.UploadId, MultipartUpload: { Parts: mp.listed } }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'events/aborted.bin', UploadId: aborted.UploadId }));
    // Assess
    expect(created).toEqual([
      { bucket: Bucket, key: 'events/put.txt', etag: put.ETag!.replace(/"/g, ''), size: 5, multipart: false },
      { bucket: Bucket, key: 'events/put.txt', etag: md5(Buffer.from('hello again')), size: 11, multipart: false },
      { bucket: Bucket, key: 'events/multipart.bin', etag: multipartEtag(parts), size: 5 * MiB + 1, multipart: true },
    ]);
  });

  it('refuses a body whose Content-MD5 does not match with BadDigest, and stores nothing', async () => {
    // Prepare
    const url = new URL(`/${Bucket}/digest/object`, server.endpoint);
    // Act: a raw PUT, as the SDK would compute the right digest itself
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(url, { method: 'PUT', headers: { 'Content-MD5': createHash('md5').update('something else').digest('base64') } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end('the body');
    });
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('<Code>BadDigest</Code>');
    expect(await refusal(s3.send(new GetObjectCommand({ Bucket, Key: 'digest/object' })))).toBe('NoSuchKey');
  });

  it('finishes a download already under way when its object is overwritten or deleted', async () => {
    // Prepare
    const original = randomBytes(24 * MiB); // more than the socket buffers hold, so the read is still going
    await s3.send(new PutObjectCommand({ Bucket, Key: 'reading/object', Body: original }));
    const reading = await s3.send(new GetObjectCommand({ Bucket, Key: 'reading/object' }));
    // Act
    await s3.send(new PutObjectCommand({ Bucket, Key: 'reading/object', Body: 'new' }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'reading/object' }));
    // Assess
    expect(md5(await bytesOf(reading.Body))).toBe(md5(original));
    expect(await refusal(s3.send(new GetObjectCommand({ Bucket, Key: 'reading/object' })))).toBe('NoSuchKey');
  });

  it('serves large ranges of several objects at once byte for byte through its reused read buffers, and goes on after a client drops a download half-way', async () => {
    // Prepare: three multipart objects (6 + 5 + 1 MiB, unaligned to the 1 MiB reads)
    const bodies = [0, 1, 2].map(() => [randomBytes(6 * MiB + 7), randomBytes(5 * MiB), randomBytes(MiB + 333)]);
    for (const [i, parts] of bodies.entries()) {
      const { UploadId, listed } = await uploadParts(s3, `large/o${i}`, parts);
      await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: `large/o${i}`, UploadId, MultipartUpload: { Parts: listed } }));
    }
    const whole = bodies.map((parts) => Buffer.concat(parts));
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (stderr.push(String(chunk)), write(chunk, ...rest))) as typeof process.stderr.write;
    try {
      // Act: a download dropped after its first bytes, then many ranges of the three objects at once, twice
      const dropped = await new Promise<number>((resolve, reject) => {
        const req = request(new URL(`/${Bucket}/large/o0`, server.endpoint), (res) => {
          res.once('data', (c: Buffer) => {
            req.destroy();
            resolve(c.length);
          });
        });
        req.on('error', () => undefined);
        req.end();
      });
      const ranges = Array.from({ length: 24 }, (_, k) => ({ i: k % 3, start: (k * 1_048_573) % (3 * MiB), length: 2 * MiB + k * 4099 }));
      const read = () =>
        Promise.all(
          ranges.map(async ({ i, start, length }) =>
            bytesOf((await s3.send(new GetObjectCommand({ Bucket, Key: `large/o${i}`, Range: `bytes=${start}-${start + length - 1}` }))).Body),
          ),
        );
      const first = await read();
      const second = await read();
      const again = await bytesOf((await s3.send(new GetObjectCommand({ Bucket, Key: 'large/o0' }))).Body);
      // Assess
      expect(dropped).toBeGreaterThan(0);
      for (const got of [first, second]) {
        for (const [k, { i, start, length }] of ranges.entries()) expect(got[k]!.equals(whole[i]!.subarray(start, start + length)), `range ${k}`).toBe(true);
      }
      expect(md5(again)).toBe(md5(whole[0]!));
      expect(stderr.filter((line) => line.includes('disk-s3'))).toEqual([]);
    } finally {
      process.stderr.write = write;
    }
  });

  it('serves small ranges of many objects through kept handles: each range its own object’s bytes, after overwrites and deletes too, and no handle left on a removed file', async () => {
    // Prepare: more objects than handles are kept (64), so some are closed while others are read
    const bodies = Array.from({ length: 80 }, () => randomBytes(200_000));
    await Promise.all(bodies.map((Body, i) => s3.send(new PutObjectCommand({ Bucket, Key: `handles/o${i}`, Body }))));
    const range = async (i: number, start: number, length: number) => bytesOf((await s3.send(new GetObjectCommand({ Bucket, Key: `handles/o${i}`, Range: `bytes=${start}-${start + length - 1}` }))).Body);
    // Act: three passes of concurrent ranged reads; half the objects overwritten, a quarter deleted between passes
    for (const pass of [0, 1, 2]) {
      const got = await Promise.all(bodies.map((_, i) => range(i, (i * 997 + pass * 31) % 100_000, 65_536)));
      got.forEach((b, i) => expect(b.equals(bodies[i]!.subarray((i * 997 + pass * 31) % 100_000, ((i * 997 + pass * 31) % 100_000) + 65_536))).toBe(true));
      for (let i = 0; i < 40; i++) {
        bodies[i] = randomBytes(200_000);
        await s3.send(new PutObjectCommand({ Bucket, Key: `handles/o${i}`, Body: bodies[i] }));
      }
    }
    for (let i = 60; i < 80; i++) await s3.send(new DeleteObjectCommand({ Bucket, Key: `handles/o${i}` }));
    // Assess: deleted objects are gone, the others read their latest bytes, and this process holds no handle on a removed file
    expect(await refusal(range(70, 0, 10))).toBe('NoSuchKey');
    expect((await range(5, 1000, 5000)).equals(bodies[5]!.subarray(1000, 6000))).toBe(true);
    await new Promise((r) => setTimeout(r, 100)); // closes run after the replies
    const deleted = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).endsWith('(deleted)');
      } catch {
        return false;
      }
    });
    expect(deleted).toEqual([]);
  });

  it('lists keys in pages with common prefixes, and answers NoSuchBucket for a bucket never created', async () => {
    // Prepare
    for (const Key of ['list/a.csv', 'list/b.csv', 'list/sub/1.csv', 'list/sub/2.csv', 'list/z.csv']) await s3.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
    // Act
    const pages = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'list/', Delimiter: '/', MaxKeys: 2, ContinuationToken }));
      pages.push([...(page.Contents ?? []).map((o) => o.Key), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix)]);
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
    // Assess
    expect(pages).toEqual([['list/a.csv', 'list/b.csv'], ['list/z.csv', 'list/sub/']]);
    expect(await refusal(s3.send(new ListObjectsV2Command({ Bucket: 'never-created' })))).toBe('NoSuchBucket');
    expect(await refusal(s3.send(new CreateBucketCommand({ Bucket })))).toBe('BucketAlreadyOwnedByYou');
  });
});

describe('disk S3 server on a folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-disk-s3-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps objects, metadata and an unfinished upload across a restart on the same folder, and lets one process serve it at a time', async () => {
    // Prepare
    const first = await startDiskS3({ dir, port: 0 });
    let s3 = clientOf(first);
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'kept/small.txt', Body: 'kept', Metadata: { 'sluice-mode': 'full' } }));
    const big = randomBytes(7 * MiB);
    await new Upload({ client: s3, params: { Bucket, Key: 'kept/big.bin', Body: big }, partSize: 5 * MiB }).done();
    const pending = await uploadParts(s3, 'kept/pending.bin', [Buffer.alloc(5 * MiB, 'u'), Buffer.from('v')]);
    const second = await refusal(startDiskS3({ dir, port: 0 }));
    s3.destroy();
    await first.close();
    // Act
    const restarted = await startDiskS3({ dir, port: 0 });
    s3 = clientOf(restarted);
    try {
      const small = await s3.send(new GetObjectCommand({ Bucket, Key: 'kept/small.txt' }));
      const bigBack = await s3.send(new GetObjectCommand({ Bucket, Key: 'kept/big.bin' }));
      const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'kept/pending.bin', UploadId: pending.UploadId, MultipartUpload: { Parts: pending.listed } }));
      const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'kept/' }));
      // Assess
      expect(second).toBe('Error');
      expect(small.Metadata).toEqual({ 'sluice-mode': 'full' });
      expect(await bytesOf(small.Body)).toEqual(Buffer.from('kept'));
      expect(md5(await bytesOf(bigBack.Body))).toBe(md5(big));
      expect(done.ETag).toBe(`"${multipartEtag([Buffer.alloc(5 * MiB, 'u'), Buffer.from('v')])}"`);
      expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([['kept/big.bin', 7 * MiB], ['kept/pending.bin', 5 * MiB + 1], ['kept/small.txt', 4]]);
      expect(readdirSync(join(dir, 'uploads'))).toEqual([]);
    } finally {
      s3.destroy();
      await restarted.close();
    }
  });
});
