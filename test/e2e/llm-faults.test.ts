// Under test: a 1,000-claim full-mode run through the local pipeline while the simulator injects 20% 429
// (with Retry-After), 5% 5xx, 2% timeouts and 2% malformed answers: every claim ends decided or failed with
// its reason, no row is lost or counted twice, no retry comes before its Retry-After, in-flight stays capped.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { type Simulator, startSimulator } from '../../src/llm/simulator.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { topology, withOverrides } from '../../src/topology/topology.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';

const CAP = 16;
let sim: Simulator;
let rt: LocalRuntime;

beforeAll(async () => {
  sim = await startSimulator({ seed: 13, latencyMs: 20, retryAfterSeconds: 1, faults: { rateLimit: 0.2, serverError: 0.05, timeout: 0.02, malformed: 0.02 } });
  rt = await startLocalRuntime({
    // A malformed answer fails that group's attempt; a short visibility brings its message back within the test.
    topology: withOverrides(topology, { queues: { enrich: { visibilityTimeoutSeconds: 8 } } }),
    allowShortVisibility: true,
    logLevel: 'SILENT',
    llm: {
      apiKey: 'sk-simulated',
      baseURL: sim.url,
      model: 'gpt-sim',
      maxInFlight: CAP,
      timeoutMs: 1_000,
      maxRetries: 4,
      cacheTtlDays: 1,
      breaker: { name: 'openai', threshold: 50, cooldownMs: 5_000, probeTimeoutMs: 10_000 },
    },
  });
});
afterAll(async () => {
  await rt?.stop();
  await sim?.stop();
});

describe('a 1,000-claim run under injected faults', () => {
  it('accounts for every row and claim, honours Retry-After and the in-flight cap', async () => {
    const { header, rows } = generateClaims({ seed: 5, claims: 1000, notesPerClaim: 2, longNoteShare: 0.02, invalidRows: 10, duplicateRows: 10, conflictRows: 0 });
    const Key = 'incoming/claims/faults.csv';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key, Body: toCsv(header, rows) }));
    const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, Key, put.ETag!), { timeoutMs: 240_000 });

    const c = job.counts;
    expect(c.rows).toBe(rows.length);
    expect(c.rows).toBe(c.accepted + c.rejected + c.duplicates);
    expect(c.groups).toBe(1000);
    expect(c.enriched + c.failed).toBe(c.groups);
    expect(c.decided + c.failed).toBe(c.groups);
    const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: job.results!.jsonl }));
    const lines = (await r.Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l));
    expect(new Set(lines.map((l) => l.groupId)).size).toBe(1000);
    for (const l of lines.filter((x) => x.status === 'FAILED')) expect(l.error).toMatch(/\w/);

    expect(sim.stats.outcomes.rateLimit).toBeGreaterThan(50);
    expect(sim.stats.outcomes.malformed + sim.stats.outcomes.timeout + sim.stats.outcomes.serverError).toBeGreaterThan(10);
    expect(sim.stats.earlyRetries).toBe(0);
    expect(sim.stats.maxInFlight).toBeLessThanOrEqual(CAP);
  }, 240_000);
});
