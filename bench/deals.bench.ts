/**
 * `npm run bench:deals` (part of `npm run bench`): a deals drop — opportunities × documents from the seeded generator
 * — in full mode with the OpenAI provider against the loopback simulator at a fixed latency. (a) the local pipeline
 * (one enrich message per document, fan-in per opportunity) with an in-flight cap C; (b) the seed's way: one
 * opportunity at a time, its files one at a time, through the same domain code (read, clean, enrich, roll up,
 * decide). Reports both walls, (b)/(a), and (a) against the bound N·L/C (N the LLM calls (a) made).
 * (a) runs --runs times (3; the machine is shared and noisy): the median is reported, with every run's wall.
 * Options: --opportunities N (100), --documents D (10 per opportunity), --latency MS (300), --cap C (32), --runs R (3), --out FILE.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { generateDeals } from '../scripts/lib/deals-generator.ts';
import { putManifest, uploadDocuments } from '../src/cli/drop-documents.ts';
import { decideGroup } from '../src/domain/decide/decide-group.ts';
import { compileBoilerplate, removeBoilerplate } from '../src/domain/documents/boilerplate.ts';
import { documentMentions } from '../src/domain/documents/prepare.ts';
import { readDocument } from '../src/domain/documents/read-document.ts';
import { type SettledDocument, rollUp } from '../src/domain/documents/rollup.ts';
import { enrichGroup } from '../src/domain/enrich/enrich-group.ts';
import { jobIdFor } from '../src/domain/job.ts';
import { createOpenAiProvider } from '../src/llm/openai-provider.ts';
import { startSimulator } from '../src/llm/simulator.ts';
import { handlerLayout, startLocalRuntime } from '../src/local/runtime.ts';
import { loadProfile } from '../src/profiles/profile.ts';
import { runChild } from './lib/child-run.ts';
import { writeReport } from './lib/report.ts';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    url: { type: 'string' },
    opportunities: { type: 'string', default: '100' },
    documents: { type: 'string', default: '10' },
    latency: { type: 'string', default: '300' },
    cap: { type: 'string', default: '32' },
    runs: { type: 'string', default: '3' },
    out: { type: 'string', default: 'docs/benchmarks/deals.json' },
  },
});
const cap = Number(values.cap);
const deals = loadProfile('deals');
const llm = (url: string, maxInFlight: number) => ({ apiKey: 'sk-simulated', baseURL: url, model: 'gpt-sim', maxInFlight, timeoutMs: 30_000, maxRetries: 4 });
const generate = () => generateDeals({ seed: 16, opportunities: Number(values.opportunities), documentsPerOpportunity: Number(values.documents) });

if (values.child) {
  const result = values.child === 'pipeline' ? await pipeline(values.url!) : await sequential(values.url!);
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
  process.exit(0);
} else {
  await orchestrate();
}

async function pipeline(url: string) {
  const opportunities = await generate();
  // As `sluice run` runs it: the handlers in their processes (one per core), the cap C shared by them.
  const layout = handlerLayout();
  const rt = await startLocalRuntime({ logLevel: 'SILENT', ...layout, llm: { ...llm(url, cap), cacheTtlDays: 1, breaker: { name: 'openai', threshold: 20, cooldownMs: 30_000, probeTimeoutMs: 60_000 } } });
  try {
    const groups = opportunities.map((o) => ({ values: { opportunity_id: o.id, account: o.account, owner: o.owner, stage: o.stage }, files: o.documents.map((d) => ({ name: d.name.split('/').pop()!, bytes: d.bytes })) }));
    // The handler processes up (as the loop's modules are loaded before its clock starts).
    while (rt.pids().handlers.length < (layout.handlerProcesses?.length ?? 0)) await new Promise((r) => setTimeout(r, 100));
    // The clock starts once the documents are uploaded: the manifest is the drop.
    await uploadDocuments(rt.clients.s3, rt.names.buckets.drop, { profile: deals, run: 'bench', groups });
    const started = performance.now();
    const uploaded = await putManifest(rt.clients.s3, rt.names.buckets.drop, { profile: deals, run: 'bench', groups });
    // Watched as `sluice run` watches it (every 200 ms).
    const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, uploaded.key, uploaded.etag), { timeoutMs: 30 * 60_000, intervalMs: 200 });
    return { wallMs: performance.now() - started, decided: job.counts.decided, groups: job.counts.groups, failed: job.counts.failed };
  } finally {
    await rt.stop();
  }
}

async function sequential(url: string) {
  const opportunities = await generate();
  const provider = createOpenAiProvider(llm(url, 1));
  const spec = deals.documents!;
  const boilerplate = compileBoilerplate(spec.boilerplate);
  const started = performance.now();
  let decided = 0;
  for (const o of opportunities) {
    const docs: SettledDocument[] = [];
    for (const [order, d] of o.documents.entries()) {
      const read = await readDocument(d.name, d.bytes, { maxBytes: spec.maxBytes });
      if (!read.ok) {
        docs.push({ docId: d.name, name: d.name, order, status: 'rejected', reason: read.reason });
        continue;
      }
      const clean = removeBoilerplate(read.text, boilerplate);
      const note = { noteId: d.name, text: clean.text, line: order + 1, values: { opportunity_id: o.id, document: d.name, account: o.account }, attributes: {} };
      const enrichment = await enrichGroup(deals, d.name, [note], provider, 'full');
      docs.push({ docId: d.name, name: d.name, order, status: 'read', enrichment, mentions: documentMentions(deals, clean.text, d.name, note.values, enrichment.outputs) });
    }
    await decideGroup(deals, rollUp(deals, docs, { mode: 'full', provider }));
    decided += 1;
    if (decided % 10 === 0) process.stderr.write(`  (b) seed-style loop: ${decided}/${opportunities.length} opportunities\n`);
  }
  return { wallMs: performance.now() - started, decided, groups: opportunities.length, failed: 0 };
}

interface ChildResult {
  wallMs: number;
  decided: number;
  groups: number;
  failed: number;
  peakRssMb: number;
}

async function orchestrate() {
  const latency = Number(values.latency);
  const opportunities = Number(values.opportunities);
  const documents = opportunities * Number(values.documents);
  process.stderr.write(`bench:deals: ${opportunities} opportunities × ${values.documents} documents; simulator ${latency} ms per call; cap ${cap}\n`);
  const sim = await startSimulator({ latencyMs: latency, seed: 5 });
  try {
    // Children run asynchronously: the simulator serves them from this process's event loop.
    // (a) several times, each against a fresh simulator count; the median run is the one reported.
    const runs: Array<{ result: ChildResult; stats: typeof sim.stats }> = [];
    for (let i = 0; i < Number(values.runs); i++) {
      sim.resetStats();
      const result = await runAsync('pipeline');
      runs.push({ result, stats: structuredClone(sim.stats) });
      process.stderr.write(`  (a) pipeline, run ${i + 1}: ${(result.wallMs / 1000).toFixed(1)} s, ${result.decided}/${result.groups} decided, ${sim.stats.calls} calls\n`);
    }
    const { result: a, stats: aStats } = [...runs].sort((x, y) => x.result.wallMs - y.result.wallMs)[Math.floor(runs.length / 2)]!;
    sim.resetStats();
    const b = await runAsync('sequential');
    const bStats = structuredClone(sim.stats);
    const bound = (aStats.outcomes.ok * latency) / cap;
    const report = {
      command: `npm run bench:deals -- --opportunities ${opportunities} --documents ${values.documents} --latency ${latency} --cap ${cap} --runs ${values.runs}`,
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      opportunities,
      documents,
      pipeline: { wallSeconds: +(a.wallMs / 1000).toFixed(2), runsWallSeconds: runs.map((r) => +(r.result.wallMs / 1000).toFixed(2)), decided: a.decided, failed: a.failed, calls: aStats.calls, maxInFlight: aStats.maxInFlight, peakRssMb: a.peakRssMb },
      seedStyleLoop: { wallSeconds: +(b.wallMs / 1000).toFixed(2), decided: b.decided, calls: bStats.calls, peakRssMb: b.peakRssMb },
      boundSeconds: +(bound / 1000).toFixed(2),
      pipelineOverBound: +(a.wallMs / bound).toFixed(2),
      loopOverPipeline: +(b.wallMs / a.wallMs).toFixed(1),
      targets: { pipelineOverBoundAtMost: 1.3 },
    };
    writeReport(values.out!, report);
  } finally {
    await sim.stop();
  }

  async function runAsync(kind: string) {
    return runChild<ChildResult>(import.meta.filename, ['--child', kind, '--url', sim.url, ...(['opportunities', 'documents', 'cap'] as const).flatMap((k) => [`--${k}`, String(values[k])])]);
  }
}
