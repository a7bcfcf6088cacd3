/**
 * The local runtime's helper processes (the emulators, handler instances): each a Node process of its own, as
 * separate Lambda instances and AWS's services are, so no process holds the others' memory and every core works.
 * A helper exits as soon as the process that started it is gone (stopped or killed), so nothing is orphaned;
 * its command line names that process (`--sluice-helper-of=PID`), so a check can tell.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';

/**
 * glibc's malloc settings for a helper (a user's own, in the environment, win): at most two arenas, and every
 * allocation of 128 KiB or more mapped on its own and unmapped when freed. By default glibc raises that threshold
 * to the largest block freed so far (up to 32 MiB), so a step's large buffers (a chunk's staged bytes, a
 * partition's records) were carved from the main heap and kept there after, and each thread (libuv's pool,
 * LevelDB's, SQLite's) grew an arena of its own: ~90 MB of an emulator process's 240 MB RSS and ~100 MB of a
 * handler process's 340 MB during a 1 GiB job were malloc's, against ~55 MB of V8 heap in the emulators (read from
 * /proc/PID/smaps and process.memoryUsage()). With these, a 100 MiB ingest peaked at 137-138 MB in the emulator
 * process against 148-151 and at 251-278 MB in the handler processes against 279-285, no slower (two runs each,
 * alternated; docs/benchmarks.md, Large files).
 */
export const HELPER_MALLOC = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/**
 * Node's module compile cache for a helper, in Node's own default folder (a user's NODE_COMPILE_CACHE, or
 * NODE_DISABLE_COMPILE_CACHE, wins): a handler process compiles its TypeScript and packages at every start, and
 * starts again at every replacement; with V8's code cache on disk one took 1.6 s of CPU to come up against 2.0 s.
 */
export const HELPER_COMPILE_CACHE = { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache') };

/** Dead buffers a helper lets pile up before it collects them (`collectBuffersEvery`). */
const BUFFER_GARBAGE_BYTES = 64 * 1024 * 1024;

/** What every helper tells the process that started it: up, failed to start, or something of its own. */
export type HelperMessage<Up, Other> = ({ kind: 'up' } & Up) | { kind: 'failed'; message: string; code?: string } | Other;

export interface Helper {
  pid: number;
  /** Asks the helper to stop and waits for its exit (with its peak RSS in MB). */
  stop(): Promise<{ peakRssMb?: number }>;
}

/** How a helper runs and what its starter hears of its end. */
export interface HelperOptions {
  /** Node's flags for the helper (execArgv is not inherited). */
  nodeFlags?: string[];
  /** It exited unasked after it was up (killed, out of memory, a crash). */
  onLost?: (exit: { code: number | null; signal: NodeJS.Signals | null }) => void;
  /**
   * It retires on its own (`retire` in `runHelper`), for `reason`: `exited` resolves with its peak RSS once it is
   * gone.
   */
  onRetiring?: (exited: Promise<{ peakRssMb?: number }>, reason: string) => void;
}

/**
 * Forks `module` with `init` as its first message and resolves when it reports `up`; `onLost` hears of its exit
 * if it dies afterwards unasked, `onRetiring` of its retiring on its own.
 * @example const { helper, up } = await startHelper(new URL('./emulator-process.ts', import.meta.url), options, onOther, 'emulator');
 * @throws Error with the helper's own message (and code) when it fails or exits while starting.
 */
export async function startHelper<Up extends object, Other extends { kind: string }>(
  module: URL,
  init: unknown,
  onOther: (m: Other) => void,
  what: string,
  { nodeFlags = [], onLost, onRetiring }: HelperOptions = {},
): Promise<{ helper: Helper; up: Up }> {
  // execArgv is not inherited: a test runner's loaders and flags are not the helper's; `nodeFlags` are its own.
  const child: ChildProcess = fork(module, [`--sluice-helper-of=${process.pid}`], { serialization: 'advanced', execArgv: nodeFlags, env: { ...HELPER_MALLOC, ...HELPER_COMPILE_CACHE, ...process.env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let peakRssMb: number | undefined;
  let stopping = false;
  let started = false;
  let killedBy: NodeJS.Signals | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      killedBy = signal;
      // Up, and not asked to stop: it died (killed, out of memory, a crash).
      if (started && !stopping) onLost?.({ code, signal });
      resolve();
    }),
  );
  const up = await new Promise<Up>((resolve, reject) => {
    child.on('message', (m: HelperMessage<Up, Other | { kind: 'stopped'; peakRssMb: number } | { kind: 'retiring'; reason: string }>) => {
      if (m.kind === 'up') resolve(m as Up);
      else if (m.kind === 'retiring') {
        // Its exit is expected now: not a death.
        stopping = true;
        onRetiring?.(exited.then(() => ({ peakRssMb })), (m as { reason: string }).reason);
      } else if (m.kind === 'failed') reject(Object.assign(new Error((m as { message: string }).message), { code: (m as { code?: string }).code }));
      else if (m.kind === 'stopped') peakRssMb = (m as { peakRssMb: number }).peakRssMb;
      else onOther(m as Other);
    });
    child.once('error', reject);
    // `signal`: killed (kill -9, out of memory) rather than failed by its own code.
    void exited.then(() => reject(Object.assign(new Error(`the ${what} process exited while starting${killedBy ? ` (${killedBy})` : ''}`), { signal: killedBy })));
    child.send(init as object);
  });
  started = true;
  return {
    up,
    helper: {
      pid: child.pid!,
      async stop() {
        stopping = true;
        if (child.connected) child.send('stop');
        await exited;
        return { peakRssMb };
      },
    },
  };
}

/**
 * Starts a young-generation collection whenever the process's memory outside V8's heap (buffers: request and
 * response bodies, file reads) has grown by `bytes` since the last one, if the process may (`--expose-gc`, as the
 * emulator process runs). V8 times its collections by what its own heap allocates, not by those buffers: a process
 * that moves bodies through held tens of MB of them dead (heaptrack of the emulator process in a 1 GiB ingest: 54
 * of its 70 MB peak of native memory). The handler processes run without: it made no difference to their peaks.
 * Returns a function that stops it.
 */
export function collectBuffersEvery(bytes: number, everyMs = 100): () => void {
  const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
  if (!gc) return () => undefined;
  const external = () => getHeapStatistics().external_memory;
  let base = external();
  const timer = setInterval(() => {
    const now = external();
    if (now < base) base = now;
    else if (now - base > bytes) {
      gc({ type: 'minor' });
      base = external();
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Lets a helper retire on its own: tells its starter why (which may start another at once), runs `finish` (the
 * work in hand), then stops as on request. Only the first call counts.
 */
export type Retire = (finish: () => Promise<unknown>, reason: string) => Promise<void>;

/**
 * The helper's side: waits for its init message, runs `start`, reports `up` (or `failed`), stops on request or
 * when it retires (reporting its peak RSS), and exits at once when its parent is gone.
 */
export function runHelper<Init, Up extends object, Other>(start: (init: Init, send: (m: Other) => void, retire: Retire) => Promise<{ up: Up; stop(): Promise<unknown> }>): void {
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  // The starting process died (kill -9, a crash point) or stopped: this helper dies with it, as a crash would.
  process.on('disconnect', () => process.exit(0));
  let running: { stop(): Promise<unknown> } | undefined;
  let ending = false;
  const end = async () => {
    await running!.stop();
    process.send!({ kind: 'stopped', peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }, () => process.exit(0));
  };
  const retire: Retire = async (finish, reason) => {
    if (ending || !running) return;
    ending = true;
    send({ kind: 'retiring', reason });
    await finish();
    await end();
  };
  process.once('message', async (init: Init) => {
    try {
      const started = await start(init, send, retire);
      running = started;
      collectBuffersEvery(BUFFER_GARBAGE_BYTES);
      process.on('message', async (m) => {
        if (m !== 'stop') return;
        // Retiring already: its own end reports and exits.
        if (ending) return;
        ending = true;
        await end();
      });
      send({ kind: 'up', ...started.up });
    } catch (err) {
      process.send!({ kind: 'failed', message: (err as Error).message ?? String(err), code: (err as { code?: string }).code }, () => process.exit(1));
    }
  });
}
