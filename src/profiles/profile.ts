/**
 * Profiles are data (`profiles/<name>/`): columns and aliases, the group key, cleaning, eligibility,
 * retrieval, the outputs a group yields and the facts the rules see (`outputs.ts`), and the rules. This module validates that data and compiles it once.
 * Adding a profile is adding a folder; no code changes.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { cronPattern } from '../topology/cron.ts';
import { checkDocuments, documentFacts, documentsSchema } from './documents.ts';
import { type FactSpec, type OutputSpec, checkOutputs, factNames, factSchema, outputSchema } from './outputs.ts';

const columnSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  type: z.enum(['string', 'text', 'date']),
  required: z.boolean(),
  maxLength: z.number().int().positive().optional(),
  aliases: z.array(z.string()).default([]),
});

const ruleConditionSchema: z.ZodType<unknown> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(ruleConditionSchema) }),
    z.object({ any: z.array(ruleConditionSchema) }),
    z.object({ not: ruleConditionSchema }),
    z.object({ fact: z.string(), operator: z.string(), value: z.unknown(), path: z.string().optional() }),
  ]),
);

export const rulesSchema = z.object({
  decision: z.string(),
  outcomes: z.array(z.string()).min(1),
  rules: z
    .array(
      z.object({
        name: z.string(),
        description: z.string(),
        conditions: z.union([
          z.object({ all: z.array(ruleConditionSchema) }),
          z.object({ any: z.array(ruleConditionSchema) }),
        ]),
        event: z.object({ type: z.string(), params: z.object({ reason: z.string() }) }),
      }),
    )
    .min(1),
});

export const profileFileSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  description: z.string(),
  columns: z.array(columnSchema).min(1),
  keepOtherColumns: z.boolean(),
  groupKey: z.string(),
  recordKey: z.array(z.string()).min(1),
  textField: z.string(),
  orderBy: z.string().optional(),
  cleaning: z.object({
    unicode: z.enum(['NFC', 'NFKC']).optional(),
    collapseWhitespace: z.boolean(),
    /** `keep`: line breaks stay (CRLF and CR become LF) and collapsing works within each line; `collapse`: they become spaces. */
    lineBreaks: z.enum(['keep', 'collapse']).default('keep'),
    stripPatterns: z.array(z.string()).default([]),
  }),
  eligibility: z.object({
    minTextLength: z.number().int().min(0),
    allowedValues: z.record(z.string(), z.array(z.string())).default({}),
  }),
  enrichment: z.object({
    chunk: z.object({ size: z.number().int().min(100), overlap: z.number().int().min(0) }),
    topK: z.number().int().min(1),
    /** What retrieval looks for in long text: the chunks the text outputs and the LLM read. */
    query: z.string(),
    /** The LLM prompt in use: `prompts/<promptVersion>.md` in the profile's folder. */
    promptVersion: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
  }),
  /**
   * The language of the records for the extractors: negation words and how far back they reach (tokens); words or
   * phrases that negate a match they follow ("the parcel arrived intact") and how far forward, within its clause.
   */
  language: z.object({
    negations: z.array(z.string()),
    negationWindow: z.number().int().min(1).max(10),
    negationsAfter: z.array(z.string()).default([]),
    negationWindowAfter: z.number().int().min(1).max(10).default(6),
  }),
  /** What a group yields (`outputs.ts`); the rules see each output as a fact of its name. */
  outputs: z.array(outputSchema).min(1),
  /** Facts the rules see beyond the outputs: constants and counts. */
  facts: z.array(factSchema).default([]),
  /**
   * Columns a record takes from the drop key when it has no value of its own: column → which folder below the
   * profile's (0 the first), e.g. `{ "platform": 0 }` reads `incoming/social/<platform>/file.csv`.
   */
  keyColumns: z.record(z.string(), z.int().min(0)).default({}),
  /**
   * Backfills at set times (EventBridge `cron()` in UTC, one rule per schedule and stage; `sluice dev` fires them):
   * the expensive `outputs` (default all) of the groups whose facets match `where`. A profile with schedules is
   * backfilled by them only, not by the hourly backfill.
   */
  schedules: z
    .array(
      z
        .object({
          name: z.string().regex(/^[a-z][a-z0-9-]{0,40}$/, 'lower case letters, digits and dashes'),
          expression: z.string(),
          description: z.string().optional(),
          backfill: z.object({ outputs: z.array(z.string()).min(1).optional(), where: z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)])).default({}) }).strict(),
        })
        .strict(),
    )
    .default([]),
  /** Columns whose value a group carries (its records' most frequent) for metrics per value, e.g. per platform. */
  facets: z.array(z.string()).default([]),
  /** The rules file (json-rules-engine rules, in order), relative to the profile's folder. */
  rules: z.string(),
  /** Topic discovery: runs once at least `minRecords` groups were enriched since the last run. */
  topics: z
    .object({
      minRecords: z.number().int().min(1).default(1000),
      k: z.number().int().min(2).default(7),
      topTerms: z.number().int().min(3).default(6),
      seed: z.number().int().default(42),
      /** What the texts are and what a topic's name should say, for the LLM that names topics. */
      about: z.string().min(1).default('record summaries, by what each cluster is about'),
    })
    .prefault({}),
  /**
   * The records are documents (`documents.ts`): a drop is a manifest of groups and where their documents are; each
   * document is enriched as its own message and its group rolled up once all have settled.
   */
  documents: documentsSchema.optional(),
  /** Checked by `sluice metrics` and the metrics λ: a gate that does not hold raises an alert. */
  qualityGates: z
    .array(z.object({ name: z.string(), metric: z.string(), op: z.enum(['>=', '<=', '<', '>']), value: z.number() }))
    .default([]),
});

export type ProfileColumn = z.infer<typeof columnSchema>;
export type RuleSet = z.infer<typeof rulesSchema>;

/** A profile's data as its folder holds it: profile.json, its rules file, and the prompt of its prompt version. */
export interface ProfileData {
  profile: Record<string, any>;
  rules: Record<string, any>;
  prompt: string;
}

export interface Profile extends Omit<z.infer<typeof profileFileSchema>, 'rules'> {
  rules: RuleSet;
  /** The data it was compiled from (what a version stores; `sluice profile diff` compares it). */
  data: ProfileData;
  /** A hash of the profile's data (profile.json, rules.json, its prompt): jobs, results and score runs record it. */
  version: string;
  /** Lower-cased header or alias → canonical column name. */
  headerMap: Map<string, string>;
  /** The profile's folder (prompts are read from `prompts/<version>.md` in it). */
  folder: string;
}

/**
 * A versioned prompt of the profile.
 * @throws Error naming the file when the version has no prompt file.
 */
export function loadPrompt(profile: Profile, version = profile.enrichment.promptVersion): string {
  // A version's own prompt travels with its data (a pushed version has no folder of its own).
  if (version === profile.enrichment.promptVersion && profile.data.prompt) return profile.data.prompt;
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(version)) throw new Error(`not a prompt version: ${version}`);
  const file = join(profile.folder, 'prompts', `${version}.md`);
  if (!existsSync(file)) throw new Error(`profile ${profile.name}: no prompt ${version} (${file})`);
  return readFileSync(file, 'utf8');
}

/**
 * Where a folder of run-time data lives (profiles, benchmarks): the environment variable's path, the
 * repository's folder, or the folder shipped beside a bundle (`lib/bundling.ts` copies it there).
 */
export function runtimeDataDir(folder: string, envVar: string): string {
  const candidates = [process.env[envVar], resolve(import.meta.dirname, '../..', folder), resolve(import.meta.dirname, folder)].filter((d): d is string => Boolean(d));
  return candidates.find((d) => existsSync(d)) ?? candidates[0]!;
}

/** Where profiles live: `SLUICE_PROFILES_DIR`, the repository's `profiles/`, or `profiles/` beside a bundle. */
export function profilesDir(): string {
  return runtimeDataDir('profiles', 'SLUICE_PROFILES_DIR');
}

export function listProfiles(dir = profilesDir()): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'profile.json')))
    .map((e) => e.name)
    .sort();
}

const cache = new Map<string, Profile>();

/**
 * Loads, validates and compiles a profile.
 * @example const tickets = loadProfile('tickets');
 * @throws Error naming the profile, the file and the problem, or listing the known profiles.
 */
export function loadProfile(name: string, dir = profilesDir()): Profile {
  const cacheKey = `${dir}\0${name}`;
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const folder = join(dir, name);
  const file = join(folder, 'profile.json');
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !existsSync(file)) {
    throw new UnknownProfileError(name, listProfiles(dir));
  }
  const promptFile = (p: { enrichment: { promptVersion: string } }) => join(folder, 'prompts', `${p.enrichment.promptVersion}.md`);
  const parsed = parseFile(file, profileFileSchema);
  const prompt = existsSync(promptFile(parsed)) ? readFileSync(promptFile(parsed), 'utf8') : '';
  const profile = compileProfile(name, folder, readJson(file), readJson(join(folder, parsed.rules)), prompt);
  cache.set(cacheKey, profile);
  return profile;
}

/** The content hash of a profile's data: the same data gives the same version wherever it is compiled. */
export function profileVersion(profileJson: unknown, rulesJson: unknown, prompt: string): string {
  return `v-${createHash('sha256').update(canonical(profileJson)).update('\0').update(canonical(rulesJson)).update('\0').update(prompt).digest('hex').slice(0, 12)}`;
}

/** JSON with keys sorted, so formatting and key order do not change a version. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/**
 * Validates and compiles a profile from its data (profile.json and rules.json as parsed JSON), as `loadProfile`
 * does from its folder: the improvement loop compiles candidate versions this way without writing them.
 * @throws Error naming the file (in `folder`), the path and the problem.
 */
export function compileProfile(name: string, folder: string, profileJson: unknown, rulesJson: unknown, prompt = ''): Profile {
  const file = join(folder, 'profile.json');
  const raw = check(file, profileJson, profileFileSchema);
  const rules = check(join(folder, raw.rules), rulesJson, rulesSchema);
  const headerMap = new Map<string, string>();
  for (const c of raw.columns) {
    for (const alias of [c.name, ...c.aliases]) headerMap.set(alias.toLowerCase(), c.name);
  }
  const columnNames = new Set(raw.columns.map((c) => c.name));
  for (const field of [raw.groupKey, raw.textField, ...raw.recordKey, ...Object.keys(raw.keyColumns), ...raw.facets]) {
    if (!columnNames.has(field)) throw new Error(`profile ${name}: ${field} is not one of its columns`);
  }
  for (const r of rules.rules) {
    if (!rules.outcomes.includes(r.event.type)) {
      throw new Error(`profile ${name}: rule ${r.name} decides "${r.event.type}", not one of ${rules.outcomes.join(', ')}`);
    }
  }
  const refuse = (where: string, problems: Array<[string, string]>) => {
    if (problems.length) throw new Error(`${where}: ${problems.map(([path, why]) => `${path}: ${why}`).join('; ')}`);
  };
  refuse(file, checkOutputs(raw.outputs, raw.facts));
  if (raw.documents) refuse(file, checkDocuments(raw.documents, new Map(raw.outputs.map((o) => [o.name, o])), columnNames));
  refuse(join(folder, raw.rules), unknownFacts(rules, new Set([...factNames(raw.outputs, raw.facts), ...documentFacts(raw.documents)])));
  refuse(file, unknownMetrics(raw.qualityGates, raw.outputs));
  refuse(file, scheduleProblems(raw));
  const data = { profile: profileJson as Record<string, any>, rules: rulesJson as Record<string, any>, prompt };
  return { ...raw, rules, headerMap, folder, data, version: profileVersion(profileJson, rulesJson, prompt) };
}

export class UnknownProfileError extends Error {
  readonly profile: string;
  readonly known: string[];
  constructor(profile: string, known: string[]) {
    super(`unknown profile "${profile}" (known: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownProfileError';
    this.profile = profile;
    this.known = known;
  }
}

function parseFile<T>(file: string, schema: z.ZodType<T>): T {
  return check(file, readJson(file), schema);
}

function check<T>(file: string, json: unknown, schema: z.ZodType<T>): T {
  const result = schema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${file}: ${issues}`);
  }
  return result.data;
}

/** Each fact a rule names (directly or as the value to compare with) that the profile does not declare. */
function unknownFacts(rules: RuleSet, known: Set<string>): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const visit = (node: unknown, path: string) => {
    if (Array.isArray(node)) return node.forEach((x, i) => visit(x, `${path}.${i}`));
    if (typeof node !== 'object' || node === null) return;
    const c = node as Record<string, unknown>;
    for (const key of ['all', 'any', 'not'] as const) if (key in c) visit(c[key], `${path}.${key}`);
    if (typeof c.fact === 'string' && !known.has(c.fact)) problems.push([`${path}.fact`, `unknown fact "${c.fact}" (known: ${[...known].join(', ')})`]);
    const ref = c.value as { fact?: unknown } | undefined;
    if (typeof ref?.fact === 'string' && !known.has(ref.fact)) problems.push([`${path}.value.fact`, `unknown fact "${ref.fact}" (known: ${[...known].join(', ')})`]);
  };
  rules.rules.forEach((r, i) => visit(r.conditions, `rules.${i}.conditions`));
  return problems;
}

/** The metrics a quality gate can watch besides each output's coverage (`coverage.<output>`): `sluice metrics` computes them. */
export const GATE_METRICS = ['backlog.size', 'backlog.oldestAgeHours', 'failedShare', 'llm.cacheHitRate', 'topics.coherence'] as const;

function scheduleProblems(raw: z.infer<typeof profileFileSchema>): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const expensive = new Set(raw.outputs.filter((o) => o.cost === 'expensive').map((o) => o.name));
  const names = new Set<string>();
  raw.schedules.forEach((sch, i) => {
    if (names.has(sch.name)) problems.push([`schedules.${i}.name`, `"${sch.name}" is declared twice`]);
    names.add(sch.name);
    const cron = cronPattern(sch.expression);
    if ('error' in cron) problems.push([`schedules.${i}.expression`, `${cron.error} (e.g. cron(0 2 * * ? *), 02:00 UTC daily)`]);
    (sch.backfill.outputs ?? []).forEach((o, k) => {
      if (!expensive.has(o)) problems.push([`schedules.${i}.backfill.outputs.${k}`, `"${o}" is not an expensive output (${[...expensive].join(', ') || 'none'})`]);
    });
    for (const facet of Object.keys(sch.backfill.where)) if (!raw.facets.includes(facet)) problems.push([`schedules.${i}.backfill.where.${facet}`, `not a facet of the profile (${raw.facets.join(', ') || 'none'})`]);
  });
  return problems;
}

function unknownMetrics(gates: Array<{ metric: string }>, outputs: OutputSpec[]): Array<[string, string]> {
  const known = new Set<string>([
    ...GATE_METRICS,
    ...outputs.map((o) => `coverage.${o.name}`),
    ...outputs.filter((o) => o.type === 'entities' && o.resolve).map((o) => `resolved.${o.name}`),
  ]);
  return gates.flatMap((g, i): Array<[string, string]> => (known.has(g.metric) ? [] : [[`qualityGates.${i}.metric`, `unknown metric "${g.metric}" (known: ${[...known].join(', ')})`]]));
}

export type { FactSpec, OutputSpec };

/** What a profile's scheduled backfill works on: its expensive outputs (or those named), groups whose facets match. */
export const profileBackfillSchema = z
  .object({ profile: z.string(), outputs: z.array(z.string()).min(1), where: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}) })
  .strict();
export type ProfileBackfill = z.infer<typeof profileBackfillSchema>;

/** Every profile's schedules, named `<profile>-<schedule>`: the stack makes a rule of each, `sluice dev` fires them. */
export function profileSchedules(): Array<{ id: string; expression: string; description: string; backfill: ProfileBackfill }> {
  return listProfiles().flatMap((name) => {
    const p = loadProfile(name);
    const expensive = p.outputs.filter((o) => o.cost === 'expensive').map((o) => o.name);
    return p.schedules.map((sch) => ({
      id: `${name}-${sch.name}`,
      expression: sch.expression,
      description: sch.description ?? `backfill of ${name}`,
      backfill: { profile: name, outputs: sch.backfill.outputs ?? expensive, where: sch.backfill.where },
    }));
  });
}
