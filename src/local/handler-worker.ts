/**
 * A handler thread: a runtime of its own, attached to the emulators of the runtime that started it, that
 * runs the event sources of some functions (as separate Lambda instances would), so the local pipeline
 * uses every core. Its logs go to the starting runtime's log stream; it stops on request.
 */
import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { type LocalRuntimeOptions, startLocalRuntime } from './runtime.ts';

export type HandlerWorkerMessage = { kind: 'up' } | { kind: 'failed'; message: string } | { kind: 'log'; text: string };

const port = parentPort!;
const post = (m: HandlerWorkerMessage) => port.postMessage(m);
const logStream = new Writable({
  write(chunk, _encoding, done) {
    post({ kind: 'log', text: String(chunk) });
    done();
  },
});
try {
  const rt = await startLocalRuntime({ ...(workerData as LocalRuntimeOptions), logStream, reconcile: false });
  port.on('message', async (m) => {
    if (m !== 'stop') return;
    await rt.stop();
    process.exit(0); // ends this thread only
  });
  post({ kind: 'up' });
} catch (err) {
  post({ kind: 'failed', message: (err as Error).stack ?? String(err) });
  port.close();
}
