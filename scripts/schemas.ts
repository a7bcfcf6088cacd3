/**
 * `node scripts/schemas.ts`: writes the JSON Schemas of the files users read and write to
 * `schemas/<name>.schema.json`, generated from the zod schemas that define them. Outputs (results line,
 * summary, rejects line) are described as written; inputs (benchmark item, profile) as accepted, so a field
 * with a default may be left out. test/unit/schemas.test.ts checks the files are current and that real
 * output and the repository's data match them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { rejectLineSchema } from '../src/pipeline/ingest-chunks.ts';
import { jobSummarySchema, resultLineSchema } from '../src/pipeline/finalize-job.ts';
import { profileFileSchema } from '../src/profiles/profile.ts';
import { benchmarkItemSchema } from '../src/scoring/benchmark.ts';

export const SCHEMAS_DIR = join(import.meta.dirname, '../schemas');

const sources = {
  'results-line': {
    schema: resultLineSchema,
    io: 'output',
    title: 'sluice results line',
    description: 'One line of a job\'s results JSONL (results/<jobId>/results.jsonl): a group with its enrichment and its decision, or its error.',
  },
  summary: {
    schema: jobSummarySchema,
    io: 'output',
    title: 'sluice job summary',
    description: 'A job\'s summary (results/<jobId>/summary.json): its source, final status, counts, outcomes, provider, timings and result files.',
  },
  'rejects-line': {
    schema: rejectLineSchema,
    io: 'output',
    title: 'sluice rejects line',
    description: 'One line of a job\'s rejects JSONL (rejects/<jobId>/rejects.jsonl): a row that was not taken, where it is and why.',
  },
  'benchmark-item': {
    schema: benchmarkItemSchema,
    io: 'input',
    title: 'sluice benchmark item',
    description: 'One line of a benchmark (benchmarks/<name>.jsonl): a labelled claim with its notes and the expected decision, cause code and key facts.',
  },
  profile: {
    schema: profileFileSchema,
    io: 'input',
    title: 'sluice profile',
    description: 'A profile (profiles/<name>/profile.json): columns and aliases, the group key, cleaning, eligibility, retrieval, the outputs a group yields and the facts the rules see, the rules file, topics and quality gates.',
  },
} as const satisfies Record<string, { schema: z.ZodType; io: 'input' | 'output'; title: string; description: string }>;

export type SchemaName = keyof typeof sources;
export const SCHEMA_NAMES = Object.keys(sources) as SchemaName[];

export const schemaFile = (name: SchemaName) => join(SCHEMAS_DIR, `${name}.schema.json`);

/** The JSON Schema of one file, from its zod schema. */
export function jsonSchema(name: SchemaName): Record<string, unknown> {
  const { schema, io, title, description } = sources[name];
  const { $schema, ...rest } = z.toJSONSchema(schema, { io });
  return { $schema, title, description, ...rest };
}

/** The text of `schemas/<name>.schema.json`. */
export function schemaText(name: SchemaName): string {
  return `${JSON.stringify(jsonSchema(name), null, 2)}\n`;
}

if (import.meta.main) {
  mkdirSync(SCHEMAS_DIR, { recursive: true });
  for (const name of SCHEMA_NAMES) {
    const file = schemaFile(name);
    const text = schemaText(name);
    let before: string | undefined;
    try {
      before = readFileSync(file, 'utf8');
    } catch {
      before = undefined;
    }
    if (before !== text) writeFileSync(file, text);
    process.stdout.write(`schemas/${name}.schema.json: ${before === text ? 'unchanged' : before === undefined ? 'written' : 'rewritten'}\n`);
  }
}
