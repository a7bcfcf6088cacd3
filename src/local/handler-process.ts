/**
 * A handler process: a runtime of its own, attached to the emulators of the runtime that started it, that
 * runs the event sources of some functions (as separate Lambda instances would), so the local pipeline
 * uses every core. Its logs go to the starting runtime's log stream; it stops on request.
 */
import { Writable } from 'node:stream';
import { listProfiles, loadProfile } from '../profiles/profile.ts';
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
  // As a warm instance has them: with a documents profile, the document readers are loaded now, in the background,
  // not on a drop's first documents (a deployed records-only function never loads them).
  // Best effort: a profile that does not load is reported where it is used, not here.
  if (options.functions?.some((f) => f === 'chunk' || f === 'enrich')) {
    void (async () => {
      if (listProfiles().some((p) => loadProfile(p).documents)) await (await import('../domain/documents/read-document.ts')).warmReaders();
    })().catch(() => undefined);
  }
  return { up: {}, stop: () => rt.stop() };
});
