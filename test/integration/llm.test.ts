// Under test: the OpenAI provider through the real `openai` client against the loopback simulator —
// structured outputs, the in-flight cap, Retry-After honoured under injected faults, bad answers as
// per-group errors — and the cache and the shared circuit breaker in DynamoDB (dynalite).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCircuitBreaker, createLlmCache } from '../../src/adapters/dynamodb-llm-state.ts';
import type { EnrichmentRequest, GroupNote } from '../../src/domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { chunkNotes, retrieveChunks } from '../../src/domain/enrich/retrieval.ts';
import { LlmAnswerError, LlmUnavailableError, answerSchema, createOpenAiProvider } from '../../src/llm/openai-provider.ts';
import { createResilientProvider } from '../../src/llm/resilient-provider.ts';
import { createTopicNamer } from '../../src/llm/topic-namer.ts';
import { type Simulator, startSimulator } from '../../src/llm/simulator.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

const profile = loadProfile('claims');
const THEMES = [
  'A pipe burst in the upstairs bathroom and water came through the kitchen ceiling; the drywall is saturated.',
  'Hail damaged the roof shingles and a window on the north side; Summit Roofing gave an estimate.',
  'Fire started in the kitchen and smoke damaged the living room walls; the fire department attended.',
  'The insured reports theft of a bicycle from the garage; no damage to the building itself.',
];

function request(i: number, stages: EnrichmentRequest['stages'] = profile.outputs.map((o) => o.name)): EnrichmentRequest {
  const notes: GroupNote[] = [0, 1].map((n) => ({
    noteId: `${i}-${n}`,
    line: n + 2,
    values: { claim_id: `C-${i}`, lob_code: '15' },
    attributes: {},
    text: `${THEMES[(i + n) % THEMES.length]} Claim reference ${i}. Adjuster Maria Patel called the insured on day ${n + 1}.`,
  }));
  const chunks = chunkNotes(notes.map((n) => ({ noteId: n.noteId, text: n.text })), profile.enrichment.chunk.size, profile.enrichment.chunk.overlap);
  return { profile, groupId: `C-${i}`, notes, retrieved: retrieveChunks(chunks, profile.enrichment.query, profile.enrichment.topK), stages };
}

const settings = (sim: Simulator, extra: Partial<Parameters<typeof createOpenAiProvider>[0]> = {}) => ({
  apiKey: 'sk-simulated',
  baseURL: sim.url,
  model: 'gpt-sim',
  maxInFlight: 4,
  timeoutMs: 2_000,
  maxRetries: 6,
  ...extra,
});

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ seed: 7 });
});
afterAll(async () => {
  await sim?.stop();
});

describe('OpenAI provider against the simulator', () => {
  it('returns the profile schema’s structured output, the same for the same input', async () => {
    sim.configure({ faults: { rateLimit: 0, serverError: 0, timeout: 0, malformed: 0 }, latencyMs: 0 });
    const provider = createOpenAiProvider(settings(sim));
    const a = await provider.enrich(request(1));
    const b = await provider.enrich(request(1));
    expect(a).toEqual(b);
    const causeCode = profile.outputs.find((o) => o.name === 'causeCode')!;
    const codes = causeCode.type === 'label' ? [causeCode.fallback.value, ...causeCode.labels.map((l) => l.value)] : [];
    expect(codes).toContain(a.outputs.causeCode);
    expect((a.outputs.summary as string).length).toBeGreaterThan(0);
    // every declared output is answered, each of its type
    expect(Object.keys(a.outputs).sort()).toEqual(profile.outputs.map((o) => o.name).sort());
    expect(a.outputs.sentiment).toMatchObject({ label: expect.stringMatching(/^(negative|neutral|positive)$/) });
    expect(typeof a.outputs.buildingDamageDenied).toBe('boolean');
    expect(a.usage).toMatchObject({ calls: 1 });
    expect(a.usage!.promptTokens).toBeGreaterThan(50);
    // the schema is the profile's, validated again on return
    expect((answerSchema(profile).shape.causeCode as unknown as { options: string[] }).options).toEqual(codes);
  });

  it('under 20% 429, 5% 5xx, 2% timeouts and 2% malformed answers: every call ends, no retry before Retry-After, in-flight within the cap', async () => {
    sim.resetStats();
    sim.configure({ faults: { rateLimit: 0.2, serverError: 0.05, timeout: 0.02, malformed: 0.02 }, latencyMs: 20, retryAfterSeconds: 1 });
    const provider = createOpenAiProvider(settings(sim, { timeoutMs: 500 }));
    const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => provider.enrich(request(100 + i))));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    for (const err of failed) expect(err instanceof LlmAnswerError || err instanceof LlmUnavailableError).toBe(true);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(50);
    expect(sim.stats.outcomes.rateLimit).toBeGreaterThan(0);
    expect(sim.stats.retries).toBeGreaterThan(0);
    expect(sim.stats.earlyRetries).toBe(0);
    expect(sim.stats.maxInFlight).toBeLessThanOrEqual(4);
    expect(sim.stats.maxInFlight).toBeGreaterThan(1);
  });

  it('counts a retry as early only against the Retry-After its own attempt was owed, not one owed to a second copy of the same request in flight', async () => {
    sim.resetStats();
    sim.configure({ faults: { rateLimit: 1, serverError: 0, timeout: 0, malformed: 0 }, latencyMs: 0, retryAfterSeconds: 5 });
    const body = JSON.stringify({ model: 'gpt-sim', messages: [{ role: 'user', content: 'the same request, sent by two copies of one message' }] });
    const send = (retry: number) => fetch(`${sim.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-stainless-retry-count': String(retry) }, body }).then((r) => r.status);
    // Copy B's first attempt meets a 429 (Retry-After 5 s); copy A, further on, sends its second retry at once.
    expect(await send(0)).toBe(429);
    expect(await send(2)).toBe(429);
    expect(sim.stats.retries).toBe(1);
    expect(sim.stats.earlyRetries).toBe(0);
    // Copy B's own first retry, sent at once: early.
    expect(await send(1)).toBe(429);
    expect(sim.stats.earlyRetries).toBe(1);
  });

  it('meets the same 429s and 5xx on the same retries when a request is sent again afresh (a redelivery, a restart), but not the same malformed answer', async () => {
    sim.configure({ faults: { rateLimit: 0.3, serverError: 0.2, timeout: 0, malformed: 0 }, latencyMs: 0, retryAfterSeconds: 1 });
    const provider = createOpenAiProvider(settings(sim, { maxRetries: 1 }));
    const ids = Array.from({ length: 24 }, (_, i) => 300 + i);
    // Each round sends every request afresh (the SDK's retry count from 0): which requests fail, and the faults met.
    const round = async () => {
      const before = { ...sim.stats.outcomes };
      const ended = (await Promise.allSettled(ids.map((i) => provider.enrich(request(i))))).map((r) => r.status);
      const after = sim.stats.outcomes;
      return { ended, faults: { rateLimit: after.rateLimit - before.rateLimit, serverError: after.serverError - before.serverError, malformed: after.malformed - before.malformed } };
    };
    const first = await round();
    expect(first.ended).toContain('rejected');
    expect(first.ended).toContain('fulfilled');
    expect(first.faults.rateLimit + first.faults.serverError).toBeGreaterThan(ids.length / 2);
    expect(await round()).toEqual(first);

    sim.configure({ faults: { rateLimit: 0, serverError: 0, timeout: 0, malformed: 0.5 } });
    const a = await round();
    const b = await round();
    expect(a.faults.malformed).toBeGreaterThan(0);
    // A group its malformed answer failed is answered on a later delivery: the two rounds fail different requests.
    expect(a.ended.some((status, i) => status === 'rejected' && b.ended[i] === 'fulfilled')).toBe(true);
  });

  it('turns a malformed answer into an error for that group, not a crash', async () => {
    sim.configure({ faults: { rateLimit: 0, serverError: 0, timeout: 0, malformed: 1 }, latencyMs: 0 });
    const provider = createOpenAiProvider(settings(sim));
    await expect(provider.enrich(request(2))).rejects.toBeInstanceOf(LlmAnswerError);
  });
});

describe('topic naming', () => {
  it('names every topic of a run in one structured call, the same names for the same topics', async () => {
    sim.resetStats();
    sim.configure({ faults: { rateLimit: 0, serverError: 0, timeout: 0, malformed: 0 }, down: false });
    const namer = createTopicNamer({ apiKey: 'sk-simulated', baseURL: sim.url, model: 'gpt-sim', timeoutMs: 2_000, maxRetries: 0 });
    const topics = [
      { terms: ['fire', 'smoke', 'kitchen'], examples: ['A kitchen fire damaged the walls and the ceiling of the house.'] },
      { terms: ['hail', 'roof', 'storm'], examples: ['Hail broke the roof shingles and a window during the storm last night.'] },
    ];
    const names = await namer.name(topics, 'support tickets, by what each asks about');
    expect(names).toHaveLength(2);
    for (const n of names) expect(n.length).toBeGreaterThan(0);
    expect(names.every((n) => n.length <= 60)).toBe(true);
    expect(await namer.name(topics, 'support tickets, by what each asks about')).toEqual(names);
    expect(sim.stats.calls).toBe(2);
  });
});

describe('cache and shared circuit breaker in DynamoDB', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT' });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  function resilient(name: string, promptVersion = 'enrich-v1') {
    const breaker = createCircuitBreaker(rt.clients.dynamodb, rt.names.table, { name, threshold: 3, cooldownMs: 3_000, probeTimeoutMs: 5_000 });
    const provider = createResilientProvider({
      offline: createOfflineProvider(),
      llm: createOpenAiProvider(settings(sim, { maxRetries: 0 })),
      cache: createLlmCache(rt.clients.dynamodb, rt.names.table),
      breaker,
      promptVersionOf: () => promptVersion,
    });
    return { provider, breaker };
  }

  it('makes no call for an input it has answered; a changed prompt version calls again', async () => {
    sim.resetStats();
    sim.configure({ faults: { rateLimit: 0, serverError: 0, timeout: 0, malformed: 0 }, down: false });
    const { provider } = resilient('cache-test');
    const first = await provider.enrich(request(300));
    const again = await provider.enrich(request(300));
    expect(sim.stats.calls).toBe(1);
    expect(again.usage).toMatchObject({ calls: 0, cached: true });
    expect(again.outputs.summary).toBe(first.outputs.summary);
    await resilient('cache-test', 'enrich-v2').provider.enrich(request(300));
    expect(sim.stats.calls).toBe(2);
  });

  it('opens after the configured failures, defers groups to pending_llm without calling, and one probe closes it after the cool-down', async () => {
    sim.resetStats();
    sim.configure({ down: true });
    const { provider, breaker } = resilient('breaker-test');
    const outputs = [];
    for (let i = 0; i < 8; i++) outputs.push(await provider.enrich(request(400 + i)));
    expect(sim.stats.calls).toBe(3); // the threshold; after that no call goes out
    expect((await breaker.read()).state).toBe('open');
    for (const o of outputs) {
      expect(o.deferred).toEqual({ stages: ['lossDescription', 'summary'], reason: 'llm_unavailable' });
      expect(o.provider).toBe('offline');
      expect(o.outputs.causeCode).toBeDefined(); // the cheap results are there now
    }
    // Concurrent invocations after the cool-down: exactly one becomes the probe.
    sim.configure({ down: false });
    // (A cool-down long enough that the eight calls above end within it on a busy machine.)
    await new Promise((r) => setTimeout(r, 3_100));
    const permits = await Promise.all(Array.from({ length: 5 }, () => breaker.permit(Date.now())));
    expect(permits.filter((p) => p === 'probe')).toHaveLength(1);
    await breaker.recordSuccess('probe');
    expect((await breaker.read()).state).toBe('closed');
    const after = await provider.enrich(request(500));
    expect(after.deferred).toBeUndefined();
    expect(after.provider).toBeUndefined(); // served by the configured LLM provider
    expect(sim.stats.calls).toBe(4);
  });
});
