/**
 * The embedded AWS emulators, in this process and on loopback only: sluice's disk-backed S3 server
 * (`disk-s3.ts`), fauxqs (SQS) and dynalite (DynamoDB), each on its own port. In memory for tests (S3 in a
 * temp folder); on disk under a state folder for `npm start` and `sluice dev`, so a restart keeps jobs,
 * objects and queued messages.
 *
 * fauxqs's `startFauxqs` binds 0.0.0.0, so its stores and app are assembled here the same way and bound
 * to 127.0.0.1. Its stores are not in the package's export map, hence the file imports (fauxqs is pinned).
 * fauxqs serves S3 too, from memory; that store is left unused (S3 is the disk server) and not persisted.
 * On disk, fauxqs's ready messages are kept in its SQLite file only (`disk-sqs.ts`), not also on the heap.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startHelper } from './child-process.ts';
import { cacheExpressionParses, dynaliteParsers } from './dynalite-expressions.ts';
import { capOpenTableFiles, closeIteratorsOnReturn, dynaliteAbstractLevels, getInline } from './dynalite-iterators.ts';
import type { LevelPrototype } from './dynalite-tables.ts';

export interface S3Upload {
  bucket: string;
  key: string;
  etag: string;
  size: number;
  multipart: boolean;
}

export interface Emulators {
  endpoints: { s3: string; sqs: string; dynamodb: string };
  /** The emulators' process when they run in one of their own. */
  pid?: number;
  stop(): Promise<unknown>;
}

export interface EmulatorOptions {
  /** Folder for on-disk state; in memory when absent. */
  stateDir?: string;
  /** The S3 port (`sluice dev --port`); any free port when absent. */
  awsPort?: number;
  /** The SQS port; any free port when absent. */
  sqsPort?: number;
  dynamodbPort?: number;
  /** Called synchronously for every object created in S3 (PUT, multipart completion). */
  onObjectCreated?: (upload: S3Upload) => void;
}

/**
 * The emulator process's V8 flags: a young generation of at most 16 MB per semi-space, and an old generation grown
 * by 30 % past what a full collection leaves (`--heap-growing-percent`; V8 grows it by up to 4× when collections
 * are cheap, which they are here: ~25 MB live). Every request's garbage passes through this process: with V8's
 * default young generation its RSS after a 1 GiB ingest was ~70 MB higher; with the old generation's growth
 * capped, the on-disk pipeline of 10,000 notes peaks at 204–211 MB instead of 278–291, no slower, and a 1 GiB
 * ingest at 173–185 instead of 233–248 (docs/benchmarks.md, Large files).
 * `--optimize-for-size` held the heap under 30 MB but cost the pipeline ~10 more core-seconds per 10,000 notes.
 * `--expose-gc` lets it collect the request bodies and file reads it passes on as they pile up (`collectBuffersEvery`).
 * At 8 MB per semi-space and a collection per 16 MB of dead buffers, its collector ran ~300 times in a 10,000-note
 * pipeline (~1 s); at 16 MB and 64 MB, its CPU in that run fell from 9.6–11.4 s to 8.1–10.6 s (three pairs, side by
 * side), its peak there rose from 152–168 to 175–182 MB, and a 1 GiB ingest's peak stayed at ~150 MB (one run).
 */
export const EMULATOR_PROCESS_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=30', '--expose-gc'];

/**
 * Starts the emulators in a process of their own, so their memory (dynalite's, fauxqs's messages) is not the
 * handlers' and they take a core of their own; `onObjectCreated` is called here as each upload's notice arrives.
 * The process exits when this one does, killed or not.
 * @example const emu = await startEmulatorsInProcess({ stateDir: '.sluice' }); await emu.stop();
 * @throws Error (with the original's message and code) when an emulator cannot start.
 */
export async function startEmulatorsInProcess(options: EmulatorOptions = {}): Promise<Emulators> {
  const { onObjectCreated, ...rest } = options;
  const { helper, up } = await startHelper<{ endpoints: Emulators['endpoints'] }, { kind: 'created'; upload: S3Upload }>(
    new URL('./emulator-process.ts', import.meta.url),
    rest,
    (m) => onObjectCreated?.(m.upload),
    'emulator',
    { nodeFlags: EMULATOR_PROCESS_FLAGS },
  );
  return { endpoints: up.endpoints, pid: helper.pid, stop: () => helper.stop() };
}

const fauxqsDist = dirname(fileURLToPath(import.meta.resolve('fauxqs')));
const load = async (rel: string) => import(pathToFileURL(join(fauxqsDist, rel)).href);

/**
 * Starts the three emulators; if one fails to start, those already up are stopped.
 * @example const emu = await startEmulators({ stateDir: '.sluice', awsPort: 4566 }); emu.endpoints.s3; await emu.stop();
 * @throws Error when a port is taken or another process serves the state folder.
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of [...stops].reverse()) await stop();
  };
  try {
    // The emulators' modules load where they run (the emulator process), not in the process that only starts it.
    const [{ startDiskS3 }, { keepReadyMessagesOnDisk, commitBeforeEachReply }, { cacheTableDescriptions }, { buildApp }, { default: dynalite }] = await Promise.all([
      import('./disk-s3.ts'),
      import('./disk-sqs.ts'),
      import('./dynalite-tables.ts'),
      import('fauxqs'),
      import('dynalite'),
    ]);
    // S3 first: its folder lock tells at once when another process serves this state folder.
    const s3 = await startDiskS3({
      dir: options.stateDir ? join(options.stateDir, 's3') : undefined,
      port: options.awsPort ?? 0,
      onObjectCreated: options.onObjectCreated,
    });
    stops.push(() => s3.close());

    const [{ SqsStore }, { SnsStore }, { S3Store }, { PersistenceManager }] = await Promise.all([
      load('sqs/sqsStore.js'),
      load('sns/snsStore.js'),
      load('s3/s3Store.js'),
      load('persistence.js'),
    ]);
    const sqsStore = new SqsStore();
    const snsStore = new SnsStore();
    let persistence: { close(): void; loadSqsAndSns(sqs: unknown, sns: unknown): void; db: { exec(sql: string): void } } | undefined;
    if (options.stateDir) {
      const dir = join(options.stateDir, 'fauxqs');
      mkdirSync(dir, { recursive: true });
      persistence = new PersistenceManager(dir);
      // fauxqs writes every message through to SQLite in WAL mode with synchronous=FULL: an fsync per message
      // (28 s of 85,000 group messages for a 100 MiB file). NORMAL keeps every commit across a kill -9 (the WAL
      // is written before the call returns); only an OS crash could lose the last ones.
      persistence!.db.exec('PRAGMA synchronous = NORMAL');
      keepReadyMessagesOnDisk(sqsStore, persistence as never);
      persistence!.loadSqsAndSns(sqsStore, snsStore);
      sqsStore.persistence = persistence;
      snsStore.persistence = persistence;
      for (const queue of sqsStore.allQueues()) queue.persistence = persistence;
    }
    const app = buildApp({ logger: false, stores: { sqsStore, snsStore, s3Store: new S3Store() } });
    if (persistence) {
      let commit = () => {};
      commitBeforeEachReply(persistence as never, (c) => {
        commit = c;
        app.addHook('onSend', async (_request, _reply, payload) => {
          commit();
          return payload;
        });
      });
      app.addHook('preClose', () => {
        commit();
        persistence!.close();
      });
    }
    const sqsAddress = await app.listen({ port: options.sqsPort ?? 0, host: '127.0.0.1' });
    app.server.keepAliveTimeout = 0; // see below
    stops.push(() => app.close());

    if (options.stateDir) {
      mkdirSync(join(options.stateDir, 'dynamodb'), { recursive: true });
      // The LevelDB class dynalite opens on disk: its own `level` dependency, resolved from where dynalite is.
      const { Level } = createRequire(import.meta.resolve('dynalite'))('level') as { Level: { prototype: LevelPrototype } };
      // Reads inline first: the table descriptions' cache reads through it.
      getInline(Level.prototype as never);
      cacheTableDescriptions(Level.prototype);
      // At most 64 table files open (and mapped into this process) at once, not classic-level's 1,000.
      capOpenTableFiles(Level.prototype as never, 64);
    }
    // dynalite's Query and Scan iterators, closed when their streams end (see dynalite-iterators.ts).
    closeIteratorsOnReturn(dynaliteAbstractLevels());
    // Its expressions parsed once per shape, not per request (see dynalite-expressions.ts).
    cacheExpressionParses(dynaliteParsers());
    const ddb: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.stateDir ? { path: join(options.stateDir, 'dynamodb') } : {}) });
    // An idle keep-alive connection is never closed by the emulators (Node's default closes it after 5 s): the SDK
    // reuses idle sockets, and one closed as it is reused fails its call with "socket hang up" — under load, past the
    // SDK's retries, a message retried after the visibility timeout (a decide batch held 20 s at the end of a run).
    ddb.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      ddb.once('error', reject);
      ddb.listen(options.dynamodbPort ?? 0, '127.0.0.1', () => resolve());
    });
    stops.push(() => new Promise<void>((resolve) => ddb.close(() => resolve())));

    return {
      endpoints: { s3: s3.endpoint, sqs: sqsAddress.replace('localhost', '127.0.0.1'), dynamodb: `http://127.0.0.1:${(ddb.address() as AddressInfo).port}` },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
