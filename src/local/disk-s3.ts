// Hand-written: no maintained disk-backed S3 emulator fits — s3rver's multipart ETags are plain MD5s and it has no AbortMultipartUpload; fauxqs holds every object in memory.
/**
 * A small S3 server on loopback that keeps objects on disk, for the local runtime. Bodies are streamed to and
 * from files, never held whole in memory, so its memory stays flat whatever the object size; only the index
 * (key, size, ETag, metadata of each object) is kept in memory.
 *
 * What sluice and its tests use, path-style only, no signature check (loopback dev use): CreateBucket,
 * HeadBucket, ListBuckets, PutObject (aws-chunked bodies, Content-MD5 and CRC32 checks, `x-amz-meta-*`),
 * GetObject (Range) and HeadObject, DeleteObject, ListObjects(V2), and multipart Create / UploadPart / Complete
 * (part ETags, order and the 5 MiB minimum checked; ETag `<md5 of the part MD5s>-<n>`) / Abort / ListParts.
 * Anything else is answered 501 NotImplemented rather than mistaken for a plain PUT or GET.
 *
 * On disk, under `dir`:
 *   LOCK                            the pid of the process serving the folder
 *   buckets/<bucket>/<sha256(key)>.json   an object's record; its atomic rename is the commit point
 *   buckets/<bucket>/<uuid>.data    the object's data: one file, or one per part of a multipart upload
 *   uploads/<id>/upload.json, <n>.json, <uuid>.data   multipart uploads in progress
 *   tmp/                            bodies being received (emptied on start)
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, mkdtemp, open as openFile, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import type { S3Upload } from './emulators.ts';

export interface DiskS3Options {
  /** Where objects live; a fresh temp folder, removed on close, when absent (tests, the in-memory runtime). */
  dir?: string;
  /** Loopback only. */
  host?: '127.0.0.1';
  /** 0 (the default): any free port. */
  port?: number;
  /** Called synchronously, before the response, for every object created (PUT, multipart completion). */
  onObjectCreated?: (upload: S3Upload) => void;
}

export interface DiskS3 {
  /** `http://127.0.0.1:<port>`, for a path-style S3 client. */
  endpoint: string;
  close(): Promise<void>;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;
const READ_CHUNK = 1 << 20;
const SPARE_BUFFERS = 16;

interface Segment {
  file: string;
  size: number;
}

interface StoredObject {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  lastModified: number;
  segments: Segment[];
}

interface Bucket {
  name: string;
  dir: string;
  created: number;
  objects: Map<string, StoredObject>;
  /** The keys in list order, so a listing page costs a binary search, not a sort of the bucket. */
  sorted: string[];
}

interface Part extends Segment {
  n: number;
  etag: string;
  lastModified: number;
}

interface MultipartUpload {
  id: string;
  bucket: string;
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  initiated: number;
  parts: Map<number, Part>;
}

const ERRORS = {
  BadDigest: [400, 'The Content-MD5 you specified did not match what we received.'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed object size.'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  InvalidArgument: [400, 'Invalid Argument'],
  InvalidBucketName: [400, 'The specified bucket is not valid.'],
  InvalidPart: [400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order. Parts must be ordered by part number.'],
  InvalidRange: [416, 'The requested range is not satisfiable'],
  InvalidURI: [400, "Couldn't parse the specified URI."],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema.'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.'],
  NoSuchBucket: [404, 'The specified bucket does not exist'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NoSuchUpload: [404, 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.'],
  NotImplemented: [501, 'A header you provided implies functionality that is not implemented.'],
} as const satisfies Record<string, readonly [number, string]>;
type ErrorCode = keyof typeof ERRORS;

class S3Error extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, detail?: string) {
    const [status, message] = ERRORS[code];
    super(detail ? `${message} (${detail})` : message);
    this.code = code;
    this.status = status;
  }
}

// Subresources this server does not serve: answered 501 so that, say, PutObjectTagging never overwrites the object.
const UNSUPPORTED = new Set(['acl', 'attributes', 'cors', 'delete', 'encryption', 'legal-hold', 'lifecycle', 'logging', 'notification', 'object-lock', 'policy', 'replication', 'restore', 'retention', 'select', 'tagging', 'torrent', 'versionId', 'versioning', 'versions', 'website']);
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);
const BUCKET_NAME = /^(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Folders served by a server of this process (a LOCK with our own pid is otherwise a leftover).
const servedHere = new Set<string>();

const xmlText = (s: string | number | boolean) => String(s).replace(/[<>&'"]/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`);
const el = (name: string, value: string | number | boolean) => `<${name}>${xmlText(value)}</${name}>`;
const recordName = (key: string) => `${createHash('sha256').update(key).digest('hex')}.json`;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function userMetadata(req: IncomingMessage): Record<string, string> {
  const m: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-amz-meta-') && v !== undefined) m[k.slice('x-amz-meta-'.length)] = String(v);
  return m;
}

/** The first index in `sorted` whose key is ≥ `key` (or > `key` when `after`). */
function searchSorted(sorted: string[], key: string, after = false): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key || (after && sorted[mid] === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Object files read through handles kept open (the last OPEN_FILES used): one positional read per piece of a GET
 * (READ_CHUNK at most), where a read stream opened, read and closed the file each time (a 1 GiB ingest's partitions make ~16,000
 * ranged GETs of ~110 KB of the chunks' 129 staged files; 9,000 such GETs, client and server in one process, spent
 * 5.7 of 36.8 busy seconds opening and closing, profiled). Written here because it is a few lines over fs.promises and no library keeps positional handles.
 */
function openFiles() {
  const OPEN_FILES = 64;
  const open = new Map<string, { handle: Promise<FileHandle>; users: number; gone?: boolean }>();
  const closeIfIdle = (path: string, entry: { handle: Promise<FileHandle>; users: number; gone?: boolean }) => {
    if (entry.users > 0 || !entry.gone) return Promise.resolve();
    if (open.get(path) === entry) open.delete(path);
    return entry.handle.then((h) => h.close()).catch(() => undefined);
  };
  return {
    /** Reads `length` bytes at `position` into the start of `into`; returns that part of it. */
    async read(path: string, position: number, length: number, into: Buffer): Promise<Buffer> {
      let entry = open.get(path);
      if (entry) open.delete(path); // re-inserted below: the map's order is its use
      else {
        entry = { handle: openFile(path, 'r'), users: 0 };
        entry.handle.catch(() => undefined);
      }
      open.set(path, entry);
      for (const [p, e] of open) {
        if (open.size <= OPEN_FILES) break;
        open.delete(p);
        e.gone = true;
        void closeIfIdle(p, e);
      }
      entry.users += 1;
      try {
        const handle = await entry.handle;
        const buffer = into.subarray(0, length);
        for (let read = 0; read < length; ) {
          const { bytesRead } = await handle.read(buffer, read, length - read, position + read);
          if (bytesRead === 0) throw new Error(`${path}: ${length - read} bytes short`);
          read += bytesRead;
        }
        return buffer;
      } catch (err) {
        if (open.get(path) === entry) entry.gone = true; // a failed open or read is not kept
        throw err;
      } finally {
        entry.users -= 1;
        void closeIfIdle(path, entry);
      }
    },
    /** Closes the file's handle (before it is removed) once its reads are done. */
    async forget(path: string): Promise<void> {
      const entry = open.get(path);
      if (!entry) return;
      entry.gone = true;
      open.delete(path);
      await closeIfIdle(path, entry);
    },
    async closeAll(): Promise<void> {
      const entries = [...open.entries()];
      open.clear();
      await Promise.all(entries.map(([p, e]) => ((e.gone = true), closeIfIdle(p, e))));
    },
  };
}

/** Writes `piece` to the response; settles once the socket has taken it (so its buffer may be read into again), or fails if the client goes away first. */
function taken(res: ServerResponse, piece: Buffer): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    const gone = () => reject(Object.assign(new Error('the client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    if (res.destroyed) return gone();
    res.once('close', gone);
    res.write(piece, (err) => {
      res.off('close', gone);
      if (err) reject(err);
      else resolve();
    });
  });
  done.catch(() => undefined); // the other buffer's write may fail while this one is awaited: its caller sees the first
  return done;
}

/** Runs tasks on the same key one after another (two PUTs of one key, a part and its upload's completion). */
function keyedQueue() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).then(task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/**
 * Decodes an aws-chunked body (`<hex size>[;chunk-signature=…]\r\n<data>\r\n … 0\r\n<trailers>\r\n\r\n`), the
 * framing the SDK and the CLI use to send a checksum after the data; the trailers are kept for that check.
 */
function awsChunkedDecoder(): { stream: Transform; trailers: Record<string, string> } {
  const trailers: Record<string, string> = {};
  let pending: Buffer = Buffer.alloc(0);
  let remaining = 0;
  let state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      try {
        while (pending.length) {
          if (state === 'data') {
            const n = Math.min(remaining, pending.length);
            this.push(pending.subarray(0, n));
            pending = pending.subarray(n);
            remaining -= n;
            if (remaining === 0) state = 'crlf';
            continue;
          }
          const eol = pending.indexOf('\r\n');
          if (state === 'done' || (eol < 0 && pending.length > 64 * 1024)) throw new S3Error('IncompleteBody', 'bad aws-chunked framing');
          if (eol < 0) break;
          const line = pending.subarray(0, eol).toString('latin1');
          pending = pending.subarray(eol + 2);
          if (state === 'crlf') {
            if (line !== '') throw new S3Error('IncompleteBody', 'bad aws-chunked framing');
            state = 'size';
          } else if (state === 'size') {
            const size = line.split(';')[0]!;
            if (!/^[0-9a-fA-F]+$/.test(size)) throw new S3Error('IncompleteBody', 'bad aws-chunked chunk size');
            remaining = Number.parseInt(size, 16);
            state = remaining === 0 ? 'trailer' : 'data';
          } else if (line === '') {
            state = 'done';
          } else {
            const colon = line.indexOf(':');
            trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          }
        }
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      callback(state === 'done' || (state === 'trailer' && !pending.length) ? null : new S3Error('IncompleteBody', 'aws-chunked body ended early'));
    },
  });
  return { stream, trailers };
}

/** Holds the folder for this process, or throws if a live process serves it (the message names the lock). */
async function lockFolder(root: string): Promise<void> {
  const path = join(root, 'LOCK');
  const locked = (pid: number) => new Error(`disk-s3: ${root} is locked by process ${pid} (remove ${path} if no such process serves it)`);
  if (servedHere.has(root)) throw locked(process.pid);
  try {
    await writeFile(path, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = Number(await readFile(path, 'utf8').catch(() => ''));
    // The emulator process of a runtime just killed exits within moments of its parent: wait for it, briefly.
    for (let waited = 0; holder > 0 && holder !== process.pid && isAlive(holder) && waited < 5000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    if (holder > 0 && holder !== process.pid && isAlive(holder)) throw locked(holder);
    await writeFile(path, String(process.pid)); // left by a process gone (killed, or crashed before close)
  }
  servedHere.add(root);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts the disk-backed S3 server and loads the objects and uploads already in `dir`.
 * @example
 * const s3 = await startDiskS3({ dir: '.sluice/s3', port: 4566, onObjectCreated: (u) => console.log(u.key, u.etag) });
 * const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials });
 * await s3.close();
 * @throws Error when another live process serves `dir` (its LOCK file), or the port is taken.
 */
export async function startDiskS3(options: DiskS3Options = {}): Promise<DiskS3> {
  const host = options.host ?? '127.0.0.1';
  const root = options.dir ? resolve(options.dir) : await mkdtemp(join(tmpdir(), 'sluice-s3-'));
  await mkdir(root, { recursive: true });
  await lockFolder(root);
  const release = async () => {
    servedHere.delete(root);
    await (options.dir ? rm(join(root, 'LOCK'), { force: true }) : rm(root, { recursive: true, force: true }));
  };
  try {
    const store = await openStore(root, options.onObjectCreated);
    const server = createServer((req, res) => store.serve(req, res));
    server.requestTimeout = 0; // a 1 GiB part over a slow client is not a stalled request
    server.keepAliveTimeout = 0; // idle connections stay open: one closed as the SDK reuses it fails with "socket hang up"
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(options.port ?? 0, host, () => ok());
    });
    let closing: Promise<void> | undefined;
    return {
      endpoint: `http://${host}:${(server.address() as AddressInfo).port}`,
      close: () =>
        (closing ??= (async () => {
          const closed = new Promise<void>((ok) => server.close(() => ok()));
          server.closeAllConnections();
          await closed;
          await store.settle();
          await release();
        })()),
    };
  } catch (err) {
    await release();
    throw err;
  }
}

async function openStore(root: string, onObjectCreated: DiskS3Options['onObjectCreated']) {
  const bucketsDir = join(root, 'buckets');
  const uploadsDir = join(root, 'uploads');
  const tmpDir = join(root, 'tmp');
  await rm(tmpDir, { recursive: true, force: true });
  await Promise.all([bucketsDir, uploadsDir, tmpDir].map((d) => mkdir(d, { recursive: true })));
  const buckets = new Map<string, Bucket>();
  for (const name of await readdir(bucketsDir)) buckets.set(name, await loadBucket(name));
  const uploads = new Map<string, MultipartUpload>();
  for (const id of await readdir(uploadsDir)) {
    const upload = await loadUpload(id);
    if (upload) uploads.set(id, upload);
  }
  const queue = keyedQueue();
  const inFlight = new Set<Promise<void>>();
  // Objects being read keep their files until the last reader is done, even once overwritten or deleted.
  const readers = new Map<StoredObject, number>();
  const retired = new Set<StoredObject>();
  const files = openFiles();
  /** Read buffers of finished GETs, for the next ones (a new pair per GET left ~30 MB to the collector under 12 concurrent GETs). */
  const spareBuffers: Buffer[] = [];
  let requests = 0;

  async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
    const t = join(tmpDir, `${randomUUID()}.json`);
    await writeFile(t, JSON.stringify(value));
    await rename(t, path);
  }

  async function loadBucket(name: string): Promise<Bucket> {
    const dir = join(bucketsDir, name);
    const files = await readdir(dir);
    const objects = new Map<string, StoredObject>();
    for (const f of files.filter((f) => f.endsWith('.json'))) {
      const o = JSON.parse(await readFile(join(dir, f), 'utf8')) as StoredObject;
      objects.set(o.key, o);
    }
    // Data a crash left without its record (stopped between the two renames, or before a retired file was removed).
    const used = new Set([...objects.values()].flatMap((o) => o.segments.map((s) => s.file)));
    await Promise.all(files.filter((f) => f.endsWith('.data') && !used.has(f)).map((f) => rm(join(dir, f), { force: true })));
    return { name, dir, created: (await stat(dir)).mtimeMs, objects, sorted: [...objects.keys()].sort() };
  }

  async function loadUpload(id: string): Promise<MultipartUpload | undefined> {
    const dir = join(uploadsDir, id);
    const files = await readdir(dir);
    const record = await readFile(join(dir, 'upload.json'), 'utf8').catch(() => undefined);
    if (!record) {
      await rm(dir, { recursive: true, force: true }); // created halfway
      return undefined;
    }
    const upload = { ...(JSON.parse(record) as Omit<MultipartUpload, 'parts'>), parts: new Map<number, Part>() };
    for (const f of files.filter((f) => /^\d+\.json$/.test(f))) {
      const part = JSON.parse(await readFile(join(dir, f), 'utf8')) as Part;
      if (files.includes(part.file)) upload.parts.set(part.n, part);
    }
    const used = new Set([...upload.parts.values()].map((p) => p.file));
    await Promise.all(files.filter((f) => f.endsWith('.data') && !used.has(f)).map((f) => rm(join(dir, f), { force: true })));
    return upload;
  }

  function bucketOf(name: string): Bucket {
    const b = buckets.get(name);
    if (!b) throw new S3Error('NoSuchBucket', name);
    return b;
  }

  function uploadOf(id: string | null, bucket: string, key: string): MultipartUpload {
    const u = id ? uploads.get(id) : undefined;
    if (!u || u.bucket !== bucket || u.key !== key) throw new S3Error('NoSuchUpload');
    return u;
  }

  function removeFiles(dir: string, segments: Segment[]): void {
    for (const s of segments) {
      const path = join(dir, s.file);
      void files.forget(path).then(() => rm(path, { force: true })).catch(() => undefined);
    }
  }

  function retire(bucket: Bucket, object: StoredObject): void {
    if (readers.has(object)) retired.add(object);
    else removeFiles(bucket.dir, object.segments);
  }

  function endRead(bucket: Bucket, object: StoredObject): void {
    const n = (readers.get(object) ?? 1) - 1;
    if (n > 0) {
      readers.set(object, n);
    } else {
      readers.delete(object);
      if (retired.delete(object)) removeFiles(bucket.dir, object.segments);
    }
  }

  /** Streams the request body (aws-chunked decoded) into a file under tmp/, checking what the client sent with it. */
  async function receive(req: IncomingMessage): Promise<Segment & { path: string; etag: string }> {
    const file = `${randomUUID()}.data`;
    const path = join(tmpDir, file);
    const md5 = createHash('md5');
    const chunked = /aws-chunked/.test(header(req, 'content-encoding') ?? '') || /^STREAMING-/.test(header(req, 'x-amz-content-sha256') ?? '');
    const decoder = chunked ? awsChunkedDecoder() : undefined;
    const wantsCrc = header(req, 'x-amz-checksum-crc32') !== undefined || /x-amz-checksum-crc32/i.test(header(req, 'x-amz-trailer') ?? '');
    let crc = 0;
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        if (wantsCrc) crc = crc32(chunk, crc);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await (decoder ? pipeline(req, decoder.stream, count, createWriteStream(path)) : pipeline(req, count, createWriteStream(path)));
      const digest = md5.digest();
      const decodedLength = header(req, 'x-amz-decoded-content-length');
      if (chunked && decodedLength !== undefined && Number(decodedLength) !== size) throw new S3Error('IncompleteBody', `${size} of ${decodedLength} bytes`);
      const md5Wanted = header(req, 'content-md5');
      if (md5Wanted !== undefined && md5Wanted !== digest.toString('base64')) throw new S3Error('BadDigest');
      const crcWanted = header(req, 'x-amz-checksum-crc32') ?? decoder?.trailers['x-amz-checksum-crc32'];
      const crcBytes = Buffer.alloc(4);
      crcBytes.writeUInt32BE(crc >>> 0);
      if (crcWanted !== undefined && crcWanted !== crcBytes.toString('base64')) throw new S3Error('BadDigest', 'the CRC32 checksum does not match');
      return { file, path, size, etag: digest.toString('hex') };
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
  }

  /** Makes the object visible (its record's rename), then retires the object it replaces and reports the new one. */
  async function publish(bucket: Bucket, object: StoredObject, multipart: boolean): Promise<void> {
    await queue(`object:${bucket.name}/${object.key}`, async () => {
      await writeJsonAtomic(join(bucket.dir, recordName(object.key)), object);
      const previous = bucket.objects.get(object.key);
      bucket.objects.set(object.key, object);
      if (previous) retire(bucket, previous);
      else bucket.sorted.splice(searchSorted(bucket.sorted, object.key), 0, object.key);
      onObjectCreated?.({ bucket: bucket.name, key: object.key, etag: object.etag, size: object.size, multipart });
    });
  }

  function sendXml(res: ServerResponse, status: number, body: string): void {
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
    res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  function sendEmpty(res: ServerResponse, status = 200, headers: Record<string, string> = {}): void {
    res.writeHead(status, headers);
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const q = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
    const slash = path.indexOf('/', 1);
    let bucketName: string;
    let key: string;
    try {
      bucketName = decodeURIComponent(slash < 0 ? path.slice(1) : path.slice(1, slash));
      key = slash < 0 ? '' : decodeURIComponent(path.slice(slash + 1));
    } catch {
      throw new S3Error('InvalidURI');
    }
    const method = req.method ?? 'GET';
    const unsupported = header(req, 'x-amz-copy-source') !== undefined ? 'copy' : [...q.keys()].find((k) => UNSUPPORTED.has(k) || (k === 'uploads' && !key) || (k === 'partNumber' && !q.has('uploadId')));
    if (unsupported !== undefined) throw new S3Error('NotImplemented', unsupported);

    if (!bucketName) {
      if (method !== 'GET') throw new S3Error('MethodNotAllowed');
      const list = [...buckets.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
      return sendXml(res, 200, `<ListAllMyBucketsResult><Owner><ID>local</ID></Owner><Buckets>${list.map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', new Date(b.created).toISOString())}</Bucket>`).join('')}</Buckets></ListAllMyBucketsResult>`);
    }
    if (!key) {
      if (method === 'PUT') return createBucket(bucketName, req, res);
      const bucket = bucketOf(bucketName);
      if (method === 'HEAD') return sendEmpty(res);
      if (method === 'GET' && q.has('location')) return sendXml(res, 200, '<LocationConstraint/>');
      if (method === 'GET') return list(bucket, q, res);
      throw new S3Error('NotImplemented', `${method} on a bucket`);
    }
    const bucket = bucketOf(bucketName);
    if (method === 'PUT' && q.has('uploadId')) return uploadPart(bucket, key, q, req, res);
    if (method === 'PUT') return putObject(bucket, key, req, res);
    if (method === 'POST' && q.has('uploads')) return createUpload(bucket, key, req, res);
    if (method === 'POST' && q.has('uploadId')) return completeUpload(bucket, key, q.get('uploadId'), req, res);
    if (method === 'DELETE' && q.has('uploadId')) return abortUpload(bucket, key, q.get('uploadId'), res);
    if (method === 'DELETE') return deleteObject(bucket, key, res);
    if (method === 'GET' && q.has('uploadId')) return listParts(bucket, key, q, res);
    if (method === 'GET' || method === 'HEAD') return getObject(bucket, key, req, res, method === 'HEAD');
    throw new S3Error('MethodNotAllowed');
  }

  async function createBucket(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // a CreateBucketConfiguration body says only the region
    // As S3 outside us-east-1: a second create is refused with BucketAlreadyOwnedByYou (callers treat it as done).
    if (buckets.has(name)) throw new S3Error('BucketAlreadyOwnedByYou', name);
    if (!BUCKET_NAME.test(name)) throw new S3Error('InvalidBucketName', name);
    const dir = join(bucketsDir, name);
    await mkdir(dir, { recursive: true });
    if (!buckets.has(name)) buckets.set(name, { name, dir, created: Date.now(), objects: new Map(), sorted: [] });
    sendEmpty(res, 200, { Location: `/${name}` });
  }

  async function putObject(bucket: Bucket, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await receive(req);
    await rename(body.path, join(bucket.dir, body.file));
    const object: StoredObject = {
      key,
      size: body.size,
      etag: body.etag,
      contentType: header(req, 'content-type') ?? 'binary/octet-stream',
      metadata: userMetadata(req),
      lastModified: Date.now(),
      segments: [{ file: body.file, size: body.size }],
    };
    await publish(bucket, object, false);
    sendEmpty(res, 200, { ETag: `"${object.etag}"` });
  }

  async function getObject(bucket: Bucket, key: string, req: IncomingMessage, res: ServerResponse, headOnly: boolean): Promise<void> {
    const object = bucket.objects.get(key);
    if (!object) throw new S3Error('NoSuchKey', key);
    res.setHeader('ETag', `"${object.etag}"`);
    res.setHeader('Last-Modified', new Date(object.lastModified).toUTCString());
    res.setHeader('Content-Type', object.contentType);
    res.setHeader('Accept-Ranges', 'bytes');
    for (const [k, v] of Object.entries(object.metadata)) res.setHeader(`x-amz-meta-${k}`, v);
    if (header(req, 'if-none-match') === `"${object.etag}"`) return sendEmpty(res, 304);
    let start = 0;
    let end = object.size - 1;
    let status = 200;
    const range = /^bytes=(\d*)-(\d*)$/.exec(header(req, 'range') ?? '');
    if (range && (range[1] || range[2])) {
      if (range[1] === '') start = Math.max(0, object.size - Number(range[2]));
      else start = Number(range[1]);
      if (range[1] !== '' && range[2] !== '') end = Math.min(end, Number(range[2]));
      // As S3: a range that starts past the end is refused; one that ends before it starts is ignored.
      if (start >= object.size || (range[1] === '' && range[2] === '0')) {
        res.setHeader('Content-Range', `bytes */${object.size}`);
        throw new S3Error('InvalidRange');
      }
      if (start <= end) {
        status = 206;
        res.setHeader('Content-Range', `bytes ${start}-${end}/${object.size}`);
      } else [start, end] = [0, object.size - 1];
    }
    res.setHeader('Content-Length', Math.max(0, end - start + 1));
    res.writeHead(status);
    if (headOnly || object.size === 0) return void res.end();
    readers.set(object, (readers.get(object) ?? 0) + 1);
    try {
      await sendSegments(bucket, object, start, end, res);
    } finally {
      endRead(bucket, object);
    }
  }

  /**
   * Sends bytes [start, end] of an object in READ_CHUNK pieces read into two buffers used in turn, each read into
   * again only once the socket has taken it. A read stream allocates a new buffer for every piece: a whole-file
   * GET of 1 GiB (an ingest's plan) left them to the collector faster than it ran, and the emulator process's RSS
   * rose ~40 MB (docs/benchmarks.md, Large files). Written here because no stream reuses its buffers.
   */
  async function sendSegments(bucket: Bucket, object: StoredObject, start: number, end: number, res: ServerResponse): Promise<void> {
    const buffers = [spareBuffers.pop() ?? Buffer.allocUnsafe(READ_CHUNK), spareBuffers.pop() ?? Buffer.allocUnsafe(READ_CHUNK)];
    const sent: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    let turn = 0;
    let offset = 0;
    for (const s of object.segments) {
      const to = Math.min(end, offset + s.size - 1);
      const path = join(bucket.dir, s.file);
      for (let from = Math.max(start, offset); from <= to; ) {
        const length = Math.min(READ_CHUNK, to - from + 1);
        await sent[turn];
        const piece = await files.read(path, from - offset, length, buffers[turn]!);
        sent[turn] = taken(res, piece);
        turn ^= 1;
        from += length;
      }
      offset += s.size;
    }
    await Promise.all(sent);
    res.end();
    // Kept for the next GET only when both were taken (a failed write may still hold its buffer).
    if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(...buffers);
  }

  async function deleteObject(bucket: Bucket, key: string, res: ServerResponse): Promise<void> {
    await queue(`object:${bucket.name}/${key}`, async () => {
      const object = bucket.objects.get(key);
      if (!object) return; // as S3: deleting a missing key succeeds
      await rm(join(bucket.dir, recordName(key)), { force: true });
      bucket.objects.delete(key);
      bucket.sorted.splice(searchSorted(bucket.sorted, key), 1);
      retire(bucket, object);
    });
    sendEmpty(res, 204);
  }

  function list(bucket: Bucket, q: URLSearchParams, res: ServerResponse): void {
    const v2 = q.get('list-type') === '2';
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeys = Math.min(1000, Math.max(0, Number(q.get('max-keys') ?? 1000) || 0));
    const token = q.get('continuation-token');
    const resumeAt = v2 ? (token ? Buffer.from(token, 'base64url').toString() : undefined) : q.get('marker') || undefined;
    const after = resumeAt ?? (v2 ? q.get('start-after') ?? '' : '');
    const urlEncoded = q.get('encoding-type') === 'url';
    const out = (s: string) => (urlEncoded ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    // A page that ended on a common prefix resumes after every key under it.
    const skipUnder = resumeAt !== undefined && delimiter && resumeAt.indexOf(delimiter, prefix.length) >= 0 ? resumeAt : undefined;
    const contents: StoredObject[] = [];
    const prefixes: string[] = [];
    let last = '';
    let truncated = false;
    for (let i = after >= prefix ? searchSorted(bucket.sorted, after, true) : searchSorted(bucket.sorted, prefix); i < bucket.sorted.length; i++) {
      const k = bucket.sorted[i]!;
      if (!k.startsWith(prefix)) break;
      if (skipUnder && k.startsWith(skipUnder)) continue;
      const at = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
      const common = at >= 0 ? k.slice(0, at + delimiter.length) : undefined;
      if (common !== undefined && common === prefixes.at(-1)) continue;
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (common !== undefined) prefixes.push(common);
      else contents.push(bucket.objects.get(k)!);
      last = common ?? k;
    }
    const page = [
      el('Name', bucket.name),
      el('Prefix', out(prefix)),
      v2 ? el('KeyCount', contents.length + prefixes.length) : el('Marker', out(q.get('marker') ?? '')),
      el('MaxKeys', maxKeys),
      delimiter ? el('Delimiter', out(delimiter)) : '',
      el('IsTruncated', truncated),
      urlEncoded ? el('EncodingType', 'url') : '',
      v2 && token ? el('ContinuationToken', token) : '',
      v2 && q.has('start-after') ? el('StartAfter', out(q.get('start-after')!)) : '',
      truncated ? (v2 ? el('NextContinuationToken', Buffer.from(last).toString('base64url')) : el('NextMarker', out(last))) : '',
      ...contents.map((o) => `<Contents>${el('Key', out(o.key))}${el('LastModified', new Date(o.lastModified).toISOString())}${el('ETag', `"${o.etag}"`)}${el('Size', o.size)}${el('StorageClass', 'STANDARD')}</Contents>`),
      ...prefixes.map((p) => `<CommonPrefixes>${el('Prefix', out(p))}</CommonPrefixes>`),
    ];
    sendXml(res, 200, `<ListBucketResult>${page.join('')}</ListBucketResult>`);
  }

  async function createUpload(bucket: Bucket, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const id = randomUUID().replaceAll('-', '');
    const upload: Omit<MultipartUpload, 'parts'> = {
      id,
      bucket: bucket.name,
      key,
      contentType: header(req, 'content-type') ?? 'binary/octet-stream',
      metadata: userMetadata(req),
      initiated: Date.now(),
    };
    await mkdir(join(uploadsDir, id));
    await writeJsonAtomic(join(uploadsDir, id, 'upload.json'), upload);
    uploads.set(id, { ...upload, parts: new Map() });
    sendXml(res, 200, `<InitiateMultipartUploadResult>${el('Bucket', bucket.name)}${el('Key', key)}${el('UploadId', id)}</InitiateMultipartUploadResult>`);
  }

  async function uploadPart(bucket: Bucket, key: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = q.get('uploadId');
    uploadOf(id, bucket.name, key);
    const n = Number(q.get('partNumber'));
    if (!Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) throw new S3Error('InvalidArgument', `partNumber must be an integer from 1 to ${MAX_PART_NUMBER}`);
    const body = await receive(req);
    await queue(`upload:${id}`, async () => {
      let upload: MultipartUpload;
      try {
        upload = uploadOf(id, bucket.name, key); // aborted or completed while the part was arriving
      } catch (err) {
        await rm(body.path, { force: true });
        throw err;
      }
      const dir = join(uploadsDir, upload.id);
      await rename(body.path, join(dir, body.file));
      const part: Part = { n, etag: body.etag, size: body.size, file: body.file, lastModified: Date.now() };
      await writeJsonAtomic(join(dir, `${n}.json`), part);
      const previous = upload.parts.get(n);
      upload.parts.set(n, part);
      if (previous) removeFiles(dir, [previous]);
    });
    sendEmpty(res, 200, { ETag: `"${body.etag}"` });
  }

  async function completeUpload(bucket: Bucket, key: string, id: string | null, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let xml = '';
    req.setEncoding('utf8');
    for await (const chunk of req) {
      xml += chunk;
      if (xml.length > 4 * 1024 * 1024) throw new S3Error('MalformedXML', 'the part list is too long');
    }
    const object = await queue(`upload:${id}`, async () => {
      const upload = uploadOf(id, bucket.name, key);
      const listed = [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map(([, p]) => ({
        n: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(p!)?.[1]),
        etag: (/<ETag>([\s\S]*?)<\/ETag>/.exec(p!)?.[1] ?? '').replace(/&quot;|&#34;|"/g, '').trim(),
      }));
      if (!listed.length) throw new S3Error('MalformedXML', 'no parts listed');
      // Every listed part is checked before any size, so a missing part is InvalidPart, whatever follows it.
      const parts = listed.map((spec, i) => {
        if (i > 0 && spec.n <= listed[i - 1]!.n) throw new S3Error('InvalidPartOrder');
        const part = upload.parts.get(spec.n);
        if (!part || part.etag !== spec.etag) throw new S3Error('InvalidPart', `part ${spec.n}`);
        return part;
      });
      const small = parts.slice(0, -1).find((p) => p.size < MIN_PART_SIZE);
      if (small) throw new S3Error('EntityTooSmall', `part ${small.n} is ${small.size} bytes`);
      // The parts become the object's segments where they are: a rename each, no copy of the data.
      const dir = join(uploadsDir, upload.id);
      for (const p of parts) await rename(join(dir, p.file), join(bucket.dir, p.file));
      const completed: StoredObject = {
        key,
        size: parts.reduce((sum, p) => sum + p.size, 0),
        etag: `${createHash('md5').update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex')))).digest('hex')}-${parts.length}`,
        contentType: upload.contentType,
        metadata: upload.metadata,
        lastModified: Date.now(),
        segments: parts.map((p) => ({ file: p.file, size: p.size })),
      };
      await publish(bucket, completed, true);
      uploads.delete(upload.id);
      await rm(dir, { recursive: true, force: true }); // with any part uploaded but not listed
      return completed;
    });
    sendXml(res, 200, `<CompleteMultipartUploadResult>${el('Location', `/${bucket.name}/${key}`)}${el('Bucket', bucket.name)}${el('Key', key)}${el('ETag', `"${object.etag}"`)}</CompleteMultipartUploadResult>`);
  }

  async function abortUpload(bucket: Bucket, key: string, id: string | null, res: ServerResponse): Promise<void> {
    await queue(`upload:${id}`, async () => {
      const upload = uploadOf(id, bucket.name, key);
      uploads.delete(upload.id);
      await rm(join(uploadsDir, upload.id), { recursive: true, force: true });
    });
    sendEmpty(res, 204);
  }

  function listParts(bucket: Bucket, key: string, q: URLSearchParams, res: ServerResponse): void {
    const upload = uploadOf(q.get('uploadId'), bucket.name, key);
    const marker = Number(q.get('part-number-marker') ?? 0) || 0;
    const maxParts = Math.min(1000, Number(q.get('max-parts') ?? 1000) || 1000);
    const all = [...upload.parts.values()].filter((p) => p.n > marker).sort((a, b) => a.n - b.n);
    const page = all.slice(0, maxParts);
    const truncated = all.length > page.length;
    const next = page.at(-1)?.n ?? marker;
    sendXml(
      res,
      200,
      `<ListPartsResult>${el('Bucket', bucket.name)}${el('Key', key)}${el('UploadId', upload.id)}${el('PartNumberMarker', marker)}${el('NextPartNumberMarker', next)}${el('MaxParts', maxParts)}${el('IsTruncated', truncated)}${page
        .map((p) => `<Part>${el('PartNumber', p.n)}${el('LastModified', new Date(p.lastModified).toISOString())}${el('ETag', `"${p.etag}"`)}${el('Size', p.size)}</Part>`)
        .join('')}</ListPartsResult>`,
    );
  }

  return {
    serve(req: IncomingMessage, res: ServerResponse): void {
      const requestId = (++requests).toString(16).toUpperCase().padStart(16, '0');
      res.setHeader('x-amz-request-id', requestId);
      const done: Promise<void> = handle(req, res)
        .catch((err: unknown) => {
          req.resume(); // an error before the body was read: drain it so the client gets the answer
          if (res.headersSent) return void res.destroy();
          const e = err instanceof S3Error ? err : new S3Error('InternalError', String((err as Error)?.message ?? err));
          // A client gone mid-request is no server error worth a line.
          if (!(err instanceof S3Error) && !CLIENT_GONE.has(String((err as NodeJS.ErrnoException)?.code))) process.stderr.write(`disk-s3: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}\n`);
          if (req.method === 'HEAD') return sendEmpty(res, e.status);
          sendXml(res, e.status, `<Error>${el('Code', e.code)}${el('Message', e.message)}${el('Resource', req.url ?? '')}${el('RequestId', requestId)}</Error>`);
        })
        .finally(() => inFlight.delete(done));
      inFlight.add(done);
    },
    /** Waits for the requests still being handled (their connections are already closed). */
    async settle(): Promise<void> {
      await Promise.allSettled([...inFlight]);
      await files.closeAll();
    },
  };
}
