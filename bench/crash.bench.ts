/**
 * `npm run bench:crash`: the long crash matrix. A generated claims file runs through `sluice dev` (its own
 * process) that kills itself with SIGKILL at one of 10 moments spread over ingest, enrich, decide and
 * finalize, then restarts on the same state folder; every run must end with the counts, outcomes and
 * result files of a clean run. Offline, and with the LLM simulator under 20 % 429 / 5 % 5xx.
 * Reports per moment: crashed, identical, recovery time after the restart. Writes docs/benchmarks/crash.json.
 * Options: --claims N (3000), --visibility S (local visibility timeout, 20), --modes offline,llm, --out FILE.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { startSimulator } from '../src/llm/simulator.ts';
import { generateClaims, toCsv } from '../scripts/lib/claims-generator.ts';
import { type CrashResult, crashRun } from '../scripts/lib/crash-matrix.ts';

const { values } = parseArgs({
  options: {
    claims: { type: 'string', default: '3000' },
    visibility: { type: 'string', default: '20' },
    modes: { type: 'string', default: 'offline,llm' },
    out: { type: 'string', default: 'docs/benchmarks/crash.json' },
  },
});
const claims = Number(values.claims);
const groups = claims; // one group per claim
const MOMENTS = [
  'ingest.chunked@3',
  'ingest.stored@2',
  'ingest.fanned-out@4',
  `enrich.saved@${Math.round(groups * 0.1)}`,
  `enrich.counted@${Math.round(groups * 0.3)}`,
  `decide.saved@${Math.round(groups * 0.2)}`,
  `settle.counted@${Math.round(groups * 0.5)}`,
  `decide.saved@${Math.round(groups * 0.9)}`,
  'finalize.leased@1',
  'finalize.written@1',
];

const work = mkdtempSync(join(tmpdir(), 'sluice-crash-bench-'));
const file = join(work, 'claims.csv');
const { header, rows } = generateClaims({ seed: 3, claims, notesPerClaim: 3, longNoteShare: 0.05, invalidRows: 10, duplicateRows: 10, conflictRows: 2 });
writeFileSync(file, toCsv(header, rows));
const report: Record<string, unknown> = { claims, rows: rows.length, visibilitySeconds: Number(values.visibility), modes: {} };
const sim = values.modes.includes('llm') ? await startSimulator({ latencyMs: 20, seed: 9, faults: { rateLimit: 0.2, serverError: 0.05 } }) : undefined;
try {
  for (const mode of values.modes.split(',')) {
    // Chunks of 64 KiB: the file is ingested as a dozen chunks and partitions in parallel.
    const env: Record<string, string> = { SLUICE_LOCAL_VISIBILITY_SECONDS: String(values.visibility), SLUICE_CHUNK_BYTES: String(64 * 1024) };
    // The breaker would open on runs of faults at moments that depend on timing, deferring different groups in
    // each run; its threshold is raised here so that retries alone carry the faults (as in llm-faults.test.ts).
    if (mode === 'llm') Object.assign(env, { OPENAI_API_KEY: 'sk-simulated', OPENAI_BASE_URL: sim!.url, SLUICE_BREAKER_THRESHOLD: '1000' });
    const state = () => mkdtempSync(join(work, `${mode}-`));
    const started = Date.now();
    // 429s and 5xx are drawn per request body and the SDK's retry count: a call made again after the crash meets the
    // faults the clean run's call met. Each run starts the simulator's counts afresh.
    sim?.resetStats();
    const clean = await crashRun({ file, state: state(), timeoutMs: 30 * 60_000, env });
    const cleanMs = Date.now() - started;
    const runs = [];
    for (const crashAt of MOMENTS) {
      sim?.resetStats();
      const run = await crashRun({ file, state: state(), crashAt, timeoutMs: 30 * 60_000, env });
      const identical = isDeepStrictEqual(run.outcome, clean.outcome);
      runs.push({ crashAt, crashed: run.crashed, orphans: run.orphans, identical, recoverySeconds: Math.round(run.recoveryMs / 100) / 10, ...(identical ? {} : { differences: differences(clean.outcome, run.outcome) }) });
      process.stderr.write(`${mode} ${crashAt}: crashed ${run.crashed}, orphans ${run.orphans}, identical ${identical}, recovery ${(run.recoveryMs / 1000).toFixed(1)} s\n`);
    }
    (report.modes as Record<string, unknown>)[mode] = { cleanSeconds: Math.round(cleanMs / 1000), counts: clean.outcome.counts, status: clean.outcome.status, runs };
  }
} finally {
  await sim?.stop();
  rmSync(work, { recursive: true, force: true });
}
report.command = `npm run bench:crash -- --claims ${claims} --visibility ${values.visibility} --modes ${values.modes}`;
report.at = new Date().toISOString();
writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

/** What differs from the clean run: the counts that differ, and how many result lines each run has that the other lacks. */
function differences(clean: CrashResult['outcome'], run: CrashResult['outcome']) {
  const counts = Object.fromEntries(
    Object.entries(clean.counts)
      .filter(([k, v]) => (run.counts as unknown as Record<string, number>)[k] !== v)
      .map(([k, v]) => [k, { clean: v, crashed: (run.counts as unknown as Record<string, number>)[k] }]),
  );
  const only = (a: string[], b: string[]) => {
    const set = new Set(b);
    return a.filter((l) => !set.has(l)).length;
  };
  return { status: clean.status === run.status ? undefined : { clean: clean.status, crashed: run.status }, counts, resultLinesOnlyInClean: only(clean.results, run.results), resultLinesOnlyInCrashed: only(run.results, clean.results), rejectsDiffer: !isDeepStrictEqual(clean.rejects, run.rejects) };
}
