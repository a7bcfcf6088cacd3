/**
 * Benchmarks as data: `benchmarks/<name>.jsonl` (one labelled item per line) and `<name>.config.json`
 * (the profile, and per expected field its comparison method and weight). Both are validated with clear
 * errors naming the file, the line and the field.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { loadProfile, runtimeDataDir } from '../profiles/profile.ts';

export const benchmarkItemSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, . _ - (at most 64)'),
    tags: z.array(z.string()).default([]),
    input: z.object({
      claim_id: z.string().min(1),
      lob_code: z.string().min(1),
      notes: z.array(z.object({ note_id: z.string().min(1), created_at: z.iso.date().optional(), text: z.string().min(1) })).min(1),
    }),
    expected: z.object({
      decision: z.string().min(1),
      causeCode: z.string().nullable(),
      keyFacts: z.array(z.string().min(1)),
    }),
  })
  .strict();

const fieldSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('exact'), weight: z.number().positive() }).strict(),
  z.object({ method: z.literal('normalized_text'), weight: z.number().positive() }).strict(),
  z.object({ method: z.literal('set_overlap'), weight: z.number().positive(), threshold: z.number().min(0).max(1) }).strict(),
  z.object({ method: z.literal('numeric'), weight: z.number().positive(), tolerance: z.number().min(0) }).strict(),
  z
    .object({ method: z.literal('judge'), weight: z.number().positive(), fallback: z.literal('set_overlap'), threshold: z.number().min(0).max(1) })
    .strict(),
]);

export const benchmarkConfigSchema = z
  .object({
    profile: z.string(),
    description: z.string(),
    fields: z.object({ decision: fieldSchema, causeCode: fieldSchema, keyFacts: fieldSchema }).strict(),
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
  /** A hash of the config and the items: two runs with the same version scored the same benchmark. */
  version: string;
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
  let configJson: unknown;
  const configText = readFileSync(configFile, 'utf8');
  const itemsText = readFileSync(file, 'utf8');
  try {
    configJson = JSON.parse(configText);
  } catch (err) {
    throw new BenchmarkError(`${configFile}: not JSON (${(err as Error).message})`);
  }
  const config = benchmarkConfigSchema.safeParse(configJson);
  if (!config.success) throw new BenchmarkError(`${configFile}: ${issues(config.error)}`);
  const profile = loadProfile(config.data.profile);
  const labelled = profile.outputs.find((o) => o.name === 'causeCode');
  const codes = new Set(labelled?.type === 'label' ? [...labelled.labels.map((l) => l.value), labelled.fallback.value] : []);

  const problems: string[] = [];
  const items: BenchmarkItem[] = [];
  const seen = new Map<string, number>();
  itemsText
    .split('\n')
    .forEach((text, i) => {
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
      if (!profile.rules.outcomes.includes(item.expected.decision)) {
        problems.push(`${file} line ${line}: expected.decision: "${item.expected.decision}" is not one of ${profile.rules.outcomes.join(', ')}`);
      }
      if (item.expected.causeCode !== null && !codes.has(item.expected.causeCode)) {
        problems.push(`${file} line ${line}: expected.causeCode: "${item.expected.causeCode}" is not a cause code of profile ${profile.name}`);
      }
      items.push(item);
    });
  if (problems.length) throw new BenchmarkError(`benchmark ${name} is invalid:\n  ${problems.join('\n  ')}`);
  if (!items.length) throw new BenchmarkError(`${file}: no items`);
  const version = createHash('sha256').update(configText).update('\0').update(itemsText).digest('hex').slice(0, 12);
  return { name, version, config: config.data, items };
}
