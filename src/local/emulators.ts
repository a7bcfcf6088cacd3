/**
 * The embedded AWS emulators, in this process and on loopback only: dynalite (DynamoDB) and fauxqs
 * (S3 + SQS). In memory for tests; on disk under a state folder for `npm start` and `sluice dev`, so a
 * restart keeps jobs, objects and queued messages.
 *
 * fauxqs's `startFauxqs` binds 0.0.0.0, so its stores and app are assembled here the same way and bound
 * to 127.0.0.1. Its stores are not in the package's export map, hence the file imports (fauxqs is pinned).
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import dynalite from 'dynalite';
import { buildApp } from 'fauxqs';

export interface S3Upload {
  bucket: string;
  key: string;
  etag: string;
  size: number;
  multipart: boolean;
}

export interface Emulators {
  endpoints: { s3: string; sqs: string; dynamodb: string };
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Folder for on-disk state; in memory when absent. */
  stateDir?: string;
  awsPort?: number;
  dynamodbPort?: number;
  /** Called synchronously for every object created in S3 (PUT, multipart completion, copy). */
  onObjectCreated?: (upload: S3Upload) => void;
}

const fauxqsDist = dirname(fileURLToPath(import.meta.resolve('fauxqs')));
const load = async (rel: string) => import(pathToFileURL(join(fauxqsDist, rel)).href);

interface StoredS3Object {
  etag: string;
  contentLength: number;
  partChecksums?: unknown;
}

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const [{ SqsStore }, { SnsStore }, { S3Store }, { PersistenceManager }] = await Promise.all([
    load('sqs/sqsStore.js'),
    load('sns/snsStore.js'),
    load('s3/s3Store.js'),
    load('persistence.js'),
  ]);
  const sqsStore = new SqsStore();
  const snsStore = new SnsStore();
  const s3Store = new S3Store();
  let persistence: { close(): void; load(a: unknown, b: unknown, c: unknown): void } | undefined;
  if (options.stateDir) {
    const dir = join(options.stateDir, 'fauxqs');
    mkdirSync(dir, { recursive: true });
    persistence = new PersistenceManager(dir);
    persistence!.load(sqsStore, snsStore, s3Store);
    sqsStore.persistence = persistence;
    snsStore.persistence = persistence;
    for (const queue of sqsStore.allQueues()) queue.persistence = persistence;
    s3Store.persistence = persistence;
  }
  // fauxqs reports every S3 write to its spy; this one turns uploads into S3 event notifications.
  s3Store.spy = {
    addMessage(event: { service: string; bucket: string; key: string; status: string }) {
      if (event.service !== 's3' || event.status !== 'uploaded' || !options.onObjectCreated) return;
      const obj = s3Store.buckets.get(event.bucket)?.get(event.key) as StoredS3Object | undefined;
      if (!obj) return;
      const etag = obj.etag.replace(/"/g, '');
      options.onObjectCreated({ bucket: event.bucket, key: event.key, etag, size: obj.contentLength, multipart: /-\d+$/.test(etag) });
    },
  };
  const app = buildApp({ logger: false, stores: { sqsStore, snsStore, s3Store } });
  if (persistence) app.addHook('preClose', () => persistence!.close());
  const awsAddress = await app.listen({ port: options.awsPort ?? 0, host: '127.0.0.1' });

  if (options.stateDir) mkdirSync(join(options.stateDir, 'dynamodb'), { recursive: true });
  const ddb: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.stateDir ? { path: join(options.stateDir, 'dynamodb') } : {}) });
  await new Promise<void>((resolve, reject) => {
    ddb.once('error', reject);
    ddb.listen(options.dynamodbPort ?? 0, '127.0.0.1', () => resolve());
  });
  const ddbPort = (ddb.address() as AddressInfo).port;
  const aws = awsAddress.replace('localhost', '127.0.0.1');
  return {
    endpoints: { s3: aws, sqs: aws, dynamodb: `http://127.0.0.1:${ddbPort}` },
    async stop() {
      await app.close();
      await new Promise<void>((resolve) => ddb.close(() => resolve()));
    },
  };
}
