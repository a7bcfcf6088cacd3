/**
 * Profiles and benchmarks as versioned data at run time. A version is immutable and named by its content
 * (`profileVersion`); deployed, versions live in the config bucket and the active version of each name in
 * the status table (`src/adapters/profile-registry.ts`), so changing a profile needs no deploy. The copy in
 * the bundle (or the repository) is the base: a name with no active version recorded runs its bundled data.
 *
 * Crash between any two writes: a version's object is written before its listing and both are idempotent
 * (same content, same key); activation is one conditional write that names the version it replaces, so two
 * activations never interleave and a retried one changes nothing twice.
 */
import { createHash } from 'node:crypto';
import type { Profile, ProfileData } from './profile.ts';
import { UnknownProfileError, compileProfile, listProfiles, loadProfile, profileVersion } from './profile.ts';

export type { ProfileData };

export type VersionKind = 'profile' | 'benchmark';

export interface VersionMeta {
  version: string;
  pushedAt: string;
  /** Who made it: `push`, `bundle`, `improve <run>`. */
  source: string;
}

export interface ActiveRecord {
  version: string;
  /** The versions active before, newest first (what `rollback` goes back to). */
  history: string[];
  activatedAt: string;
  source: string;
  /** A candidate run in shadow on a share of the groups (seed 003): decided beside the active one, never served. */
  shadow?: ShadowSetting;
}

export interface ShadowSetting {
  version: string;
  /** The share of groups (0-1] that also get the candidate's decision, chosen by a hash of job and group. */
  share: number;
}

/** Where versions and active pointers are kept; the adapter is the config bucket and the status table. */
export interface VersionRegistry {
  putVersion(kind: VersionKind, name: string, meta: VersionMeta, data: unknown): Promise<void>;
  getVersion(kind: VersionKind, name: string, version: string): Promise<unknown | undefined>;
  listVersions(kind: VersionKind, name: string): Promise<VersionMeta[]>;
  getActive(kind: VersionKind, name: string): Promise<ActiveRecord | undefined>;
  /** Records `next` as active if the active version is still `expected` (undefined: none recorded yet). */
  setActive(kind: VersionKind, name: string, next: ActiveRecord, expected: string | undefined): Promise<'applied' | 'conflict'>;
}

/** A benchmark version's name: the content hash of its files (config and items), as a profile's. */
export function benchmarkVersion(data: unknown): string {
  return `b-${createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 12)}`;
}

/** The version a registry does not hold (a job pinned to it, or an activation of a version never pushed). */
export class UnknownVersionError extends Error {
  override name = 'UnknownVersionError';
}

/** Nothing to roll back to, or a version that cannot be activated: a refusal with its reason. */
export class RegistryRefusal extends Error {
  override name = 'RegistryRefusal';
}

const HISTORY = 20;

/**
 * Makes `version` the active one, replacing whatever is active now (the bundled base when nothing is).
 * @returns 'unchanged' when it is already active.
 * @throws UnknownVersionError when the registry does not hold it.
 */
export async function activate(reg: VersionRegistry, kind: VersionKind, name: string, version: string, source: string, base?: string, now = new Date()): Promise<{ outcome: 'activated' | 'unchanged'; previous: string | undefined }> {
  if (version !== base && (await reg.getVersion(kind, name, version)) === undefined) {
    throw new UnknownVersionError(`${kind} ${name} has no version ${version} (see \`sluice ${kind} list ${name}\`)`);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await reg.getActive(kind, name);
    const previous = current?.version ?? base;
    if (previous === version) return { outcome: 'unchanged', previous };
    const history = [...(previous ? [previous] : []), ...(current?.history ?? [])].slice(0, HISTORY);
    // A shadow of the version now active has nothing left to compare; any other shadow goes on.
    const shadow = current?.shadow && current.shadow.version !== version ? { shadow: current.shadow } : {};
    const next = { version, history, activatedAt: now.toISOString(), source, ...shadow };
    if ((await reg.setActive(kind, name, next, current?.version)) === 'applied') return { outcome: 'activated', previous };
  }
  throw new Error(`${kind} ${name}: the active version kept changing while activating ${version}; try again`);
}

/** Goes back to the version active before the current one. */
export async function rollback(reg: VersionRegistry, kind: VersionKind, name: string, source: string, now = new Date()): Promise<{ from: string; to: string }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await reg.getActive(kind, name);
    const to = current?.history[0];
    if (!current || !to) throw new RegistryRefusal(`${kind} ${name}: nothing to roll back to (${current ? 'no earlier version was active' : 'no version was ever activated; the bundled one runs'})`);
    const next = { version: to, history: current.history.slice(1), activatedAt: now.toISOString(), source, ...(current.shadow ? { shadow: current.shadow } : {}) };
    if ((await reg.setActive(kind, name, next, current.version)) === 'applied') return { from: current.version, to };
  }
  throw new Error(`${kind} ${name}: the active version kept changing during the rollback; try again`);
}

/**
 * Runs `shadow` beside the active version (or stops shadowing, with undefined). The active version is unchanged.
 * @throws UnknownVersionError when the registry does not hold the shadow version.
 */
export async function setShadow(reg: VersionRegistry, name: string, shadow: ShadowSetting | undefined, base: string | undefined, now = new Date()): Promise<void> {
  if (shadow && (await reg.getVersion('profile', name, shadow.version)) === undefined) {
    throw new UnknownVersionError(`profile ${name} has no version ${shadow.version} (see \`sluice profile list ${name}\`)`);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await reg.getActive('profile', name);
    const version = current?.version ?? base;
    if (!version) throw new RegistryRefusal(`profile ${name}: no active version to shadow`);
    if (shadow?.version === version) throw new RegistryRefusal(`profile ${name}: ${version} is the active version; shadow another one`);
    const { shadow: _old, ...rest } = current ?? { version, history: [], activatedAt: now.toISOString(), source: 'shadow' };
    if ((await reg.setActive('profile', name, { ...rest, ...(shadow ? { shadow } : {}) }, current?.version)) === 'applied') return;
  }
  throw new Error(`profile ${name}: the active version kept changing while setting its shadow; try again`);
}

/** Validates a profile's data and stores it as a version (the bundled base too, the first time, so it can be listed, diffed and rolled back to). */
export async function pushProfile(reg: VersionRegistry, name: string, data: ProfileData, source: string, now = new Date()): Promise<{ version: string; base?: string }> {
  const compiled = compileProfile(name, `pushed profile ${name}`, data.profile, data.rules, data.prompt);
  const base = bundledData(name);
  if (base && !(await reg.getActive('profile', name))) {
    const v = bundledVersion(name)!;
    if (v !== compiled.version) await reg.putVersion('profile', name, { version: v, pushedAt: now.toISOString(), source: 'bundle' }, base);
  }
  await reg.putVersion('profile', name, { version: compiled.version, pushedAt: now.toISOString(), source }, data);
  return { version: compiled.version, ...(base ? { base: bundledVersion(name)! } : {}) };
}

/** The bundled profile's version (undefined when there is no such folder): the base the registry starts from. */
export function bundledVersion(name: string): string | undefined {
  const base = bundledData(name);
  return base && profileVersion(base.profile, base.rules, base.prompt);
}

/** The bundled profile's data (undefined when there is no such folder). */
export function bundledData(name: string): ProfileData | undefined {
  try {
    return loadProfile(name).data;
  } catch (err) {
    if (err instanceof UnknownProfileError) return undefined;
    throw err;
  }
}

/** Where the steps get their profiles: the active version of a name, or the exact version a job is pinned to. */
export interface ProfileSource {
  active(name: string): Promise<Profile>;
  /** The version a job recorded (its bundled data when `version` is absent: jobs from before versions). */
  at(name: string, version: string | undefined): Promise<Profile>;
  /** The candidate running in shadow and its share, if any (read with the active pointer, trusted as long). */
  shadow(name: string): Promise<ShadowSetting | undefined>;
}

/** Profiles from the bundle only (no registry: tests and tools that read the repository's folders). */
export const bundledProfiles: ProfileSource = {
  active: async (name) => loadProfile(name),
  at: async (name) => loadProfile(name),
  shadow: async () => undefined,
};

/**
 * A read per key trusted for `ttlMs` after it returns; callers that ask while it is under way share it (a batch's
 * groups all asking at once make one read, not one each), and a failed read is not kept.
 * @example const pointer = trustedFor((name) => reg.getActive('profile', name), { ttlMs: 2000 }); await pointer(profileName)
 */
export function trustedFor<T>(read: (key: string) => Promise<T>, o: { ttlMs: number; now?: () => number }): (key: string) => Promise<T> {
  const now = o.now ?? Date.now;
  const held = new Map<string, { value: Promise<T>; until: number }>();
  return (key) => {
    const h = held.get(key);
    if (h && h.until > now()) return h.value;
    const entry = { value: read(key), until: Infinity };
    held.set(key, entry);
    entry.value.then(
      () => void (entry.until = now() + o.ttlMs),
      () => void (held.get(key) === entry && held.delete(key)),
    );
    return entry.value;
  };
}

/**
 * Profiles from the registry: the active pointer is read at most once per `ttlMs` per name (a container's
 * cache), versions once (they never change). A name with nothing active runs its bundled data.
 */
export function registryProfiles(reg: VersionRegistry, o: { ttlMs: number; now?: () => number }): ProfileSource {
  const pointer = trustedFor(async (name: string) => {
    const active = await reg.getActive('profile', name);
    return { version: active?.version, ...(active?.shadow ? { shadow: active.shadow } : {}) };
  }, o);
  const versions = new Map<string, Promise<Profile>>();
  const bundled = (name: string) => {
    try {
      return loadProfile(name);
    } catch (err) {
      if (err instanceof UnknownProfileError) return undefined;
      throw err;
    }
  };
  const at = async (name: string, version: string | undefined): Promise<Profile> => {
    const base = bundled(name);
    if (!version || base?.version === version) {
      if (base) return base;
      if (!version) throw new UnknownProfileError(name, listProfiles());
    }
    const key = `${name}@${version}`;
    let p = versions.get(key);
    if (!p) {
      p = (async () => {
        const data = (await reg.getVersion('profile', name, version!)) as ProfileData | undefined;
        if (!data) throw new UnknownVersionError(`profile ${name} has no version ${version} in the registry`);
        return compileProfile(name, base?.folder ?? `registry:profiles/${name}/${version}`, data.profile, data.rules, data.prompt);
      })();
      versions.set(key, p);
      p.catch(() => versions.delete(key));
    }
    return p;
  };
  return {
    at,
    async active(name) {
      const p = await pointer(name);
      if (!p.version && !bundled(name)) throw new UnknownProfileError(name, listProfiles());
      return at(name, p.version);
    },
    async shadow(name) {
      return (await pointer(name)).shadow;
    },
  };
}
