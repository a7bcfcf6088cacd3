// Under test: how the local runtime lays its handlers out over processes — one handler process per core running the
// ingest, chunk, enrich and decide event sources — and how it splits the LLM's in-flight cap among the instances that
// enrich, as evenly as whole numbers go and adding up to the cap (32 over 3 processes was 30 before).
import { describe, expect, it } from 'vitest';
import { HANDLER_PROCESS_MAX_RSS_MB, HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB, capShares, handlerLayout } from '../../src/local/runtime.ts';

describe('the local runtime’s layout', () => {
  it('splits a cap so the shares add up to it and differ by at most one', () => {
    for (const [cap, n] of [[32, 2], [32, 3], [8, 3], [7, 7], [5, 1], [100, 6]] as const) {
      const shares = capShares(cap, n);
      expect(shares).toHaveLength(n);
      expect(shares.reduce((a, b) => a + b, 0)).toBe(cap);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
    expect(capShares(32, 3)).toEqual([11, 11, 10]);
    // Fewer slots than instances: each still gets one (the cap is exceeded rather than an instance left without any).
    expect(capShares(2, 3)).toEqual([1, 1, 1]);
  });

  it('runs one handler process per core with every queue function (none in the main process), or every handler in the main process with 0', () => {
    expect(handlerLayout({ SLUICE_HANDLER_PROCESSES: '2' })).toEqual({ functions: [], handlerProcesses: [['ingest', 'chunk', 'enrich', 'decide'], ['ingest', 'chunk', 'enrich', 'decide']], handlerMaxRssMb: HANDLER_PROCESS_MAX_RSS_MB, handlerRetireAfterScanMb: HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB });
    expect(handlerLayout({ SLUICE_HANDLER_PROCESSES: '0' })).toEqual({ handlerProcesses: [] });
    expect(() => handlerLayout({ SLUICE_HANDLER_PROCESSES: 'many' })).toThrow(/whole number/);
  });

  it('replaces a handler process at the memory ceiling the environment gives, or never with 0, and refuses one that is not a whole number', () => {
    expect(handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_MAX_RSS_MB: '300' }).handlerMaxRssMb).toBe(300);
    expect(handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_MAX_RSS_MB: '0' }).handlerMaxRssMb).toBe(0);
    expect(() => handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_MAX_RSS_MB: '300MB' })).toThrow(/SLUICE_HANDLER_MAX_RSS_MB must be a whole number/);
  });

  it('replaces a handler process after a scan of the size the environment gives (a fraction too), or never with 0', () => {
    expect(handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB: '0.5' }).handlerRetireAfterScanMb).toBe(0.5);
    expect(handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB: '0' }).handlerRetireAfterScanMb).toBe(0);
    expect(() => handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB: '-1' })).toThrow(/SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB must be a number ≥ 0/);
    expect(() => handlerLayout({ SLUICE_HANDLER_PROCESSES: '1', SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB: 'big' })).toThrow(/must be a number/);
  });
});
