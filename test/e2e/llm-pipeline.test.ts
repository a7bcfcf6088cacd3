// Under test: the whole local pipeline with the OpenAI provider (real `openai` client → loopback
// simulator): results labelled and with RAG provenance, zero calls on a re-run, graceful degradation to
// pending_llm with the breaker open, no note text or names in any log line, and local IAM for enrich.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import { type Simulator, startSimulator } from '../../src/llm/simulator.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';

const sample = readFileSync('samples/claims-notes.csv');
let sim: Simulator;
let rt: LocalRuntime;
let logs = '';
const calls: CallRecord[] = [];
const THRESHOLD = 4;
const IN_FLIGHT = 4;

beforeAll(async () => {
  sim = await startSimulator({ seed: 3, latencyMs: 5 });
  rt = await startLocalRuntime({
    logLevel: 'INFO',
    logStream: new Writable({
      write(chunk, _enc, cb) {
        logs += chunk;
        cb();
      },
    }),
    onAwsCall: (c) => calls.push(c),
    llm: {
      apiKey: 'sk-simulated',
      baseURL: sim.url,
      model: 'gpt-sim',
      maxInFlight: IN_FLIGHT,
      timeoutMs: 2_000,
      maxRetries: 1,
      cacheTtlDays: 1,
      breaker: { name: 'openai', threshold: THRESHOLD, cooldownMs: 60_000, probeTimeoutMs: 60_000 },
    },
  });
});
afterAll(async () => {
  await rt?.stop();
  await sim?.stop();
});

async function drop(key: string, body: Buffer | string, mode?: 'fast' | 'full'): Promise<Job> {
  const put = await rt.clients.s3.send(
    new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: body, Metadata: mode ? { 'sluice-mode': mode } : undefined }),
  );
  return rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 90_000 });
}

async function resultLines(job: Job) {
  const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: job.results!.jsonl }));
  return (await r.Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l));
}

describe('full mode with the OpenAI provider', () => {
  let job: Job;
  let lines: Array<{ groupId: string; enrichment: { provider: string; model: string; eligibleNoteIds: string[]; provenance: { chunkIds: string[] }; usage?: { calls: number } } }>;
  beforeAll(async () => {
    job = await drop('incoming/claims/claims-notes.csv', sample);
    lines = await resultLines(job);
  });

  it('decides every claim with one call per claim that has eligible notes, labelled and with its chunk ids', () => {
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ groups: 100, decided: 100, failed: 0, pending: 0 });
    const withNotes = lines.filter((l) => l.enrichment.eligibleNoteIds.length > 0);
    expect(sim.stats.calls).toBe(withNotes.length);
    for (const l of withNotes) {
      expect(l.enrichment).toMatchObject({ provider: 'openai', model: 'gpt-sim' });
      expect(l.enrichment.provenance.chunkIds.length).toBeGreaterThan(0);
      expect(l.enrichment.provenance.chunkIds.every((id) => l.enrichment.eligibleNoteIds.some((n) => id.startsWith(n)))).toBe(true);
    }
    expect(sim.stats.maxInFlight).toBeLessThanOrEqual(IN_FLIGHT);
  });

  it('makes zero LLM calls when the same file is dropped again under another name', async () => {
    const before = sim.stats.calls;
    const again = await drop('incoming/claims/claims-notes-copy.csv', sample);
    expect(again.counts.decided).toBe(100);
    expect(sim.stats.calls).toBe(before);
    expect((await resultLines(again)).filter((l) => l.enrichment.usage?.calls === 1)).toHaveLength(0);
  });

  it('emits CloudWatch EMF metrics for the LLM calls, in the namespace sluice', () => {
    const emf = logs
      .split('\n')
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l));
    const enrichLines = emf.filter((e) => e.service === 'sluice-enrich');
    expect(enrichLines.length).toBeGreaterThan(0);
    expect(enrichLines[0]._aws.CloudWatchMetrics[0].Namespace).toBe('sluice');
    const sum = (name: string) => enrichLines.reduce((n, e) => n + (Array.isArray(e[name]) ? e[name].reduce((a: number, b: number) => a + b, 0) : (e[name] ?? 0)), 0);
    expect(sum('GroupsEnriched')).toBeGreaterThanOrEqual(100);
    expect(sum('LlmCalls')).toBe(sim.stats.calls);
  });

  it('logs no note text and no name from the notes', () => {
    const rows = parse(sample, { columns: true, relax_column_count: true, encoding: 'latin1' }) as Array<Record<string, string>>;
    expect(logs.length).toBeGreaterThan(1000);
    for (const row of rows) {
      const text = row.FN_TEXT ?? '';
      for (let i = 0; i + 24 <= text.length; i += 200) expect(logs.includes(text.slice(i, i + 24)), `note of ${row.CLAIMNO}`).toBe(false);
    }
    for (const name of ['Maria', 'James', 'Aisha', 'Priya', 'Garcia', 'Okafor', 'Kowalski']) expect(logs).not.toContain(name);
  });
});

async function allPending(key: string) {
  const items = [];
  let after: string | undefined;
  do {
    const page = await rt.store.listPending(key, 7, after);
    items.push(...page.items);
    after = page.next;
  } while (after);
  return items;
}

describe('fast mode', () => {
  it('makes no LLM call now and leaves the summary pending, findable oldest first without a scan', async () => {
    const before = sim.stats.calls;
    const { header, rows } = generateClaims({ seed: 21, claims: 30, notesPerClaim: 2, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
    const scansBefore = calls.filter((c) => c.action === 'dynamodb:Scan').length;
    const job = await drop('incoming/claims/fast.csv', toCsv(header, rows), 'fast');
    expect(sim.stats.calls).toBe(before);
    expect(job).toMatchObject({ mode: 'fast', status: 'COMPLETE' });
    expect(job.counts.decided).toBe(30);
    const pending = (await allPending('pending_lossDescription')).filter((p) => p.jobId === job.jobId);
    expect(pending).toHaveLength(job.counts.pending);
    expect(pending.length).toBeGreaterThan(20);
    expect(pending.map((p) => p.since)).toEqual([...pending.map((p) => p.since)].sort());
    expect(pending.every((p) => p.stages.includes('summary') && p.stages.includes('lossDescription'))).toBe(true);
    expect(calls.filter((c) => c.action === 'dynamodb:Scan').length).toBe(scansBefore);
  });
});

describe('with the provider down', () => {
  it('opens the breaker, stops calling, defers claims to pending_llm and still completes with the offline results', async () => {
    sim.resetStats();
    sim.configure({ down: true });
    const { header, rows } = generateClaims({ seed: 99, claims: 40, notesPerClaim: 2, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
    const job = await drop('incoming/claims/while-down.csv', toCsv(header, rows));
    const lines = await resultLines(job);
    const deferred = lines.filter((l) => l.enrichment.deferred);
    expect(job.status).toBe('COMPLETE');
    expect(job.counts.decided).toBe(40);
    expect(job.counts.pending).toBe(deferred.length);
    expect(deferred.length).toBeGreaterThan(30);
    const pendingLlm = (await allPending('pending_llm')).filter((p) => p.jobId === job.jobId);
    expect(pendingLlm.map((p) => p.groupId).sort()).toEqual(deferred.map((l) => l.groupId).sort());
    for (const l of deferred) {
      expect(l.enrichment).toMatchObject({ provider: 'offline', deferred: { reason: 'llm_unavailable', stages: ['lossDescription', 'summary'] }, stages: { summary: 'pending', lossDescription: 'pending', causeCode: 'done' } });
      expect(l.decision.outcome).not.toBe('undecided');
    }
    // Each failing request is tried twice (maxRetries 1); once open, nothing more goes out.
    expect(sim.stats.calls).toBeLessThanOrEqual(2 * (THRESHOLD + IN_FLIGHT));
    const seenAtEnd = sim.stats.calls;
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.stats.calls).toBe(seenAtEnd);
    sim.configure({ down: false });
  });

  it('denied no call to enrich, which used the cache and breaker items it is granted', () => {
    expect(calls.filter((c) => !c.allowed)).toEqual([]);
    const used = new Set(calls.filter((c) => c.fn === 'enrich').map((c) => c.action));
    expect(used.has('dynamodb:GetItem')).toBe(true);
    expect(used.has('dynamodb:PutItem')).toBe(true);
  });
});
