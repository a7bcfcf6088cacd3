/**
 * Benchmarks as versioned data at run time, as profiles are (`src/profiles/registry.ts`): a pushed benchmark is a
 * content-addressed version in the config bucket, the active one recorded in the status table; the score and
 * improve functions read the active version (trusted for a TTL) instead of the copy in their bundle.
 * A version carries its judge prompt's text, so a new judge prompt needs no deploy either.
 */
import { type VersionRegistry, activate, trustedFor } from '../profiles/registry.ts';
import { type Benchmark, BenchmarkError, type BenchmarkData, loadBenchmark, parseBenchmark } from './benchmark.ts';

function bundled(name: string): Benchmark | undefined {
  try {
    return loadBenchmark(name);
  } catch (err) {
    if (err instanceof BenchmarkError && err.message.startsWith('unknown benchmark')) return undefined;
    throw err;
  }
}

/**
 * Validates a benchmark's data, stores it as a version and makes it the active one.
 * @throws BenchmarkError naming every problem; nothing is stored then.
 */
export async function pushBenchmark(reg: VersionRegistry, name: string, data: BenchmarkData, source: string, now = new Date()): Promise<{ version: string; outcome: 'activated' | 'unchanged'; previous: string | undefined; items: number }> {
  const b = parseBenchmark(name, data);
  const base = bundled(name);
  if (base && !(await reg.getActive('benchmark', name)) && base.version !== b.version) {
    // The bundled version is stored too the first time, so a rollback can return to it.
    await reg.putVersion('benchmark', name, { version: base.version, pushedAt: now.toISOString(), source: 'bundle' }, base.source);
  }
  await reg.putVersion('benchmark', name, { version: b.version, pushedAt: now.toISOString(), source }, data);
  const r = await activate(reg, 'benchmark', name, b.version, source, base?.version, now);
  return { version: b.version, ...r, items: b.items.length };
}

/** The active version of each benchmark, re-read after `ttlMs`; the bundled one when none was pushed. */
export function registryBenchmarks(reg: VersionRegistry, o: { ttlMs: number; now?: () => number }): (name: string) => Promise<Benchmark> {
  const pointer = trustedFor(async (name: string) => ({ version: (await reg.getActive('benchmark', name))?.version }), o);
  const versions = new Map<string, Benchmark>();
  return async (name) => {
    const p = await pointer(name);
    const base = bundled(name);
    if (!p.version || p.version === base?.version) {
      if (base) return base;
      return loadBenchmark(name); // throws the unknown benchmark's error
    }
    const key = `${name}@${p.version}`;
    let b = versions.get(key);
    if (!b) {
      const data = (await reg.getVersion('benchmark', name, p.version)) as BenchmarkData | undefined;
      if (!data) throw new BenchmarkError(`benchmark ${name} has no version ${p.version} in the registry`);
      versions.set(key, (b = parseBenchmark(name, data)));
    }
    return b;
  };
}
