/**
 * A handler process: a runtime of its own, attached to the emulators of the runtime that started it, that
 * runs the event sources of some functions (as separate Lambda instances would), so the local pipeline
 * uses every core. Its logs go to the starting runtime's log stream; it stops on request.
 */
import { Writable } from 'node:stream';
import { runHelper } from './child-process.ts';
import { type LocalRuntimeOptions, startLocalRuntime } from './runtime.ts';

runHelper<LocalRuntimeOptions, object, { kind: 'log'; text: string }>(async (options, send) => {
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      send({ kind: 'log', text: String(chunk) });
      done();
    },
  });
  const rt = await startLocalRuntime({ ...options, logStream, reconcile: false });
  return { up: {}, stop: () => rt.stop() };
});
