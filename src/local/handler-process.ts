/**
 * A handler process: a runtime of its own, attached to the emulators of the runtime that started it, that
 * runs the event sources of some functions (as separate Lambda instances would), so the local pipeline
 * uses every core. Its logs go to the starting runtime's log stream; it stops on request.
 */
import { Writable } from 'node:stream';
import { loadEntityModel } from '../domain/enrich/extractors.ts';
import { listProfiles, loadProfile } from '../profiles/profile.ts';
import { runHelper } from './child-process.ts';
import { type LocalRuntimeOptions, startLocalRuntime } from './runtime.ts';

/** How often a handler process reads its RSS against its ceiling. */
const RSS_CHECK_MS = 250;

runHelper<LocalRuntimeOptions, object, { kind: 'log'; text: string }>(async (options, send, retire) => {
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      send({ kind: 'log', text: String(chunk) });
      done();
    },
  });
  // It retires (no more messages nor reconciler passes, those in hand finished, then a fresh process; a retirement under way makes
  // the later calls no-ops) at its memory ceiling, or after a scan of a large file (`handlerRetireAfterScanMb`).
  const retireFor = (reason: string) => void retire(() => Promise.all([...Object.values(rt.eventSources).map((source) => source.drain()), rt.stopReconciling()]), reason);
  const afterScanMb = options.handlerRetireAfterScanMb ?? 0;
  const scanned = (bytes: number) => {
    if (afterScanMb > 0 && bytes >= afterScanMb * 1024 * 1024) retireFor(`after a scan of ${bytes} bytes`);
  };
  const rt = await startLocalRuntime({ ...options, logStream, reconcile: options.reconcile ?? false, scanned });
  // As a warm instance has them: with a documents profile, the document readers are loaded before the process is
  // up (its init), not on a drop's first documents nor beside a run's first batches (~0.3 s of CPU each process,
  // measured); a deployed records-only function never loads them.
  // Best effort: a profile that does not load is reported where it is used, not here.
  if (options.functions?.some((f) => f === 'chunk' || f === 'enrich')) {
    await (async () => {
      if (listProfiles().some((p) => loadProfile(p).documents)) await (await import('../domain/documents/read-document.ts')).warmReaders();
    })().catch(() => undefined);
  }
  // Likewise the NER model where the process enriches (~0.55 s of CPU, as an enrich instance's init); one that only
  // ingests never loads it (~31 MB less under its memory ceiling, measured).
  if (options.functions?.includes('enrich')) await loadEntityModel();
  const ceiling = options.handlerMaxRssMb ?? 0;
  const watch =
    ceiling > 0
      ? setInterval(() => {
          if (process.memoryUsage.rss() >= ceiling * 1024 * 1024) retireFor(`at its memory ceiling of ${ceiling} MB`);
        }, RSS_CHECK_MS).unref()
      : undefined;
  return {
    up: {},
    stop: () => {
      clearInterval(watch);
      return rt.stop();
    },
  };
});
