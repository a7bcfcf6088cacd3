/**
 * `npm run bench`: the local pipeline (ingest → enrich → decide through dynalite + fauxqs + the SQS event
 * sources) against a direct in-process loop over the same domain functions, on one generated file.
 * The pipeline runs three times: on in-memory emulators (as the tests) and on-disk state (as `npm start`),
 * both with the CLI's handler processes, and in memory with every handler in the main process.
 * Each run is a child process of its own (so peak RSS is that run's), the two alternate, and the
 * medians are compared as a ratio. Options: --notes N (default 10000), --rounds R (default 3), --out FILE.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { decideGroup } from '../src/domain/decide/decide-group.ts';
import { type GroupNote, enrichGroup } from '../src/domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../src/domain/enrich/offline-provider.ts';
import { jobIdFor } from '../src/domain/job.ts';
import { Deduplicator, fingerprint } from '../src/domain/records/dedupe.ts';
import { readRows } from '../src/domain/records/read-rows.ts';
import { mapHeaders, validateRecord } from '../src/domain/records/validate-record.ts';
import { handlerLayout, startLocalRuntime } from '../src/local/runtime.ts';
import { loadProfile } from '../src/profiles/profile.ts';
import { generateClaims, toCsv } from '../scripts/lib/claims-generator.ts';
import { rssByProcess } from './lib/process-rss.ts';
import { median } from './lib/report.ts';

type Kind = 'loop' | 'pipeline' | 'pipeline-disk' | 'pipeline-one-process';

interface RunResult {
  kind: Kind;
  wallMs: number;
  /** Pipeline runs: from starting the runtime to its handler processes up (not in wallMs). */
  startupMs?: number;
  rows: number;
  groups: number;
  decided: number;
  /** The largest peak RSS of the run's processes. */
  peakRssMb: number;
  /** Each process's peak RSS (MB): main, emulators, handler processes (the loop: main only). */
  processes?: Record<string, number>;
}

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    file: { type: 'string' },
    notes: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: 'docs/benchmarks/pipeline.json' },
  },
});

if (values.child) {
  const kind = values.child as Kind;
  const result = kind === 'loop' ? await runLoop(values.file!) : await runPipeline(values.file!, kind);
  const processes = result.processes ?? { main: Math.round(process.resourceUsage().maxRSS / 1024) };
  process.stdout.write(`${JSON.stringify({ ...result, processes, peakRssMb: Math.max(...Object.values(processes)) })}\n`);
  process.exit(0);
} else {
  await orchestrate();
}

/** The local pipeline: drop the file into the in-memory emulators and wait for the job to end. */
async function runPipeline(file: string, kind: Exclude<Kind, 'loop'>): Promise<Omit<RunResult, 'peakRssMb'>> {
  // On disk is what `npm start` and `sluice run` use; in memory is what the tests use. Both run the handlers
  // in the CLI's handler processes; one-process runs every handler in the main process (the emulators still in
  // a process of their own), as before the handler processes.
  const stateDir = kind === 'pipeline-disk' ? mkdtempSync(join(tmpdir(), 'sluice-bench-')) : undefined;
  const layout = kind === 'pipeline-one-process' ? { handlerProcesses: [] } : handlerLayout();
  const booting = performance.now();
  const rt = await startLocalRuntime({ logLevel: 'SILENT', waitSeconds: 1, stateDir, ...layout });
  try {
    // The clock starts once the handler processes are up, as the loop's starts once its modules are loaded
    // (bench:deals does the same); how long a runtime takes to start is `startupMs`.
    const handlerProcesses = layout.handlerProcesses?.length ?? 0;
    while (rt.pids().handlers.length < handlerProcesses) await new Promise((r) => setTimeout(r, 50));
    const startupMs = Math.round(performance.now() - booting);
    const started = performance.now();
    const key = 'incoming/claims/bench.csv';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: readFileSync(file) }));
    const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 30 * 60_000, intervalMs: 50 });
    const wallMs = performance.now() - started;
    return { kind, wallMs, startupMs, rows: job.counts.rows, groups: job.counts.groups, decided: job.counts.decided, processes: rssByProcess(rt.pids()) };
  } finally {
    await rt.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }
}

/** The baseline: the same domain functions in one loop, everything in memory, results to a JSONL string. */
async function runLoop(file: string): Promise<Omit<RunResult, 'peakRssMb'>> {
  const started = performance.now();
  const profile = loadProfile('claims');
  const provider = createOfflineProvider();
  const dedupe = new Deduplicator();
  const groups = new Map<string, GroupNote[]>();
  let rows = 0;
  for await (const row of readRows(createReadStream(file), file)) {
    if (row.kind === 'header') {
      mapHeaders(profile, row.headers);
      continue;
    }
    rows += 1;
    if (row.kind === 'bad') continue;
    const v = validateRecord(profile, row.fields);
    if (!v.ok || dedupe.check(fingerprint(v.record, profile.recordKey), row.line).kind !== 'new') continue;
    const { [profile.textField]: text, ...rest } = v.record.values;
    const groupId = rest[profile.groupKey]!;
    const note: GroupNote = { noteId: rest.note_id ?? String(row.line), text: text!, line: row.line, values: rest, attributes: v.record.attributes };
    const list = groups.get(groupId);
    if (list) list.push(note);
    else groups.set(groupId, [note]);
  }
  let decided = 0;
  const lines: string[] = [];
  for (const [groupId, notes] of groups) {
    const enrichment = await enrichGroup(profile, groupId, notes, provider, 'full');
    const decision = await decideGroup(profile, enrichment);
    lines.push(JSON.stringify({ groupId, enrichment, decision }));
    decided += 1;
  }
  return { kind: 'loop', wallMs: performance.now() - started, rows, groups: groups.size, decided };
}

function child(kind: Kind, file: string): RunResult {
  const out = execFileSync(process.execPath, [import.meta.filename, '--child', kind, '--file', file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as RunResult;
}

async function orchestrate() {
  const target = Number(values.notes);
  mkdirSync('bench/out', { recursive: true });
  const file = `bench/out/claims-${target}.csv`;
  // About 4 notes per claim; the generator's few invalid rows and duplicates are included, as in real files.
  const { header, rows } = generateClaims({
    seed: 7,
    claims: Math.round(target / 4),
    notesPerClaim: 4,
    longNoteShare: 0.08,
    invalidRows: 20,
    duplicateRows: 20,
    conflictRows: 5,
  });
  const body = toCsv(header, rows);
  writeFileSync(file, body);
  process.stderr.write(`bench: ${rows.length} rows (${(body.length / 1e6).toFixed(1)} MB) in ${file}\n`);

  const runs: RunResult[] = [];
  for (let r = 1; r <= Number(values.rounds); r++) {
    for (const kind of ['loop', 'pipeline', 'pipeline-disk', 'pipeline-one-process'] as const) {
      const result = child(kind, file);
      runs.push(result);
      process.stderr.write(`  round ${r} ${kind.padEnd(13)} ${(result.wallMs / 1000).toFixed(2)} s${result.startupMs === undefined ? '' : ` (after ${(result.startupMs / 1000).toFixed(1)} s of startup)`}, ${result.rows} rows, ${result.decided}/${result.groups} groups decided, peak RSS ${JSON.stringify(result.processes)} MB\n`);
    }
  }
  const summary = (kind: RunResult['kind']) => {
    const mine = runs.filter((x) => x.kind === kind);
    const wallMs = median(mine.map((x) => x.wallMs));
    return {
      medianWallSeconds: +(wallMs / 1000).toFixed(2),
      ...(mine[0]!.startupMs === undefined ? {} : { medianStartupSeconds: +(median(mine.map((x) => x.startupMs ?? 0)) / 1000).toFixed(2) }),
      notesPerSecond: Math.round(mine[0]!.rows / (wallMs / 1000)),
      peakRssMb: Math.max(...mine.map((x) => x.peakRssMb)),
      processes: Object.fromEntries(Object.keys(mine[0]!.processes ?? {}).map((p) => [p, Math.max(...mine.map((x) => x.processes?.[p] ?? 0))])),
      rows: mine[0]!.rows,
      groups: mine[0]!.groups,
      decided: mine[0]!.decided,
    };
  };
  const loop = summary('loop');
  const pipeline = summary('pipeline');
  const pipelineDisk = summary('pipeline-disk');
  const pipelineOneProcess = summary('pipeline-one-process');
  const report = {
    command: `npm run bench:pipeline -- --notes ${target} --rounds ${values.rounds}`,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    file: { rows: rows.length, bytes: body.length },
    loop,
    pipeline,
    pipelineDisk,
    pipelineOneProcess,
    handlerProcesses: handlerLayout().handlerProcesses!.length,
    ratioOneProcess: +(pipelineOneProcess.medianWallSeconds / loop.medianWallSeconds).toFixed(2),
    ratio: +(pipeline.medianWallSeconds / loop.medianWallSeconds).toFixed(2),
    ratioDisk: +(pipelineDisk.medianWallSeconds / loop.medianWallSeconds).toFixed(2),
    targets: { ratioAtMost: 1.5, peakRssMbBelow: 400 },
    met: {
      ratio: pipeline.medianWallSeconds / loop.medianWallSeconds <= 1.5,
      ratioDisk: pipelineDisk.medianWallSeconds / loop.medianWallSeconds <= 1.5,
      peakRss: pipeline.peakRssMb < 400,
      peakRssDisk: pipelineDisk.peakRssMb < 400,
    },
  };
  mkdirSync('docs/benchmarks', { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
