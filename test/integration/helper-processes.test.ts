// Under test: the environment the local runtime's helper processes start with (src/local/child-process.ts): glibc's
// malloc settings that keep their RSS from holding freed buffers, unless the user set their own; Node's compile cache
// on disk, which they fill; and the collection
// of dead buffers as they pile up (`collectBuffersEvery`), where the process may collect (`--expose-gc`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMULATOR_PROCESS_FLAGS, startEmulatorsInProcess } from '../../src/local/emulators.ts';

const environOf = (pid: number) => Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const saved = { ...process.env };

afterEach(() => {
  for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'NODE_COMPILE_CACHE']) {
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

  it.runIf(process.platform === 'linux')('starts with Node’s compile cache in Node’s default folder and fills it; a user’s own folder wins', async () => {
    delete process.env.NODE_COMPILE_CACHE;
    const first = await startEmulatorsInProcess({});
    const own = mkdtempSync(join(tmpdir(), 'sluice-ncc-'));
    process.env.NODE_COMPILE_CACHE = own;
    const second = await startEmulatorsInProcess({});
    try {
      expect(environOf(first.pid!).NODE_COMPILE_CACHE).toBe(join(tmpdir(), 'node-compile-cache'));
      expect(environOf(second.pid!).NODE_COMPILE_CACHE).toBe(own);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
    // The helper wrote what it compiled (its modules' code cache) into the folder when it exited.
    expect(existsSync(own) && readdirSync(own, { recursive: true }).length).toBeGreaterThan(0);
    rmSync(own, { recursive: true, force: true });
  });

  it('collects dead buffers as they pile up when it may collect (as the emulator process runs), and does nothing where it may not', () => {
    // Prepare: a process that drops 300 MB of 256 KiB buffers, 1 MB at a time, and reports the most it held outside the heap
    const script = `
      import { collectBuffersEvery } from ${JSON.stringify(new URL('../../src/local/child-process.ts', import.meta.url).href)};
      import { getHeapStatistics } from 'node:v8';
      const stop = collectBuffersEvery(4 << 20, 10);
      let most = 0;
      for (let i = 0; i < 300; i++) {
        for (let k = 0; k < 4; k++) Buffer.allocUnsafe(256 << 10);
        most = Math.max(most, getHeapStatistics().external_memory);
        await new Promise((r) => setTimeout(r, 2));
      }
      stop();
      process.stdout.write(String(Math.round(most / 1e6)));`;
    const mostHeld = (flags: string[]) => Number(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' }));
    // Act
    const collected = mostHeld(['--expose-gc']);
    const left = mostHeld([]);
    // Assess: with the collection, a few ticks' worth; without, what V8's own schedule leaves (~80 MB here)
    expect(collected).toBeLessThan(40);
    expect(left).toBeGreaterThan(collected * 1.5);
    expect(EMULATOR_PROCESS_FLAGS).toContain('--expose-gc');
  });
});
