/**
 * Daily metrics per profile: what was received that day (rows, accepted, rejected, duplicates, groups,
 * decided, failed, pending), coverage of every enrichment stage, the pending backlog and its oldest age,
 * DLQ depths, LLM calls, prompt tokens, cache hit rate and estimated cost, and p50/p95 stage latencies.
 * The profile's quality gates are checked against them; each gate that does not hold raises an alert.
 * Everything is read through Queries on the table's indexes, never a scan.
 */
import { COUNT_NAMES, type Job, type JobCounts, emptyCounts } from '../domain/job.ts';
import { type GATE_METRICS, listProfiles, loadProfile } from '../profiles/profile.ts';
import { pendingKeys } from './backfill.ts';
import type { PipelineDeps } from './deps.ts';

export interface Alert {
  day: string;
  profile: string;
  gate: string;
  metric: string;
  op: string;
  threshold: number;
  value: number | null;
  message: string;
  at: string;
}

/** The day's job counts added up, and what they mean for quality. */
export interface ProfileDayMetrics extends JobCounts {
  day: string;
  profile: string;
  jobs: number;
  failedShare: number;
  /** Share of groups with eligible notes whose stage is done. */
  coverage: Record<string, number>;
  llm: { calls: number; cacheHits: number; cacheHitRate: number; promptTokens: number; estimatedCostUsd: number };
  /** From the end of ingest to the group's enrichment, and from enrichment to its decision. */
  latencyMs: { enrich: { p50: number; p95: number }; decide: { p50: number; p95: number } };
  alerts: Alert[];
}

export interface MetricsReport {
  day: string;
  profiles: ProfileDayMetrics[];
  /** Pending groups (all days), by pending key, with the oldest one's age. */
  backlog: { size: number; oldestAgeHours: number | null; byKey: Record<string, number> };
  dlq: Record<string, number>;
  alerts: Alert[];
}

export interface MetricsOptions {
  day: string;
  /** USD per 1,000 prompt tokens, for the cost estimate. */
  pricePer1kPromptTokens: number;
  dlqDepths: () => Promise<Record<string, number>>;
  now?: Date;
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const ms = (from?: string, to?: string) => (from && to ? Date.parse(to) - Date.parse(from) : undefined);

export async function computeMetrics(deps: PipelineDeps, o: MetricsOptions): Promise<MetricsReport> {
  const now = o.now ?? new Date();
  const next = new Date(Date.parse(`${o.day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const jobsByProfile = new Map<string, Job[]>();
  for await (const job of deps.store.listJobsReceived(`${o.day}T`, `${next}T`)) {
    const list = jobsByProfile.get(job.profile) ?? [];
    list.push(job);
    jobsByProfile.set(job.profile, list);
  }

  const backlog = { size: 0, oldestAgeHours: null as number | null, byKey: {} as Record<string, number> };
  for (const key of pendingKeys()) {
    let after: string | undefined;
    let count = 0;
    do {
      const page = await deps.store.listPending(key, 100, after);
      if (!count && page.items[0]) {
        const age = (now.getTime() - Date.parse(page.items[0].since)) / 3_600_000;
        backlog.oldestAgeHours = Math.max(backlog.oldestAgeHours ?? 0, Math.round(age * 100) / 100);
      }
      count += page.items.length;
      after = page.next;
    } while (after);
    backlog.byKey[key] = count;
    backlog.size += count;
  }
  const dlq = await o.dlqDepths();

  const profiles: ProfileDayMetrics[] = [];
  for (const name of listProfiles()) {
    const jobs = jobsByProfile.get(name) ?? [];
    const profile = loadProfile(name);
    const m: ProfileDayMetrics = {
      day: o.day,
      profile: name,
      jobs: jobs.length,
      ...emptyCounts(),
      failedShare: 0,
      coverage: {},
      llm: { calls: 0, cacheHits: 0, cacheHitRate: 0, promptTokens: 0, estimatedCostUsd: 0 },
      latencyMs: { enrich: { p50: 0, p95: 0 }, decide: { p50: 0, p95: 0 } },
      alerts: [],
    };
    const stages = profile.outputs.map((x) => x.name); // coverage per declared output
    const done: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
    let eligibleGroups = 0;
    let llmGroups = 0;
    const enrichLatency: number[] = [];
    const decideLatency: number[] = [];
    for (const job of jobs) {
      for (const k of COUNT_NAMES) m[k] += job.counts[k];
      for await (const g of deps.store.listGroups(job.jobId)) {
        const e = g.enrichment;
        const enrichMs = ms(job.timings.ingestEndedAt, g.stages.enrich?.at);
        const decideMs = ms(g.stages.enrich?.at, g.stages.decide?.at);
        if (enrichMs !== undefined) enrichLatency.push(enrichMs);
        if (decideMs !== undefined) decideLatency.push(decideMs);
        if (!e || !e.eligibleNoteIds.length) continue;
        eligibleGroups += 1;
        for (const s of stages) if (e.stages[s] === 'done') done[s]! += 1;
        if (e.usage) {
          llmGroups += e.usage.calls || e.usage.cached ? 1 : 0;
          m.llm.calls += e.usage.calls;
          m.llm.promptTokens += e.usage.promptTokens;
          if (e.usage.cached) m.llm.cacheHits += 1;
        }
      }
    }
    for (const s of stages) m.coverage[s] = eligibleGroups ? Math.round((done[s]! / eligibleGroups) * 10_000) / 10_000 : 1;
    m.failedShare = m.groups ? Math.round((m.failed / m.groups) * 10_000) / 10_000 : 0;
    m.llm.cacheHitRate = llmGroups ? Math.round((m.llm.cacheHits / llmGroups) * 10_000) / 10_000 : 0;
    m.llm.estimatedCostUsd = Math.round((m.llm.promptTokens / 1000) * o.pricePer1kPromptTokens * 10_000) / 10_000;
    m.latencyMs = { enrich: { p50: pct(enrichLatency, 50), p95: pct(enrichLatency, 95) }, decide: { p50: pct(decideLatency, 50), p95: pct(decideLatency, 95) } };

    // The metrics a gate can watch: the profile loader accepts exactly these names (GATE_METRICS, coverage.<output>).
    const watched: Record<(typeof GATE_METRICS)[number], number | null> = {
      'backlog.size': backlog.size,
      'backlog.oldestAgeHours': backlog.oldestAgeHours,
      failedShare: m.failedShare,
      'llm.cacheHitRate': m.llm.cacheHitRate,
    };
    const values: Record<string, number | null> = { ...Object.fromEntries(Object.entries(m.coverage).map(([k, v]) => [`coverage.${k}`, v])), ...watched };
    for (const gate of profile.qualityGates) {
      const value = values[gate.metric] ?? null;
      if (value === null || holds(value, gate.op, gate.value)) continue;
      m.alerts.push({
        day: o.day,
        profile: name,
        gate: gate.name,
        metric: gate.metric,
        op: gate.op,
        threshold: gate.value,
        value,
        message: `${name}: ${gate.metric} is ${value}, the gate ${gate.name} needs ${gate.op} ${gate.value}`,
        at: now.toISOString(),
      });
    }
    profiles.push(m);
  }
  const alerts = profiles.flatMap((p) => p.alerts);
  for (const a of alerts) await deps.store.putAlert({ ...a });
  deps.logger.info('metrics computed', { day: o.day, profiles: profiles.length, alerts: alerts.length, backlog: backlog.size });
  return { day: o.day, profiles, backlog, dlq, alerts };
}

function holds(value: number, op: string, threshold: number): boolean {
  if (op === '>=') return value >= threshold;
  if (op === '<=') return value <= threshold;
  if (op === '<') return value < threshold;
  return value > threshold;
}
