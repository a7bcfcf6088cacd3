/**
 * `npm run bench:finalize`: a job's finalize alone, at the group counts of a 100 MiB and a 1 GiB claims file side
 * by side (85,250 and 852,500 groups), each in a child process of its own on the on-disk local runtime with its
 * handler processes (as `sluice run`). The job's groups are stored decided (offline enrichments and rule decisions
 * of generated claims, cycled), its ledger counted and its ingest ended; the reconciler's scheduled pass, which runs
 * in the first handler process, then finalizes it in segments. Measured: the time to store the job, the finalize's
 * time, and the peak RSS of the emulators and the largest handler process while the finalize runs (sampled every
 * 250 ms, so that storing the groups does not count) and over the whole run. (The main process is the bench's own
 * here, which stores the groups: reported apart; the finalize does not run in it.)
 * Why apart from `bench:size`: a whole 1 GiB run to its end takes ~3 h here, most of it enrichment.
 * Options: --groups 85250,852500  --segment-groups N  --out FILE.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AttributeValue, BatchWriteItemCommand, ScanCommand, type WriteRequest } from '@aws-sdk/client-dynamodb';
import pLimit from 'p-limit';
import { decideGroup } from '../src/domain/decide/decide-group.ts';
import { type Enrichment, enrichGroup } from '../src/domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../src/domain/enrich/offline-provider.ts';
import { JobStatus, TERMINAL_STATUSES, emptyCounts } from '../src/domain/job.ts';
import { handlerLayout, startLocalRuntime } from '../src/local/runtime.ts';
import { SEGMENT_GROUPS } from '../src/pipeline/finalize-job.ts';
import { loadProfile } from '../src/profiles/profile.ts';
import { generateClaims } from '../scripts/lib/claims-generator.ts';
import { runChild } from './lib/child-run.ts';
import { rssByProcess } from './lib/process-rss.ts';
import { writeReport } from './lib/report.ts';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    groups: { type: 'string', default: '85250,852500' },
    'segment-groups': { type: 'string', default: String(SEGMENT_GROUPS) },
    out: { type: 'string', default: 'docs/benchmarks/finalize.json' },
  },
});

interface FinalizeResult {
  groups: number;
  segmentGroups: number;
  storeSeconds: number;
  finalizeSeconds: number;
  status: string;
  counts: { groups: number; decided: number; failed: number };
  /** Peak RSS (MB) of the bench's own process (the runtime's main process here, which stored the groups). */
  benchProcessMb: number;
  /** Peak RSS (MB) by kind of process while the finalize ran, sampled. */
  duringFinalize: Record<string, number>;
  /** Peak RSS (MB) by kind of process over the whole run (VmHWM; retired handler processes as they reported). */
  wholeRun: Record<string, number>;
  handlerProcessesRetired: number;
}

if (values.child) {
  process.stdout.write(`${JSON.stringify(await runJob(Number(values.child), Number(values['segment-groups'])))}\n`);
  process.exit(0);
} else {
  const results: FinalizeResult[] = [];
  for (const groups of values.groups!.split(',').map(Number)) {
    const r = await runChild<FinalizeResult>('bench/finalize.bench.ts', ['--child', String(groups), '--segment-groups', values['segment-groups']!]);
    process.stderr.write(`  ${groups} groups: stored in ${r.storeSeconds} s, finalized in ${r.finalizeSeconds} s (${r.status}); peak RSS during the finalize ${JSON.stringify(r.duringFinalize)}, whole run ${JSON.stringify(r.wholeRun)} MB\n`);
    results.push(r);
  }
  const [small, large] = [results[0]!, results.at(-1)!];
  const growth = Object.fromEntries(Object.entries(large.duringFinalize).map(([k, mb]) => [k, +(mb / (small.duringFinalize[k] ?? mb) - 1).toFixed(2)]));
  writeReport(values.out!, {
    command: `npm run bench:finalize -- --groups ${values.groups}`,
    date: new Date().toISOString(),
    results,
    rssGrowthDuringFinalize: growth,
    met: { under400: results.every((r) => Object.values(r.duringFinalize).every((mb) => mb < 400)), within10: Object.values(growth).every((g) => g <= 0.1), complete: results.every((r) => TERMINAL_STATUSES.has(r.status as JobStatus)) },
  });
}

/** Decided groups' contents to cycle: the offline enrichment and the rules' decision of generated claims. */
async function contents(n: number): Promise<Array<{ enrichment: Enrichment; decision: Awaited<ReturnType<typeof decideGroup>>; notes: number }>> {
  const profile = loadProfile('claims');
  const provider = createOfflineProvider();
  const { header, rows } = generateClaims({ seed: 21, claims: n, notesPerClaim: 4, longNoteShare: 0.08, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
  // Each row's values by the profile's column names (the file's header names are among their aliases).
  const at = profile.columns.map((c) => [c.name, header.findIndex((h) => h === c.name || (c.aliases ?? []).includes(h))] as const).filter(([, i]) => i >= 0);
  const byClaim = new Map<string, Array<Record<string, string>>>();
  for (const row of rows) {
    const values = Object.fromEntries(at.map(([name, i]) => [name, String(row[i] ?? '')]));
    byClaim.set(values.claim_id!, [...(byClaim.get(values.claim_id!) ?? []), values]);
  }
  const out = [];
  for (const [id, records] of byClaim) {
    const notes = records.map((values, i) => ({ noteId: values.note_id ?? `${id}-${i}`, line: i + 2, values, attributes: {}, text: values.note ?? '' }));
    const enrichment = await enrichGroup(profile, id, notes, provider, 'fast');
    out.push({ enrichment, decision: await decideGroup(profile, enrichment), notes: notes.length });
  }
  return out;
}

/** RSS now (MB) by kind: emulators, the largest handler process (the main process here is the bench's, which stored the groups). */
function rssNow(pids: { main: number; emulators?: number; handlers: number[] }): Record<string, number> {
  const rss = (pid: number) => {
    try {
      return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    } catch {
      return 0;
    }
  };
  return { emulators: pids.emulators ? rss(pids.emulators) : 0, handler: Math.max(0, ...pids.handlers.map(rss)) };
}

async function runJob(groups: number, segmentGroups: number): Promise<FinalizeResult> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-bench-finalize-'));
  // The handler processes read it as they start.
  process.env.SLUICE_SEGMENT_GROUPS = String(segmentGroups);
  const rt = await startLocalRuntime({ stateDir, logLevel: 'SILENT', ...handlerLayout() });
  try {
    while (rt.pids().handlers.length < (handlerLayout().handlerProcesses?.length ?? 0)) await new Promise((r) => setTimeout(r, 50));
    const cycle = await contents(100);
    const store = rt.store;
    const jobId = `j-finalize-${groups}`;
    const at = new Date().toISOString();
    const started = performance.now();
    // INGESTING while its groups are stored: the reconciler passes over it until its ingest ends.
    await store.createJob({ jobId, bucket: rt.names.buckets.drop, key: `incoming/claims/finalize-${groups}.csv`, etag: 'e', size: 1, profile: 'claims', mode: 'fast', status: JobStatus.INGESTING, counts: emptyCounts(), timings: { receivedAt: at } });
    const id = (g: number) => `C${String(g).padStart(8, '0')}`;
    const shards = Math.ceil(groups / 4000);
    const limit = pLimit(8);
    // The first groups through the store's own writes, one per content; the rest copies of their items as stored
    // (the group id replaced) in batches of 25: the store's writes one by one would take hours at 852,500 here.
    // (The copies keep their template's ledger shard attribute: the finalize does not read it.)
    for (let g = 0; g < cycle.length; g++) {
      const c = cycle[g]!;
      await store.saveEnrichment(jobId, id(g), c.notes, c.enrichment, g % shards, { key: `records/${jobId}/p0000.jsonl`, start: 0, end: 1 }, at);
      await store.saveDecision(jobId, id(g), c.decision, at);
    }
    const TableName = rt.names.table;
    const templates = new Map<string, string>();
    for (let ExclusiveStartKey: Record<string, AttributeValue> | undefined, first = true; first || ExclusiveStartKey; first = false) {
      const page = await rt.clients.dynamodb.send(new ScanCommand({ TableName, ExclusiveStartKey }));
      for (const item of page.Items ?? []) if (item.groupId?.S && item.jobId?.S === jobId) templates.set(item.groupId.S, JSON.stringify(item));
      ExclusiveStartKey = page.LastEvaluatedKey;
    }
    if (templates.size !== cycle.length) throw new Error(`found ${templates.size} stored groups, not ${cycle.length}`);
    const batches = Math.ceil((groups - cycle.length) / 25);
    await Promise.all(
      Array.from({ length: batches }, (_, b) =>
        limit(async () => {
          const items = [];
          for (let g = cycle.length + b * 25; g < Math.min(groups, cycle.length + b * 25 + 25); g++) items.push(JSON.parse(templates.get(id(g % cycle.length))!.replaceAll(id(g % cycle.length), id(g))) as Record<string, AttributeValue>);
          let requests: Record<string, WriteRequest[]> | undefined = { [TableName]: items.map((Item) => ({ PutRequest: { Item } })) };
          while (requests && Object.keys(requests).length) requests = (await rt.clients.dynamodb.send(new BatchWriteItemCommand({ RequestItems: requests }))).UnprocessedItems;
        }),
      ),
    );
    await store.openLedger(jobId, Array.from({ length: shards }, (_, shard) => ({ shard, expected: Math.floor(groups / shards) + (shard < groups % shards ? 1 : 0) })));
    const members = Array.from({ length: shards }, () => [] as Array<{ groupId: string; marks: { enriched: true; pending: boolean; settled: 'decided' } }>);
    for (let g = 0; g < groups; g++) members[g % shards]!.push({ groupId: id(g), marks: { enriched: true, pending: Object.values(cycle[g % cycle.length]!.enrichment.stages).includes('pending'), settled: 'decided' } });
    await Promise.all(members.flatMap((m, shard) => Array.from({ length: Math.ceil(m.length / 100) }, (_, i) => limit(() => store.countGroups(jobId, shard, m.slice(i * 100, i * 100 + 100))))));
    await store.recordIngestCounts(jobId, { rows: groups * 4, accepted: groups * 4, rejected: 0, duplicates: 0, groups }, shards);
    await store.finishIngest(jobId, new Date().toISOString());
    const stored = performance.now();
    // The finalize: by the reconciler's next scheduled pass (every 15 s locally), in the first handler process.
    const during: Record<string, number> = { emulators: 0, handler: 0 };
    let status: string | undefined;
    for (;;) {
      for (const [k, mb] of Object.entries(rssNow(rt.pids()))) during[k] = Math.max(during[k] ?? 0, mb);
      status = await store.getJobStatus(jobId);
      if (status && TERMINAL_STATUSES.has(status as JobStatus)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const ended = performance.now();
    for (const r of rt.pids().retired) during.handler = Math.max(during.handler!, r.peakRssMb ?? 0);
    const job = (await store.getJob(jobId))!;
    // Peaks over the whole run, by kind (the largest handler process, running or retired).
    const peaks = rssByProcess(rt.pids());
    const handlerPeaks = Object.entries(peaks).filter(([name]) => name.startsWith('handler')).map(([, mb]) => mb);
    return {
      groups,
      segmentGroups,
      storeSeconds: +((stored - started) / 1000).toFixed(1),
      finalizeSeconds: +((ended - stored) / 1000).toFixed(1),
      status: job.status,
      counts: { groups: job.counts.groups, decided: job.counts.decided, failed: job.counts.failed },
      duringFinalize: during,
      benchProcessMb: Math.round(process.resourceUsage().maxRSS / 1024),
      wholeRun: { emulators: peaks.emulators ?? 0, handler: Math.max(0, ...handlerPeaks) },
      handlerProcessesRetired: rt.pids().retired.length,
    };
  } finally {
    await rt.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
