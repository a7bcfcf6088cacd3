/**
 * `npm run bench:llm` (part of `npm run bench`): full-mode enrichment with the OpenAI provider against the
 * loopback simulator at a fixed latency. (a) the local pipeline with an in-flight cap C; (b) the notebook
 * way: the same domain code, one claim at a time. Reports both walls, (b)/(a), (a) against the bound
 * N·L/C, calls and prompt tokens per claim, peak RSS, and the calls a second drop of the same file makes.
 * Options: --claims N (1000), --latency MS (300), --cap C (32), --out FILE.
 */
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { decideGroup } from '../src/domain/decide/decide-group.ts';
import { type GroupNote, enrichGroup } from '../src/domain/enrich/enrich-group.ts';
import { jobIdFor } from '../src/domain/job.ts';
import { Deduplicator, fingerprint } from '../src/domain/records/dedupe.ts';
import { readRows } from '../src/domain/records/read-rows.ts';
import { validateRecord } from '../src/domain/records/validate-record.ts';
import { createOpenAiProvider } from '../src/llm/openai-provider.ts';
import { startSimulator } from '../src/llm/simulator.ts';
import { startLocalRuntime } from '../src/local/runtime.ts';
import { loadProfile } from '../src/profiles/profile.ts';
import { generateClaims, toCsv } from '../scripts/lib/claims-generator.ts';
import { runChild } from './lib/child-run.ts';
import { writeReport } from './lib/report.ts';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    file: { type: 'string' },
    url: { type: 'string' },
    claims: { type: 'string', default: '1000' },
    latency: { type: 'string', default: '300' },
    cap: { type: 'string', default: '32' },
    out: { type: 'string', default: 'docs/benchmarks/llm.json' },
  },
});
const cap = Number(values.cap);
const llm = (url: string, maxInFlight: number) => ({ apiKey: 'sk-simulated', baseURL: url, model: 'gpt-sim', maxInFlight, timeoutMs: 30_000, maxRetries: 4 });

if (values.child) {
  const result = values.child === 'pipeline' ? await pipeline(values.file!, values.url!) : await sequential(values.file!, values.url!);
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
  process.exit(0);
} else {
  await orchestrate();
}

async function pipeline(file: string, url: string) {
  const rt = await startLocalRuntime({
    logLevel: 'SILENT',
    llm: { ...llm(url, cap), cacheTtlDays: 1, breaker: { name: 'openai', threshold: 20, cooldownMs: 30_000, probeTimeoutMs: 60_000 } },
  });
  try {
    const drop = async (key: string) => {
      const started = performance.now();
      const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: readFileSync(file) }));
      const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 30 * 60_000, intervalMs: 50 });
      return { wallMs: performance.now() - started, job };
    };
    const first = await drop('incoming/claims/bench-llm.csv');
    process.stderr.write(`  (a) pipeline: ${(first.wallMs / 1000).toFixed(1)} s, ${first.job.counts.decided}/${first.job.counts.groups} decided\n`);
    process.stdout.write(`${JSON.stringify({ phase: 'first-done' })}\n`);
    const again = await drop('incoming/claims/bench-llm-again.csv');
    return { wallMs: first.wallMs, againWallMs: again.wallMs, decided: first.job.counts.decided, groups: first.job.counts.groups, pending: first.job.counts.pending, failed: first.job.counts.failed };
  } finally {
    await rt.stop();
  }
}

async function sequential(file: string, url: string) {
  const started = performance.now();
  const profile = loadProfile('claims');
  const provider = createOpenAiProvider(llm(url, 1));
  const dedupe = new Deduplicator();
  const groups = new Map<string, GroupNote[]>();
  for await (const row of readRows(createReadStream(file), file)) {
    if (row.kind !== 'row') continue; // header and unreadable rows: the generated file has none
    const v = validateRecord(profile, row.fields);
    if (!v.ok || dedupe.check(fingerprint(v.record, profile.recordKey), row.line).kind !== 'new') continue;
    const { [profile.textField]: text, ...rest } = v.record.values;
    const note: GroupNote = { noteId: rest.note_id ?? String(row.line), text: text!, line: row.line, values: rest, attributes: v.record.attributes };
    const list = groups.get(rest[profile.groupKey]!);
    if (list) list.push(note);
    else groups.set(rest[profile.groupKey]!, [note]);
  }
  let decided = 0;
  for (const [groupId, notes] of groups) {
    const enrichment = await enrichGroup(profile, groupId, notes, provider, 'full');
    await decideGroup(profile, enrichment);
    decided += 1;
    if (decided % 100 === 0) process.stderr.write(`  (b) sequential: ${decided}/${groups.size}\n`);
  }
  return { wallMs: performance.now() - started, decided, groups: groups.size };
}

interface ChildResult {
  wallMs: number;
  againWallMs: number;
  decided: number;
  groups: number;
  pending: number;
  failed: number;
  peakRssMb: number;
  /** Simulator calls when the first drop had finished (the rest come from the second drop). */
  firstCalls: number;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

async function orchestrate() {
  const claims = Number(values.claims);
  const latency = Number(values.latency);
  mkdirSync('bench/out', { recursive: true });
  const file = `bench/out/claims-llm-${claims}.csv`;
  const { header, rows } = generateClaims({ seed: 11, claims, notesPerClaim: 3, longNoteShare: 0.08, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
  writeFileSync(file, toCsv(header, rows));
  process.stderr.write(`bench:llm: ${claims} claims, ${rows.length} notes; simulator ${latency} ms per call; cap ${cap}\n`);
  const sim = await startSimulator({ latencyMs: latency, seed: 5 });
  try {
    // Children run asynchronously: the simulator serves them from this process's event loop.
    const a = await runAsync('pipeline');
    const aStats = structuredClone(sim.stats);
    sim.resetStats();
    const b = await runAsync('sequential');
    const bStats = structuredClone(sim.stats);
    const callsA = aStats.outcomes.ok;
    const bound = (callsA * latency) / cap;
    const report = {
      command: `npm run bench:llm -- --claims ${claims} --latency ${latency} --cap ${cap}`,
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      claims,
      notes: rows.length,
      pipeline: {
        wallSeconds: +(a.wallMs / 1000).toFixed(2),
        decided: a.decided,
        failed: a.failed,
        pending: a.pending,
        calls: aStats.calls,
        callsPerClaim: +(aStats.calls / claims).toFixed(3),
        maxInFlight: aStats.maxInFlight,
        promptTokensPerClaim: { p50: pct(aStats.promptTokens, 50), p95: pct(aStats.promptTokens, 95) },
        peakRssMb: a.peakRssMb,
        sameFileAgain: { wallSeconds: +(a.againWallMs / 1000).toFixed(2), calls: aStats.calls - a.firstCalls },
      },
      sequential: { wallSeconds: +(b.wallMs / 1000).toFixed(2), decided: b.decided, calls: bStats.calls, peakRssMb: b.peakRssMb },
      boundSeconds: +(bound / 1000).toFixed(2),
      speedup: +(b.wallMs / a.wallMs).toFixed(1),
      pipelineOverBound: +(a.wallMs / bound).toFixed(2),
      targets: { speedupAtLeast: 25, pipelineOverBoundAtMost: 1.25 },
    };
    writeReport(values.out!, report);
  } finally {
    await sim.stop();
  }

  async function runAsync(kind: string) {
    let firstCalls = 0;
    const result = await runChild<Omit<ChildResult, 'firstCalls'>>(import.meta.filename, ['--child', kind, '--file', file, '--url', sim.url, '--cap', String(cap)], (chunk) => {
      if (chunk.includes('"phase":"first-done"')) firstCalls = sim.stats.calls;
    });
    return { ...result, firstCalls };
  }
}
