/**
 * Benchmarks as data: `benchmarks/<name>.jsonl` (one labelled item per line: a group's records in the
 * profile's columns and what it should yield) and `<name>.config.json` (the profile, per expected field its
 * comparison method and weight, the judge's prompt). Both are validated against the profile with clear
 * errors naming the file, the line and the field.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { validateRecord } from '../domain/records/validate-record.ts';
import type { OutputSpec } from '../profiles/outputs.ts';
import { type Profile, loadProfile, runtimeDataDir } from '../profiles/profile.ts';

/** A benchmark item: the records of one group, in the profile's columns, and what it should yield. */
export const benchmarkItemSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, . _ - (at most 64)'),
    tags: z.array(z.string()).default([]),
    input: z
      .object({
        /** Rows as a dropped file would carry them (the profile's column names or aliases), all of one group. */
        records: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))).min(1),
      })
      .strict(),
    /** One value per field of the benchmark's config: `decision`, outputs by name, and key facts judged against text outputs. */
    expected: z.record(z.string(), z.unknown()),
  })
  .strict();

const weight = z.number().positive();
/** Text outputs a field's expected key facts are looked for in (joined in the order given). */
const against = z.array(z.string().min(1)).min(1).optional();
const fieldSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('exact'), weight }).strict(),
  z.object({ method: z.literal('normalized_text'), weight }).strict(),
  z.object({ method: z.literal('set_overlap'), weight, threshold: z.number().min(0).max(1), against }).strict(),
  z.object({ method: z.literal('numeric'), weight, tolerance: z.number().min(0) }).strict(),
  z.object({ method: z.literal('judge'), weight, fallback: z.literal('set_overlap'), threshold: z.number().min(0).max(1), against }).strict(),
]);
export type FieldSpec = z.infer<typeof fieldSchema>;

export const benchmarkConfigSchema = z
  .object({
    profile: z.string(),
    description: z.string(),
    /**
     * Expected field → how it is compared and weighed: `decision` (the rules' outcome), any output of the
     * profile by name, or key facts (a list of phrases) looked for `against` text outputs.
     */
    fields: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), fieldSchema).refine((f) => 'decision' in f, 'must compare decision'),
    /** The LLM judge's system prompt: `prompts/<name>.md` beside the benchmark (needed when a field is judged). */
    judgePrompt: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/).optional(),
    /** How the scoring state machine runs this benchmark (each has a default). */
    scoring: z
      .object({
        predictConcurrency: z.int().min(1).max(40).default(3),
        compareConcurrency: z.int().min(1).max(40).default(10),
        judgeConcurrency: z.int().min(1).max(40).default(5),
        judgeBatchSize: z.int().min(1).max(50).default(10),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type BenchmarkItem = z.infer<typeof benchmarkItemSchema>;
export type BenchmarkConfig = z.infer<typeof benchmarkConfigSchema>;
export interface Benchmark {
  name: string;
  /** The profile's decision (its rules' `decision`, e.g. a coverage question): the confusion matrix's title. */
  decision: string;
  /**
   * The field the LLM judge grades, if any: its expected key facts are judged against its text outputs, with the
   * benchmark's own judge prompt (`prompt` its name, `promptText` its text — part of the version).
   */
  judged?: { field: string; against: string[]; prompt: string; promptText: string; threshold: number };
  /** A hash of the config, the items and the judge prompt: two runs with the same version scored the same benchmark. */
  version: string;
  /** The text it was parsed from (what a pushed version stores). */
  source: BenchmarkData;
  config: BenchmarkConfig;
  items: BenchmarkItem[];
}

export class BenchmarkError extends Error {
  override name = 'BenchmarkError';
}

/** Where benchmarks live: `SLUICE_BENCHMARKS_DIR`, the repository's `benchmarks/`, or `benchmarks/` beside a bundle. */
export function benchmarksDir(): string {
  return runtimeDataDir('benchmarks', 'SLUICE_BENCHMARKS_DIR');
}

export function listBenchmarks(dir = benchmarksDir()): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length)).sort() : [];
}

const issues = (e: z.ZodError) => e.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`).join('; ');

/**
 * Loads and validates a benchmark.
 * @throws BenchmarkError naming the file, the line and the field of every problem (all of them, not the first).
 */
export function loadBenchmark(name: string, dir = benchmarksDir()): Benchmark {
  const file = join(dir, `${name}.jsonl`);
  const configFile = join(dir, `${name}.config.json`);
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) || !existsSync(file)) {
    throw new BenchmarkError(`unknown benchmark "${name}" (known: ${listBenchmarks(dir).join(', ') || 'none'})`);
  }
  if (!existsSync(configFile)) throw new BenchmarkError(`${configFile}: missing (the benchmark's profile and field methods)`);
  return parseBenchmark(name, readBenchmarkData(name, dir), { configFile, file });
}

/** A benchmark's data as a version stores it: its config file's and its items file's text, and its judge prompt's. */
export interface BenchmarkData {
  config: string;
  items: string;
  /** The text of `prompts/<judgePrompt>.md` beside the files, when the config names a judge prompt. */
  judgePrompt?: string;
}

/**
 * A benchmark's files in `dir` as data (what `sluice benchmark push` sends): the config, the items, and the judge
 * prompt the config names — from `dir/prompts/`, else the first of `promptDirs` holding it (parseBenchmark says so
 * when none does).
 */
export function readBenchmarkData(name: string, dir: string, promptDirs: string[] = []): BenchmarkData {
  const config = readFileSync(join(dir, `${name}.config.json`), 'utf8');
  const items = readFileSync(join(dir, `${name}.jsonl`), 'utf8');
  let prompt: unknown;
  try {
    prompt = (JSON.parse(config) as { judgePrompt?: unknown }).judgePrompt;
  } catch {
    // not JSON: parseBenchmark names the problem
  }
  const named = typeof prompt === 'string' && /^[a-z0-9][a-z0-9.-]*$/.test(prompt) ? prompt : undefined;
  const promptFile = named && [dir, ...promptDirs].map((d) => join(d, 'prompts', `${named}.md`)).find((f) => existsSync(f));
  return { config, items, ...(promptFile ? { judgePrompt: readFileSync(promptFile, 'utf8') } : {}) };
}

/**
 * Validates a benchmark's data (from its files, or a version pushed to the registry); `where` names the files in errors.
 * @throws BenchmarkError naming the file, the line and the field of every problem.
 */
export function parseBenchmark(name: string, data: BenchmarkData, where: { configFile: string; file: string } = { configFile: `${name}.config.json`, file: `${name}.jsonl` }): Benchmark {
  const { configFile, file } = where;
  let configJson: unknown;
  const configText = data.config;
  const itemsText = data.items;
  try {
    configJson = JSON.parse(configText);
  } catch (err) {
    throw new BenchmarkError(`${configFile}: not JSON (${(err as Error).message})`);
  }
  const config = benchmarkConfigSchema.safeParse(configJson);
  if (!config.success) throw new BenchmarkError(`${configFile}: ${issues(config.error)}`);
  const profile = loadProfile(config.data.profile);
  const configProblems = checkFields(profile, config.data);
  if (config.data.judgePrompt && !data.judgePrompt?.trim()) configProblems.push(`judgePrompt: prompts/${config.data.judgePrompt}.md does not exist or is empty`);
  if (!config.data.judgePrompt && data.judgePrompt !== undefined) configProblems.push('judgePrompt: a judge prompt was given but the config names none');
  if (configProblems.length) throw new BenchmarkError(`${configFile}: ${configProblems.join('; ')}`);

  const problems: string[] = [];
  const items: BenchmarkItem[] = [];
  const seen = new Map<string, number>();
  itemsText.split('\n').forEach((text, i) => {
    const line = i + 1;
    if (!text.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      problems.push(`${file} line ${line}: not JSON (${(err as Error).message})`);
      return;
    }
    const parsed = benchmarkItemSchema.safeParse(json);
    if (!parsed.success) {
      problems.push(`${file} line ${line}: ${issues(parsed.error)}`);
      return;
    }
    const item = parsed.data;
    if (seen.has(item.id)) problems.push(`${file} line ${line}: id: ${item.id} repeats line ${seen.get(item.id)}`);
    seen.set(item.id, line);
    for (const p of [...checkRecords(profile, item), ...checkExpected(profile, config.data, item)]) problems.push(`${file} line ${line}: ${p}`);
    items.push(item);
  });
  if (problems.length) throw new BenchmarkError(`benchmark ${name} is invalid:\n  ${problems.join('\n  ')}`);
  if (!items.length) throw new BenchmarkError(`${file}: no items`);
  // The judge prompt is part of the version: a new wording of it is a new benchmark version, scored apart.
  const hash = createHash('sha256').update(configText).update('\0').update(itemsText);
  if (data.judgePrompt !== undefined) hash.update('\0').update(data.judgePrompt);
  const version = hash.digest('hex').slice(0, 12);
  const judgedEntry = Object.entries(config.data.fields).find(([, f]) => f.method === 'judge');
  const judged = judgedEntry && judgedEntry[1].method === 'judge' ? { field: judgedEntry[0], against: judgedEntry[1].against ?? [judgedEntry[0]], prompt: config.data.judgePrompt!, promptText: data.judgePrompt!, threshold: judgedEntry[1].threshold } : undefined;
  return { name, version, source: { config: configText, items: itemsText, ...(data.judgePrompt !== undefined ? { judgePrompt: data.judgePrompt } : {}) }, decision: profile.rules.decision, ...(judged ? { judged } : {}), config: config.data, items };
}

/** Each field names the decision, an output, or key facts with `against` text outputs; one judged field at most, with its prompt. */
function checkFields(profile: Profile, config: BenchmarkConfig): string[] {
  const problems: string[] = [];
  const outputs = new Map(profile.outputs.map((o) => [o.name, o]));
  const texts = profile.outputs.filter((o) => o.type === 'text').map((o) => o.name);
  let judged = 0;
  for (const [field, spec] of Object.entries(config.fields)) {
    const at = `fields.${field}`;
    if (spec.method === 'judge') judged += 1;
    const facts = 'against' in spec && spec.against;
    if (facts) {
      for (const a of facts) if (!texts.includes(a)) problems.push(`${at}.against: "${a}" is not a text output of profile ${profile.name} (${texts.join(', ') || 'it has none'})`);
      if (outputs.has(field) || field === 'decision') problems.push(`${at}: compares key facts against text outputs, so it cannot be named like the decision or an output`);
    } else if (field !== 'decision' && !outputs.has(field)) {
      problems.push(`${at}: not the decision nor an output of profile ${profile.name} (${[...outputs.keys()].join(', ')}); key facts need \`against\` text outputs`);
    } else if (spec.method === 'judge' && outputs.get(field)?.type !== 'text') {
      problems.push(`${at}: only text is judged: give key facts \`against\` text outputs`);
    }
  }
  if (judged > 1) problems.push('fields: one field at most is judged');
  if (judged && !config.judgePrompt) problems.push('judgePrompt: a judged field needs the judge\'s prompt (prompts/<name>.md)');
  return problems;
}

/** The records run through the profile's validation as a file's rows would, and all belong to one group. */
function checkRecords(profile: Profile, item: BenchmarkItem): string[] {
  const problems: string[] = [];
  const groups = new Set<string>();
  item.input.records.forEach((r, k) => {
    const v = validateRecord(profile, Object.entries(r).map(([h, value]) => [h, value === null ? null : String(value)]));
    if (!v.ok) problems.push(`input.records.${k}.${v.field ?? '(record)'}: ${v.reason}`);
    else groups.add(v.record.values[profile.groupKey]!);
  });
  if (groups.size > 1) problems.push(`input.records: all records must be of one ${profile.groupKey} (found ${[...groups].join(', ')})`);
  return problems;
}

/** Each expected value has the shape of what it is compared with: an outcome, a declared label, a list of phrases… */
function checkExpected(profile: Profile, config: BenchmarkConfig, item: BenchmarkItem): string[] {
  const problems: string[] = [];
  const phrases = z.array(z.string().min(1));
  for (const [field, spec] of Object.entries(config.fields)) {
    const at = `expected.${field}`;
    if (!(field in item.expected)) {
      problems.push(`${at}: missing (the config compares it)`);
      continue;
    }
    const value = item.expected[field];
    const output = profile.outputs.find((o) => o.name === field);
    if (field === 'decision') {
      if (!profile.rules.outcomes.includes(value as string)) problems.push(`${at}: "${String(value)}" is not one of ${profile.rules.outcomes.join(', ')}`);
    } else if ('against' in spec && spec.against) {
      if (!phrases.safeParse(value).success) problems.push(`${at}: a list of key-fact phrases is expected`);
    } else if (output) {
      const problem = expectedProblem(output, value);
      if (problem) problems.push(`${at}: ${problem}`);
    }
  }
  for (const field of Object.keys(item.expected)) if (!(field in config.fields)) problems.push(`expected.${field}: not a field of the benchmark's config (${Object.keys(config.fields).join(', ')})`);
  return problems;
}

function expectedProblem(output: OutputSpec, value: unknown): string | undefined {
  const labels = output.type === 'label' ? [...output.labels.map((l) => l.value), output.fallback.value] : output.type === 'labels' ? output.labels.map((l) => l.value) : [];
  switch (output.type) {
    case 'label':
      return value === null || labels.includes(value as string) ? undefined : `"${String(value)}" is not a label of ${output.name} (${labels.join(', ')}), nor null`;
    case 'labels':
      return Array.isArray(value) && value.every((v) => labels.includes(v)) ? undefined : `a list of labels of ${output.name} (${labels.join(', ')}) is expected`;
    case 'sentiment':
      return ['negative', 'neutral', 'positive'].includes(value as string) ? undefined : 'negative, neutral or positive is expected';
    case 'number':
      return typeof value === 'number' ? undefined : 'a number is expected';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'true or false is expected';
    case 'text':
      return typeof value === 'string' ? undefined : 'a text is expected';
    case 'entities':
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? undefined : 'a list of entity names is expected';
  }
}
