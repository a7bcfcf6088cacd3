// Hand-written: dynalite reads its table's description from LevelDB on every request, and no option of its caches it.
/**
 * dynalite (the local DynamoDB) on disk reads the table's description (`table~<name>`) from LevelDB on every
 * GetItem, UpdateItem, Query and BatchGetItem: two thirds of its LevelDB reads, ~1.5 of its ~12 s of CPU in the
 * on-disk `npm run bench:pipeline` (profiled). Here the descriptions are kept in memory in front of LevelDB: read
 * once, forgotten whenever a write touches a table's description (create, update, delete) or could (a batch, a
 * clear), and not kept when a write overlapped the read. LevelDB stays the only truth: a restart reads it again.
 */

/** The parts of classic-level's ClassicLevel this wraps (dynalite's `level` dependency, pinned with it). */
export interface LevelPrototype {
  _get(key: unknown, options: { valueEncoding?: string }): Promise<unknown>;
  _put(key: unknown, value: unknown, options: unknown): Promise<void>;
  _del(key: unknown, options: unknown): Promise<void>;
  _batch(operations: Array<{ key: unknown }>, options: unknown): Promise<void>;
  _clear(options: unknown): Promise<void>;
}

const TABLE_PREFIX = 'table~';
const isTable = (key: unknown) => typeof key === 'string' && key.startsWith(TABLE_PREFIX);
const wrapped = new WeakMap<LevelPrototype, { reads: number }>();

/**
 * Caches the table descriptions dynalite reads through `proto` (ClassicLevel.prototype); call once before dynalite
 * opens its database. Returns how many description reads reached LevelDB (tests).
 * @example cacheTableDescriptions(ClassicLevel.prototype)
 */
export function cacheTableDescriptions(proto: LevelPrototype): { reads: () => number } {
  const known = wrapped.get(proto);
  if (known) return { reads: () => known.reads };
  const state = { reads: 0 };
  wrapped.set(proto, state);
  const cached = new WeakMap<object, Map<string, unknown>>();
  const cacheOf = (db: object) => cached.get(db) ?? cached.set(db, new Map()).get(db)!;
  // Table writes begun or ended, and those under way: a read that overlapped one may hold the older description.
  let writes = 0;
  let pending = 0;

  const get = proto._get;
  proto._get = async function (this: object, key, options) {
    if (!isTable(key)) return get.call(this, key, options);
    const k = `${options.valueEncoding}\u0000${key as string}`;
    const cache = cacheOf(this);
    if (cache.has(k)) return cache.get(k);
    const before = writes;
    state.reads += 1;
    const value = await get.call(this, key, options);
    if (writes === before && pending === 0) cache.set(k, value);
    return value;
  };

  const forgetAround = <A extends unknown[]>(write: (...args: A) => Promise<void>, touches: (...args: A) => boolean) =>
    async function (this: object, ...args: A): Promise<void> {
      if (!touches(...args)) return write.apply(this, args);
      writes += 1;
      pending += 1;
      cacheOf(this).clear();
      try {
        await write.apply(this, args);
      } finally {
        pending -= 1;
        writes += 1;
        cacheOf(this).clear();
      }
    };
  proto._put = forgetAround(proto._put, (key) => isTable(key));
  proto._del = forgetAround(proto._del, (key) => isTable(key));
  proto._batch = forgetAround(proto._batch, (operations) => operations.some((op) => isTable(op.key)));
  proto._clear = forgetAround(proto._clear, () => true);
  return { reads: () => state.reads };
}
