// Hand-written: dynalite 4 closes its Query and Scan iterators with `return()`, which abstract-level 3's iterators lack; no option of either mends it.
/**
 * dynalite (4.0) reads a Query or a Scan through a stream over a LevelDB iterator and, when the stream ends or is
 * destroyed, closes the iterator with `iterator.return()` — a method abstract-level 3's iterators do not have
 * (theirs is `close()`), so no iterator it opened was ever closed. Each open iterator pins the LevelDB version it
 * started on: the table files compacted away stay on disk and mapped into the process, its memtables stay in
 * memory, and the iterator itself stays in the database's set of open resources. A 20 MiB file run to its end left
 * 754 MB of LevelDB files for ~60 MB live and an emulator process of 1.35 GB. This gives the iterators a
 * `return()` that closes them, once, before dynalite opens its database (on disk or in memory).
 */
import { createRequire } from 'node:module';

interface IteratorClass {
  prototype: { return?: () => Promise<void>; close(): Promise<void> };
}
interface AbstractLevelModule {
  AbstractIterator: IteratorClass;
  AbstractKeyIterator: IteratorClass;
  AbstractValueIterator: IteratorClass;
}

/** abstract-level as dynalite's LevelDB (`level` → classic-level) and in-memory (`memory-level`) databases load it. */
export function dynaliteAbstractLevels(): AbstractLevelModule[] {
  const fromDynalite = createRequire(import.meta.resolve('dynalite'));
  const fromLevel = createRequire(fromDynalite.resolve('level'));
  const modules = [createRequire(fromLevel.resolve('classic-level')), createRequire(fromDynalite.resolve('memory-level'))].map((req) => req('abstract-level') as AbstractLevelModule);
  return [...new Set(modules)];
}

/**
 * Gives abstract-level's iterators a `return()` that closes them (as an async iterator's), where they have none.
 * @example closeIteratorsOnReturn(dynaliteAbstractLevels())
 */
export function closeIteratorsOnReturn(modules: AbstractLevelModule[]): void {
  for (const m of modules) {
    for (const C of [m.AbstractIterator, m.AbstractKeyIterator, m.AbstractValueIterator]) {
      C.prototype.return ??= function (this: { close(): Promise<void> }) {
        return this.close();
      };
    }
  }
}

const capped = Symbol('sluice.maxOpenFiles');

/**
 * Opens dynalite's LevelDB with at most `files` table files open (classic-level's default is 1,000). LevelDB maps
 * each open table file into the process, and the pages read count in its RSS: a job's group items run to hundreds
 * of MB of table files, so the cap is what bounds the mapped share.
 */
export function capOpenTableFiles(proto: { _open(options: Record<string, unknown>): Promise<void>; [capped]?: number }, files: number): void {
  if (proto[capped] !== undefined) return;
  proto[capped] = files;
  const open = proto._open;
  proto._open = function (this: unknown, options: Record<string, unknown>) {
    return open.call(this, { ...options, maxOpenFiles: files });
  };
}

const inline = Symbol('sluice.getInline');

/**
 * dynalite's LevelDB reads through classic-level's synchronous get. The asynchronous one queues a worker and a
 * promise per read, ~0.15 ms of the emulator's thread each, while LevelDB answers from its block cache or the page
 * cache in microseconds: 5,000 UpdateItems (each reads its item first) took 3.5-3.7 s of the emulator's CPU inline
 * against 4.0-4.3 s queued (measured). Writes stay asynchronous.
 */
export function getInline(proto: { _get(key: unknown, options: unknown): Promise<unknown>; _getSync(key: unknown, options: unknown): unknown; [inline]?: true }): void {
  if (proto[inline]) return;
  proto[inline] = true;
  proto._get = async function (this: { _getSync(key: unknown, options: unknown): unknown }, key, options) {
    return this._getSync(key, options);
  };
}
