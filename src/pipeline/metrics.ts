/**
 * Daily metrics per profile: what was received that day (rows, accepted, rejected, duplicates, groups,
 * decided, failed, pending), coverage of every enrichment stage, the pending backlog and its oldest age,
 * DLQ depths, LLM calls, prompt tokens, cache hit rate and estimated cost, and p50/p95 stage latencies.
 * The profile's quality gates are checked against them; each gate that does not hold raises an alert.
 * Everything is read through Queries on the table's indexes, never a scan.
 */
import { COUNT_NAMES, type Job, type JobCounts, emptyCounts } from '../domain/job.ts';
import { type GATE_METRICS, listProfiles } from '../profiles/profile.ts';
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
  /** Per entities output that resolves: share of its entities merged or accepted rather than left for review. */
  resolved: Record<string, number | null>;
  /** The mean NPMI coherence (-1 to 1) of the profile's latest topic run's topics (null before the first). */
  topicCoherence: number | null;
  /** Per facet column (e.g. platform), per value: groups, eligible groups, coverage per output, decisions. */
  byFacet: Record<string, Record<string, { groups: number; eligible: number; coverage: Record<string, number>; outcomes: Record<string, number> }>>;
  /** Per entities output, its most mentioned entities (at most 20), each by the first facet's values and in all. */
  entities: Record<string, Array<{ name: string; mentions: number; byFacet: Record<string, number> }>>;
  /**
   * Shadow candidates (seed 003), per version: the decided groups it also decided, how many it agreed on, the
   * flips (`active → candidate`: count) and its errors (the active result stood).
   */
  shadow: Record<string, { groups: number; agree: number; agreement: number | null; flips: Record<string, number>; errors: number }>;
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

/** part / whole to 4 decimals; null when there is no whole. */
const share = (part: number, whole: number): number | null => (whole ? Math.round((part / whole) * 10_000) / 10_000 : null);

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
    const profile = await deps.profiles.active(name);
    const m: ProfileDayMetrics = {
      day: o.day,
      profile: name,
      jobs: jobs.length,
      ...emptyCounts(),
      failedShare: 0,
      coverage: {},
      llm: { calls: 0, cacheHits: 0, cacheHitRate: 0, promptTokens: 0, estimatedCostUsd: 0 },
      latencyMs: { enrich: { p50: 0, p95: 0 }, decide: { p50: 0, p95: 0 } },
      resolved: {},
      topicCoherence: null,
      byFacet: Object.fromEntries(profile.facets.map((f) => [f, {}])),
      entities: {},
      shadow: {},
      alerts: [],
    };
    const resolving = profile.outputs.filter((x) => x.type === 'entities' && x.resolve).map((x) => x.name);
    const resolvedCounts = Object.fromEntries(resolving.map((r) => [r, { auto: 0, review: 0 }]));
    const entityOutputs = profile.outputs.filter((x) => x.type === 'entities').map((x) => x.name);
    const mentions = new Map<string, Map<string, Map<string, number>>>(entityOutputs.map((x) => [x, new Map()]));
    const firstFacet = profile.facets[0];
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
        for (const facet of profile.facets) {
          const value = e?.facets?.[facet] ?? '(none)';
          const f = (m.byFacet[facet]![value] ??= { groups: 0, eligible: 0, coverage: Object.fromEntries(stages.map((x) => [x, 0])), outcomes: {} });
          f.groups += 1;
          if (g.decision) f.outcomes[g.decision.outcome] = (f.outcomes[g.decision.outcome] ?? 0) + 1;
          if (e?.eligibleNoteIds.length) {
            f.eligible += 1;
            for (const x of stages) if (e.stages[x] === 'done') f.coverage[x]! += 1; // counts now, shares below
          }
        }
        if (g.shadow) {
          const s = (m.shadow[g.shadow.version] ??= { groups: 0, agree: 0, agreement: null, flips: {}, errors: 0 });
          if (g.shadow.error) s.errors += 1;
          else if (g.decision) {
            s.groups += 1;
            if (g.shadow.outcome === g.decision.outcome) s.agree += 1;
            else s.flips[`${g.decision.outcome} → ${g.shadow.outcome}`] = (s.flips[`${g.decision.outcome} → ${g.shadow.outcome}`] ?? 0) + 1;
          }
        }
        if (!e || !e.eligibleNoteIds.length) continue;
        eligibleGroups += 1;
        for (const s of stages) if (e.stages[s] === 'done') done[s]! += 1;
        for (const [output, r] of Object.entries(e.resolution ?? {})) {
          const c = resolvedCounts[output];
          if (!c) continue;
          c.auto += r.merged.length + r.accepted.length;
          c.review += r.review.length;
        }
        const where = (firstFacet && e.facets?.[firstFacet]) || '(none)';
        for (const output of entityOutputs) {
          const found = e.outputs[output] as Record<string, string[]> | undefined;
          for (const name of new Set(Object.values(found ?? {}).flat())) {
            const byPlace = mentions.get(output)!.get(name) ?? new Map<string, number>();
            byPlace.set(where, (byPlace.get(where) ?? 0) + 1);
            mentions.get(output)!.set(name, byPlace);
          }
        }
        if (e.usage) {
          llmGroups += e.usage.calls || e.usage.cached ? 1 : 0;
          m.llm.calls += e.usage.calls;
          m.llm.promptTokens += e.usage.promptTokens;
          if (e.usage.cached) m.llm.cacheHits += 1;
        }
      }
    }
    for (const s of stages) m.coverage[s] = share(done[s]!, eligibleGroups) ?? 1;
    for (const s of Object.values(m.shadow)) s.agreement = share(s.agree, s.groups);
    for (const values of Object.values(m.byFacet)) for (const f of Object.values(values)) for (const x of stages) f.coverage[x] = share(f.coverage[x]!, f.eligible) ?? 1;
    for (const [output, c] of Object.entries(resolvedCounts)) m.resolved[output] = share(c.auto, c.auto + c.review);
    for (const [output, names] of mentions) {
      m.entities[output] = [...names]
        .map(([name, byPlace]) => ({ name, mentions: [...byPlace.values()].reduce((a, b) => a + b, 0), byFacet: Object.fromEntries(byPlace) }))
        .sort((a, b) => b.mentions - a.mentions || a.name.localeCompare(b.name))
        .slice(0, 20);
    }
    const topics = await deps.store.latestTopicRun(name);
    const coherences = (topics?.topics ?? []).flatMap((t) => (t.npmi === undefined ? [] : [t.npmi]));
    m.topicCoherence = coherences.length ? Math.round((coherences.reduce((a, b) => a + b, 0) / coherences.length) * 10_000) / 10_000 : null;
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
      'topics.coherence': m.topicCoherence,
    };
    const values: Record<string, number | null> = {
      ...Object.fromEntries(Object.entries(m.coverage).map(([k, v]) => [`coverage.${k}`, v])),
      ...Object.fromEntries(Object.entries(m.resolved).map(([k, v]) => [`resolved.${k}`, v])),
      ...watched,
    };
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
