// Under test: the JSON Schemas in schemas/ — generated from the zod schemas (never drifting from them) and matched by real output (the first lines of the sample run through the local runtime) and the repository's benchmarks and profiles.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMAS_DIR, SCHEMA_NAMES, type SchemaName, schemaFile, schemaText } from '../../scripts/schemas.ts';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';

// zod writes draft 2020-12 with `date` and `date-time` formats. ajv and ajv-formats are CommonJS: the plugin is
// its module's `default` for TypeScript under NodeNext, and that property is the same function.
const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
addFormats.default(ajv);
const validators = new Map<SchemaName, ValidateFunction>();

/** What the checked-in schema finds wrong with a value ([] when it matches). */
function problems(name: SchemaName, value: unknown): string[] {
  let validate = validators.get(name);
  if (!validate) validators.set(name, (validate = ajv.compile(JSON.parse(readFileSync(schemaFile(name), 'utf8')))));
  validate(value);
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
}

const jsonLines = (text: string) => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);

describe('the JSON Schemas in schemas/', () => {
  it('are exactly the ones generated from the zod schemas (node scripts/schemas.ts writes them)', () => {
    expect(readdirSync(SCHEMAS_DIR).sort()).toEqual(SCHEMA_NAMES.map((n) => `${n}.schema.json`).sort());
    for (const name of SCHEMA_NAMES) expect(readFileSync(schemaFile(name), 'utf8'), `schemas/${name}.schema.json is stale: run node scripts/schemas.ts`).toBe(schemaText(name));
  });
});

/** The header and rows up to the sample's first rejects: fields at fault (lines 71 and 78) and a duplicate (line 156). */
const SAMPLE_LINES = 160;
function firstLines(bytes: Buffer, n: number): Buffer {
  let end = 0;
  for (let i = 0; i < n; i++) {
    const lf = bytes.indexOf(0x0a, end);
    if (lf < 0) return bytes;
    end = lf + 1;
  }
  return bytes.subarray(0, end);
}

describe('a job of the first lines of the bundled sample', () => {
  let rt: LocalRuntime;
  let job: Job;
  const read = async (key: string) => (await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: key }))).Body!.transformToString();

  beforeAll(async () => {
    rt = await startLocalRuntime({ logLevel: 'SILENT', waitSeconds: 1 });
    const key = 'incoming/claims/claims-notes.csv';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: firstLines(readFileSync('samples/claims-notes.csv'), SAMPLE_LINES) }));
    job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('writes results lines that match results-line', async () => {
    const lines = jsonLines(await read(job.results!.jsonl));
    expect(lines.length).toBe(job.counts.groups);
    for (const line of lines) expect(problems('results-line', line)).toEqual([]);
  });

  it('writes a summary that matches summary', async () => {
    expect(problems('summary', JSON.parse(await read(job.results!.summary)))).toEqual([]);
  });

  it('writes rejects lines that match rejects-line', async () => {
    const lines = jsonLines(await read(job.results!.rejects));
    expect(lines.length).toBe(job.counts.rejected + job.counts.duplicates);
    // Both kinds: a field at fault and a row as a whole (field null).
    expect(new Set(lines.map((l) => (l as { field: unknown }).field === null))).toEqual(new Set([true, false]));
    for (const line of lines) expect(problems('rejects-line', line)).toEqual([]);
  });

  it('has schemas that refuse a results line with an unknown field or without a required one', async () => {
    const [line] = jsonLines(await read(job.results!.jsonl)) as Array<Record<string, unknown>>;
    expect(problems('results-line', { ...line, extra: 1 })).toEqual(['/ must NOT have additional properties']);
    const { decision: _decision, ...withoutDecision } = line!;
    expect(problems('results-line', withoutDecision)).toEqual(["/ must have required property 'decision'"]);
  });
});

describe("the repository's data", () => {
  it('every line of every benchmark (benchmarks/*.jsonl) matches benchmark-item', () => {
    const files = readdirSync('benchmarks').filter((f) => f.endsWith('.jsonl'));
    expect(files).toContain('claims-v1.jsonl');
    for (const f of files) {
      const items = jsonLines(readFileSync(join('benchmarks', f), 'utf8'));
      expect(items.length).toBeGreaterThan(0);
      items.forEach((item, i) => expect(problems('benchmark-item', item), `${f} line ${i + 1}`).toEqual([]));
    }
  });

  it('every profile (profiles/<name>/profile.json) matches profile', () => {
    const names = readdirSync('profiles').filter((d) => readdirSync(join('profiles', d)).includes('profile.json'));
    expect(names).toContain('claims');
    for (const n of names) expect(problems('profile', JSON.parse(readFileSync(join('profiles', n, 'profile.json'), 'utf8'))), n).toEqual([]);
  });
});
