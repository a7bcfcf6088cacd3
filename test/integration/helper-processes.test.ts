// Under test: the environment the local runtime's helper processes start with (src/local/child-process.ts): glibc's
// malloc settings that keep their RSS from holding freed buffers, unless the user set their own.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulatorsInProcess } from '../../src/local/emulators.ts';

const environOf = (pid: number) => Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const saved = { ...process.env };

afterEach(() => {
  for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('a helper process', () => {
  it.runIf(process.platform === 'linux')('starts with two malloc arenas and large blocks mapped on their own, and a user’s own setting wins', async () => {
    delete process.env.MALLOC_ARENA_MAX;
    delete process.env.MALLOC_MMAP_THRESHOLD_;
    const first = await startEmulatorsInProcess({});
    process.env.MALLOC_ARENA_MAX = '4';
    const second = await startEmulatorsInProcess({});
    try {
      expect(environOf(first.pid!)).toMatchObject({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
      expect(environOf(second.pid!)).toMatchObject({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072' });
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});
