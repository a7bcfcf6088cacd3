// Under test: nothing lost, nothing stuck, nothing doubled across kill -9. `sluice dev` runs as its own
// process and kills itself (SIGKILL) at a named point between two writes — in ingest, enrich, decide and
// finalize — then restarts on the same state folder: the job must end with the counts, outcomes and
// result files of a clean run of the same file, promptly. The same holds when one handler process is killed, and
// when handler processes retire at their memory ceiling one after another, or after the scan of a file. The longer matrix (3,000 claims, 10
// moments, also under LLM faults) is `npm run bench:crash`.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';
import { execFileSync } from 'node:child_process';
import { logPath } from '../../src/cli/logs.ts';
import type { Job } from '../../src/domain/job.ts';
import { type CrashResult, crashRun, dropFile, readOutcome, startDev, stopDev, waitForEnd } from '../../scripts/lib/crash-matrix.ts';

const dirs: string[] = [];
let file: string;
let clean: CrashResult;
// A short local visibility timeout keeps the test quick; the runtime's default is 20 s. Chunks of 8 KiB cut
// the ~100 KB file into a dozen chunks and partitions, so that a crash lands amid a parallel ingest.
const env = { SLUICE_LOCAL_VISIBILITY_SECONDS: '6', SLUICE_CHUNK_BYTES: '8192' };

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-crash-'));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  const { header, rows } = generateClaims({ seed: 11, claims: 120, notesPerClaim: 3, longNoteShare: 0.05, invalidRows: 4, duplicateRows: 3, conflictRows: 1 });
  file = join(tempDir(), 'claims.csv');
  writeFileSync(file, toCsv(header, rows));
  clean = await crashRun({ file, state: tempDir(), timeoutMs: 120_000, env });
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('kill -9 between two writes, then a restart', () => {
  it('the clean run accounts for every row and group', () => {
    const { counts } = clean.outcome;
    expect(clean.crashed).toBe(false);
    expect(clean.chunks).toBeGreaterThan(5);
    expect(counts.rows).toBe(counts.accepted + counts.rejected + counts.duplicates);
    expect(counts.decided + counts.failed).toBe(counts.groups);
    expect(clean.outcome.results).toHaveLength(counts.groups);
    expect(clean.outcome.csvRows).toBe(counts.groups + 1);
  });

  // Spread over the stages: after a chunk's partition files are written, after a partition's records are stored, between a group's state change and its count
  // (enrich and decide), after a count, and between the results files and the job's final status.
  it.each([['ingest.chunked@3'], ['ingest.stored@2'], ['enrich.saved@40'], ['decide.saved@30'], ['settle.counted@70'], ['finalize.written@1']])(
    'crashed at %s, the job ends exactly as the clean run did, promptly after the restart',
    async (crashAt) => {
      // Act
      const run = await crashRun({ file, state: tempDir(), crashAt, timeoutMs: 120_000, env });
      // Assess
      expect(run.crashed).toBe(true);
      expect(run.orphans).toBe(0); // the killed runtime's emulator and handler processes died with it
      expect(run.outcome.status).toBe(clean.outcome.status);
      expect(run.outcome.counts).toEqual(clean.outcome.counts);
      expect(run.outcome.results).toEqual(clean.outcome.results);
      expect(run.outcome.rejects).toEqual(clean.outcome.rejects);
      expect(run.recoveryMs).toBeLessThan(90_000);
    },
    240_000,
  );

  // A large job's results, staged 50 groups at a time: killed after the second segment is written and before its
  // cursor is saved, the restart writes that segment again and joins them; the joined files equal the clean run's
  // written in one pass.
  it.each([['finalize.staged@2'], ['finalize.segment-saved@1']])('crashed at %s while a large job’s results are written in segments, the job ends exactly as the clean run did', async (crashAt) => {
    // Act
    const run = await crashRun({ file, state: tempDir(), crashAt, timeoutMs: 120_000, env: { ...env, SLUICE_SEGMENT_GROUPS: '50' } });
    // Assess
    expect(clean.outcome.counts.groups).toBeGreaterThan(100); // three segments at least
    expect(run.crashed).toBe(true);
    expect(run.outcome.status).toBe(clean.outcome.status);
    expect(run.outcome.counts).toEqual(clean.outcome.counts);
    expect(run.outcome.results).toEqual(clean.outcome.results);
    expect(run.outcome.csvRows).toBe(clean.outcome.csvRows); // one header
    expect(run.recoveryMs).toBeLessThan(90_000);
  }, 240_000);
});

/** The pids of a `sluice dev` process's handler processes, as `ps` lists them. */
/** The job ended with the clean run's counts, result files and rejects: none lost, none doubled. */
async function expectCleanOutcome(dev: Awaited<ReturnType<typeof startDev>>, job: Job | undefined) {
  const outcome = await readOutcome(dev, job!);
  expect(outcome.counts).toEqual(clean.outcome.counts);
  expect(outcome.results).toEqual(clean.outcome.results);
  expect(outcome.rejects).toEqual(clean.outcome.rejects);
}

const handlerPids = (devPid: number) =>
  execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes('handler-process.ts') && line.includes(`--sluice-helper-of=${devPid}`))
    .map((line) => Number(line.trim().split(/\s+/)[0]));

describe('kill -9 of one handler process', () => {
  it('is replaced, as Lambda starts a new instance, and the job ends exactly as the clean run did', async () => {
    // Prepare: sluice dev with two handler processes
    const dev = await startDev(tempDir(), { ...env, SLUICE_HANDLER_PROCESSES: '2' });
    try {
      const before = handlerPids(dev.child.pid!);
      expect(before).toHaveLength(2);
      // Act: the file dropped, one handler process killed while the job runs
      const jobId = await dropFile(dev, file, 'crash-matrix.csv');
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(before[0]!, 'SIGKILL');
      const job = await waitForEnd(dev, jobId, 120_000);
      // Assess: two handler processes again (the new one takes a few seconds to load), the dead one replaced; the job as the clean run
      let after = handlerPids(dev.child.pid!);
      for (let waited = 0; after.length < 2 && waited < 20_000; waited += 200) {
        await new Promise((r) => setTimeout(r, 200));
        after = handlerPids(dev.child.pid!);
      }
      expect(after).toHaveLength(2);
      expect(after).not.toContain(before[0]);
      expect(after).toContain(before[1]);
      await expectCleanOutcome(dev, job);
    } finally {
      await stopDev(dev);
    }
  }, 240_000);
});

describe('a handler process that scanned a large file to plan it', () => {
  it('retires after its plan and is replaced while the others take its chunks, and the job ends exactly as the clean run did', async () => {
    // Prepare: sluice dev with two handler processes, one retired after any plan of a file over 10 KiB, none at a ceiling
    const state = tempDir();
    const dev = await startDev(state, { ...env, SLUICE_HANDLER_PROCESSES: '2', SLUICE_HANDLER_MAX_RSS_MB: '0', SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB: '0.01' });
    try {
      // Act: the ~100 KB file dropped (a dozen chunks, so its plan scans it)
      const jobId = await dropFile(dev, file, 'crash-matrix.csv');
      const job = await waitForEnd(dev, jobId, 180_000);
      // Assess: one process retired, after its scan of the whole file, and the job is the clean run’s
      const retired = readFileSync(logPath(state), 'utf8')
        .split('\n')
        .filter((line) => line.includes('a handler process retires'))
        .map((line) => JSON.parse(line) as { reason: string; pid: number });
      expect(retired.map((r) => r.reason)).toEqual([`after a scan of ${statSync(file).size} bytes`]);
      // Two handler processes run again, the retired one not among them (it exits once its batches are done).
      let running = handlerPids(dev.child.pid!);
      for (let i = 0; i < 50 && (running.length !== 2 || running.includes(retired[0]!.pid)); i++) {
        await new Promise((r) => setTimeout(r, 100));
        running = handlerPids(dev.child.pid!);
      }
      expect(running).toHaveLength(2);
      expect(running).not.toContain(retired[0]!.pid);
      await expectCleanOutcome(dev, job);
    } finally {
      await stopDev(dev);
    }
  }, 240_000);
});

describe('handler processes at their memory ceiling', () => {
  it('retire one after another and are replaced, and the job ends exactly as the clean run did', async () => {
    // Prepare: sluice dev with two handler processes whose ceiling (1 MB) each passes a second after it is up
    const dev = await startDev(tempDir(), { ...env, SLUICE_HANDLER_PROCESSES: '2', SLUICE_HANDLER_MAX_RSS_MB: '1' });
    try {
      // Act: the file dropped; the handler processes seen while the job runs
      const seen = new Set<number>();
      const jobId = await dropFile(dev, file, 'crash-matrix.csv');
      let ended = false;
      const watching = (async () => {
        while (!ended) {
          for (const pid of handlerPids(dev.child.pid!)) seen.add(pid);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const job = await waitForEnd(dev, jobId, 180_000).finally(() => {
        ended = true;
      });
      await watching;
      // Assess: processes came and went (more than the two at a time), and the job is the clean run’s: none lost, none doubled
      expect(seen.size).toBeGreaterThan(2);
      await expectCleanOutcome(dev, job);
    } finally {
      await stopDev(dev);
    }
  }, 240_000);
});

