/**
 * A deals drop's manifest: the opportunities to process and where their documents are — CSV or JSONL (read by
 * the same reader as any record file), one opportunity per row: `opportunity_id`, `account`, and optionally
 * `owner`, `stage`, `amount`, and either `documents_prefix` (a key prefix in the drop bucket) or, in JSONL,
 * `documents` inline (`[{ "name", "text" }]`). A row range (`--rows 1-100`, data rows counted from 1) takes part
 * of it. A bad row is rejected with its line, field and reason; the good ones are taken.
 */
import type { Readable } from 'node:stream';
import * as z from 'zod';
import { readRows } from '../records/read-rows.ts';

const text = z.string({ error: (issue) => (issue.input === undefined ? 'is missing' : 'is not text') }).trim().min(1, 'is empty');
export const manifestEntrySchema = z
  .object({
    opportunity_id: text.max(200),
    account: text.max(500),
    owner: text.max(500).optional(),
    stage: text.max(200).optional(),
    amount: z.coerce.number({ error: 'is not a number' }).nonnegative('is negative').optional(),
    documents_prefix: text.max(1000).optional(),
    documents: z.array(z.object({ name: text.max(500), text: z.string() })).min(1).optional(),
  })
  .refine((e) => Boolean(e.documents_prefix) !== Boolean(e.documents), { message: 'give either documents_prefix or documents, not both or neither', path: ['documents_prefix'] });
export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

export interface ManifestReject {
  line: number;
  record: number;
  field: string | null;
  reason: string;
}

/** A row range as `--rows` takes it: `1-100`, `5`, `20-` (to the end). */
export function parseRowRange(spec: string): { from: number; to: number } {
  const m = /^(\d+)(?:-(\d*))?$/.exec(spec.trim());
  if (!m || Number(m[1]) < 1) throw new Error(`--rows takes a range of data rows like 1-100, 5 or 20-, not "${spec}"`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : m[2] === '' ? Infinity : Number(m[2]);
  if (to < from) throw new Error(`--rows ${spec}: the range ends before it starts`);
  return { from, to };
}

/**
 * Reads a manifest; rows outside `rows` are skipped, not rejected. A repeated opportunity id is rejected (the
 * first row wins).
 * @example await readManifest(stream, 'deals/manifest.csv', { rows: parseRowRange('1-100') })
 */
export async function readManifest(body: Readable, file: string, o: { rows?: { from: number; to: number } } = {}): Promise<{ entries: ManifestEntry[]; rejects: ManifestReject[] }> {
  const entries: ManifestEntry[] = [];
  const rejects: ManifestReject[] = [];
  const seen = new Map<string, number>();
  for await (const row of readRows(body, file)) {
    if (row.kind === 'header') continue;
    if (o.rows && (row.record < o.rows.from || row.record > o.rows.to)) continue;
    if (row.kind === 'bad') {
      rejects.push({ line: row.line, record: row.record, field: null, reason: row.reason });
      continue;
    }
    const values = Object.fromEntries(row.fields.map(([k, v]) => [k.trim().toLowerCase(), Buffer.isBuffer(v) ? v.toString('utf8') : v] as const).filter(([, v]) => v !== '' && v !== null));
    const parsed = manifestEntrySchema.safeParse(values);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      rejects.push({ line: row.line, record: row.record, field: issue.path.length ? String(issue.path[0]) : null, reason: issue.message });
      continue;
    }
    const first = seen.get(parsed.data.opportunity_id);
    if (first !== undefined) {
      rejects.push({ line: row.line, record: row.record, field: 'opportunity_id', reason: `opportunity ${parsed.data.opportunity_id} is already on line ${first}` });
      continue;
    }
    seen.set(parsed.data.opportunity_id, row.line);
    entries.push(parsed.data);
  }
  return { entries, rejects };
}
