/**
 * Decides a group with the profile's rules (json-rules-engine), in rule order: the first rule that
 * holds gives the outcome. Every rule's every condition is kept as evidence: whether it held and the
 * fact value it saw. The decision records which enrichment stages it was based on, so a backfill that
 * completes pending stages can decide again.
 */
import { Engine, type RuleProperties, type RuleResult } from 'json-rules-engine';
import * as z from 'zod';
import { documentFacts } from '../../profiles/documents.ts';
import type { Profile } from '../../profiles/profile.ts';
import type { Enrichment } from '../enrich/enrich-group.ts';

export const conditionEvidenceSchema = z.object({
  fact: z.string(),
  operator: z.string(),
  /** The value compared against (a fact reference is resolved; absent when it names a fact the group lacks). */
  value: z.unknown().optional(),
  /** What the fact was for this group (null when the group lacks it, e.g. a pending stage). */
  factValue: z.unknown(),
  held: z.boolean(),
});
export type ConditionEvidence = z.infer<typeof conditionEvidenceSchema>;

export const ruleEvidenceSchema = z.object({
  rule: z.string(),
  held: z.boolean(),
  conditions: z.array(conditionEvidenceSchema),
});
export type RuleEvidence = z.infer<typeof ruleEvidenceSchema>;

/** A group's decision as stored and as written in its results line. */
export const decisionSchema = z.object({
  /** The profile's decision name (its rules file's `decision`). */
  name: z.string(),
  /** One of the profile's outcomes, or `undecided` when no rule held. */
  outcome: z.string(),
  /** The rule that held first ('' when none did). */
  rule: z.string(),
  reason: z.string(),
  /** The outputs that were done when deciding. */
  basedOn: z.array(z.string()),
  evidence: z.array(ruleEvidenceSchema),
});
export type Decision = z.infer<typeof decisionSchema>;

/**
 * The facts the rules see: `eligibleRecordCount`, each output under its name (a sentiment as its label), and the
 * profile's declared facts (constants, counts). An output not produced (pending, or no eligible record) is an
 * undefined fact, so a rule on it does not hold.
 */
export function decisionFacts(profile: Profile, enrichment: Enrichment): Record<string, unknown> {
  const facts: Record<string, unknown> = { eligibleRecordCount: enrichment.eligibleNoteIds.length };
  for (const o of profile.outputs) {
    const v = enrichment.outputs[o.name];
    facts[o.name] = o.type === 'sentiment' && v !== undefined ? (v as { label: string }).label : v;
  }
  // A documents profile's group-level facts, rolled up when its documents settled (`src/domain/documents/rollup.ts`).
  for (const name of documentFacts(profile.documents)) facts[name] = enrichment.outputs[name];
  for (const f of profile.facts) {
    if ('value' in f) {
      facts[f.name] = f.value;
      continue;
    }
    const [output, kind] = f.count.split('.') as [string, string | undefined];
    const v = enrichment.outputs[output] as unknown[] | Record<string, unknown[]> | undefined;
    facts[f.name] = v === undefined ? undefined : kind ? ((v as Record<string, unknown[]>)[kind]?.length ?? 0) : (v as unknown[]).length;
  }
  return facts;
}

// json-rules-engine keeps a run's status on the Engine: when one run finishes it marks the engine FINISHED and a
// run still in flight on it skips its remaining rules (the group comes out `undecided`). So each run takes an
// engine no other run is using: the idle ones of a profile are kept for the next.
const idle = new WeakMap<Profile, Engine[]>();

function newEngine(profile: Profile): Engine {
  const engine = new Engine([], { allowUndefinedFacts: true });
  const n = profile.rules.rules.length;
  profile.rules.rules.forEach((rule, i) => {
    // Distinct descending priorities make the engine evaluate rules in the profile's order.
    engine.addRule({ name: rule.name, priority: n - i, conditions: rule.conditions, event: rule.event } as RuleProperties);
  });
  return engine;
}

async function runRules(profile: Profile, facts: Record<string, unknown>) {
  let pool = idle.get(profile);
  if (!pool) idle.set(profile, (pool = []));
  const engine = pool.pop() ?? newEngine(profile);
  try {
    return await engine.run({ ...facts });
  } finally {
    pool.push(engine);
  }
}

/**
 * Runs the profile's rules over a group's enrichment.
 * @example const d = await decideGroup(profile, enrichment); d.outcome === 'yes'
 */
export async function decideGroup(profile: Profile, enrichment: Enrichment): Promise<Decision> {
  const facts = decisionFacts(profile, enrichment);
  const { results, failureResults } = await runRules(profile, facts);
  const byName = new Map<string, RuleResult>();
  for (const r of [...results, ...failureResults]) byName.set(r.name as string, r);
  const evidence: RuleEvidence[] = profile.rules.rules.map((rule) => {
    const r = byName.get(rule.name);
    return { rule: rule.name, held: Boolean(r?.result), conditions: r ? flattenConditions(r.conditions, facts) : [] };
  });
  const firstHeld = profile.rules.rules.find((rule) => byName.get(rule.name)?.result);
  const basedOn = Object.entries(enrichment.stages)
    .filter(([, status]) => status === 'done')
    .map(([stage]) => stage);
  if (!firstHeld) {
    return { name: profile.rules.decision, outcome: 'undecided', rule: '', reason: 'no rule held', basedOn, evidence };
  }
  return {
    name: profile.rules.decision,
    outcome: firstHeld.event.type,
    rule: firstHeld.name,
    reason: firstHeld.event.params.reason,
    basedOn,
    evidence,
  };
}

interface EngineCondition {
  all?: EngineCondition[];
  any?: EngineCondition[];
  not?: EngineCondition;
  fact?: string;
  operator?: string;
  value?: unknown;
  factResult?: unknown;
  valueResult?: unknown;
  result?: boolean;
}

function flattenConditions(node: unknown, facts: Record<string, unknown>): ConditionEvidence[] {
  const c = node as EngineCondition;
  if (c.all) return c.all.flatMap((x) => flattenConditions(x, facts));
  if (c.any) return c.any.flatMap((x) => flattenConditions(x, facts));
  if (c.not) return flattenConditions(c.not, facts);
  const value = isFactRef(c.value) ? (c.valueResult ?? facts[c.value.fact]) : c.value;
  return [
    {
      fact: c.fact!,
      operator: c.operator!,
      value,
      // null, not undefined, so that a fact the group lacks still shows in stored evidence
      factValue: ('factResult' in c ? c.factResult : facts[c.fact!]) ?? null,
      held: Boolean(c.result),
    },
  ];
}

function isFactRef(v: unknown): v is { fact: string } {
  return typeof v === 'object' && v !== null && 'fact' in v;
}
