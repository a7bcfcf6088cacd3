// Under test: the version registry's rules (src/profiles/registry.ts) — activation names the version it
// replaces (two racing activations never interleave), rollback walks the history, a function trusts the active
// version for its TTL only, a job pinned to a version keeps it, and a version the registry lacks is an error.
import { describe, expect, it } from 'vitest';
import { isPermanent } from '../../src/pipeline/errors.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { type ActiveRecord, type VersionRegistry, UnknownVersionError, activate, pushProfile, registryProfiles, rollback, trustedFor } from '../../src/profiles/registry.ts';

function memoryRegistry() {
  const versions = new Map<string, unknown>();
  const active = new Map<string, ActiveRecord>();
  const calls = { getActive: 0, getVersion: 0 };
  let beforeSet: (() => void) | undefined;
  const reg: VersionRegistry = {
    putVersion: async (kind, name, meta, data) => void versions.set(`${kind}/${name}/${meta.version}`, structuredClone(data)),
    getVersion: async (kind, name, version) => (calls.getVersion++, structuredClone(versions.get(`${kind}/${name}/${version}`))),
    listVersions: async () => [],
    getActive: async (kind, name) => (calls.getActive++, structuredClone(active.get(`${kind}/${name}`))),
    setActive: async (kind, name, next, expected) => {
      beforeSet?.();
      beforeSet = undefined;
      if (active.get(`${kind}/${name}`)?.version !== expected) return 'conflict';
      active.set(`${kind}/${name}`, next);
      return 'applied';
    },
  };
  return { reg, calls, active, raceOnce: (fn: () => void) => (beforeSet = fn) };
}

const claims = loadProfile('claims');
const edited = (reason: string) => {
  const data = structuredClone(claims.data);
  data.rules.rules[0].event.params.reason = reason;
  return data;
};

describe('the version registry', () => {
  it('activation replaces only the version it read: a racing activation is not lost, and rollback walks back through both', async () => {
    const { reg, raceOnce, active } = memoryRegistry();
    const a = await pushProfile(reg, 'claims', edited('A'), 'push');
    const b = await pushProfile(reg, 'claims', edited('B'), 'push');
    expect(a.base).toBe(claims.version);
    // While activating A, another operator activates B first: A's write is refused, re-read, and A goes on top of B.
    raceOnce(() => active.set('profile/claims', { version: b.version, history: [claims.version], activatedAt: 't', source: 'other' }));
    expect(await activate(reg, 'profile', 'claims', a.version, 'push', a.base)).toEqual({ outcome: 'activated', previous: b.version });
    expect(active.get('profile/claims')).toMatchObject({ version: a.version, history: [b.version, claims.version] });
    expect(await activate(reg, 'profile', 'claims', a.version, 'push')).toMatchObject({ outcome: 'unchanged' });
    expect(await rollback(reg, 'profile', 'claims', 'rollback')).toEqual({ from: a.version, to: b.version });
    expect(await rollback(reg, 'profile', 'claims', 'rollback')).toEqual({ from: b.version, to: claims.version });
    await expect(rollback(reg, 'profile', 'claims', 'rollback')).rejects.toThrow('nothing to roll back to');
    await expect(activate(reg, 'profile', 'claims', 'v-000000000000', 'push')).rejects.toBeInstanceOf(UnknownVersionError);
  });

  it('a profile that does not validate is not stored', async () => {
    const { reg } = memoryRegistry();
    const bad = structuredClone(claims.data);
    bad.profile.textField = 'nope';
    await expect(pushProfile(reg, 'claims', bad, 'push')).rejects.toThrow('nope is not one of its columns');
    expect(await reg.getVersion('profile', 'claims', claims.version)).toBeUndefined();
  });

  it('a function reads the active pointer once per TTL, each version once, and a pinned job keeps its version', async () => {
    const { reg, calls } = memoryRegistry();
    let clock = 0;
    const profiles = registryProfiles(reg, { ttlMs: 1000, now: () => clock });
    expect((await profiles.active('claims')).version).toBe(claims.version); // nothing active: the bundled data
    const a = await pushProfile(reg, 'claims', edited('A'), 'push');
    await activate(reg, 'profile', 'claims', a.version, 'push', a.base);
    calls.getActive = 0;
    calls.getVersion = 0;
    clock = 999;
    expect((await profiles.active('claims')).version).toBe(claims.version); // still trusted
    expect(calls.getActive).toBe(0);
    clock = 1000;
    const now = await profiles.active('claims');
    expect(now.version).toBe(a.version);
    expect(now.rules.rules[0]!.event.params.reason).toBe('A');
    expect(calls.getActive).toBe(1);
    for (let i = 0; i < 5; i++) await profiles.at('claims', a.version);
    expect(calls.getVersion).toBe(1);
    // A batch's groups asking at once, the pointer stale: one read between them, not one each.
    clock = 2000;
    calls.getActive = 0;
    const asked = await Promise.all(Array.from({ length: 50 }, () => profiles.shadow('claims')));
    expect(asked.every((s) => s === undefined)).toBe(true);
    expect(calls.getActive).toBe(1);
    // A job ingested before the push runs to its end on its own version; a job with no version recorded, on the bundle's.
    expect((await profiles.at('claims', claims.version)).rules.rules[0]!.event.params.reason).toBe(claims.rules.rules[0]!.event.params.reason);
    expect((await profiles.at('claims', undefined)).version).toBe(claims.version);
    await expect(profiles.at('claims', 'v-000000000000')).rejects.toBeInstanceOf(UnknownVersionError);
    // A pipeline step that meets it fails the group at once, with the reason: no retry makes a version appear.
    expect(isPermanent(new UnknownVersionError('profile claims has no version v-000000000000'))).toBe(true);
  });

  it('a failed pointer read is not trusted: the next ask reads again, and one under way is shared', async () => {
    let reads = 0;
    let fail = true;
    const pointer = trustedFor(async (key: string) => {
      reads += 1;
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error(`registry down for ${key}`);
      return reads;
    }, { ttlMs: 60_000 });
    const both = await Promise.allSettled([pointer('claims'), pointer('claims')]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(reads).toBe(1);
    fail = false;
    expect(await pointer('claims')).toBe(2);
    expect(await pointer('claims')).toBe(2); // trusted now
    expect(await pointer('other')).toBe(3);
  });
});
