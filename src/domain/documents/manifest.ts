/**
 * A documents profile's manifest: the groups to process (e.g. opportunities) and where their documents are — CSV or
 * JSONL (read by the same reader as any record file), one group per row: the profile's group key, its other group
 * columns (`manifestColumns`), and either `documents_prefix` (a key prefix in the drop bucket) or, in JSONL,
 * `documents` inline (`[{ "name", "text" }]`). A row range (`--rows 1-100`, data rows counted from 1) takes part of
 * it. A bad row is rejected with its line, field and reason; the good ones are taken.
 */
import type { Readable } from 'node:stream';
import * as z from 'zod';
import type { Profile, ProfileColumn } from '../../profiles/profile.ts';
import { readRows } from '../records/read-rows.ts';

export interface ManifestEntry {
  /** The group key's value. */
  group: string;
  /** The group's columns (the key's included), as given. */
  values: Record<string, string>;
  documents_prefix?: string;
  documents?: Array<{ name: string; text: string }>;
}

export interface ManifestReject {
  line: number;
  record: number;
  field: string | null;
  reason: string;
}

/** The columns a manifest row carries: the profile's columns but its text, its order and the document's own key. */
export function manifestColumns(profile: Pick<Profile, 'columns' | 'textField' | 'orderBy' | 'recordKey' | 'groupKey'>): ProfileColumn[] {
  const perDocument = new Set([profile.textField, profile.orderBy, ...profile.recordKey.filter((k) => k !== profile.groupKey)]);
  return profile.columns.filter((c) => !perDocument.has(c.name));
}

const text = (max?: number) => {
  const s = z.string({ error: (issue) => (issue.input === undefined ? 'is missing' : 'is not text') }).trim().min(1, 'is empty');
  return max ? s.max(max, `is longer than ${max} characters`) : s;
};

function entrySchema(columns: ProfileColumn[]) {
  const shape: Record<string, z.ZodType> = {};
  for (const c of columns) shape[c.name] = c.required ? text(c.maxLength) : text(c.maxLength).optional();
  return z
    .object({
      ...shape,
      documents_prefix: text(1000).optional(),
      documents: z.array(z.object({ name: text(500), text: z.string() })).min(1).optional(),
    })
    .refine((e) => Boolean(e.documents_prefix) !== Boolean(e.documents), { message: 'give either documents_prefix or documents, not both or neither', path: ['documents_prefix'] });
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
 * Reads a manifest; rows outside `rows` are skipped, not rejected. A repeated group is rejected (the first row wins).
 * @example await readManifest(stream, 'deals/manifest.csv', { groupKey: 'opportunity_id', columns, rows: parseRowRange('1-100') })
 */
export async function readManifest(
  body: Readable,
  file: string,
  o: { groupKey: string; columns: ProfileColumn[]; rows?: { from: number; to: number } },
): Promise<{ entries: ManifestEntry[]; rejects: ManifestReject[] }> {
  const schema = entrySchema(o.columns);
  const names = new Map(o.columns.flatMap((c) => [c.name, ...c.aliases].map((a) => [a.toLowerCase(), c.name] as const)));
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
    const values = Object.fromEntries(
      row.fields
        .map(([k, v]) => [names.get(k.trim().toLowerCase()) ?? k.trim().toLowerCase(), Buffer.isBuffer(v) ? v.toString('utf8') : v] as const)
        .filter(([, v]) => v !== '' && v !== null),
    );
    const parsed = schema.safeParse(values);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      rejects.push({ line: row.line, record: row.record, field: issue.path.length ? String(issue.path[0]) : null, reason: issue.message });
      continue;
    }
    const { documents_prefix, documents, ...rest } = parsed.data as Record<string, unknown> & Pick<ManifestEntry, 'documents_prefix' | 'documents'>;
    const group = rest[o.groupKey] as string;
    const first = seen.get(group);
    if (first !== undefined) {
      rejects.push({ line: row.line, record: row.record, field: o.groupKey, reason: `${o.groupKey} ${group} is already on line ${first}` });
      continue;
    }
    seen.set(group, row.line);
    const groupValues = Object.fromEntries(o.columns.filter((c) => rest[c.name] !== undefined).map((c) => [c.name, String(rest[c.name])]));
    entries.push({ group, values: groupValues, ...(documents_prefix ? { documents_prefix } : {}), ...(documents ? { documents } : {}) });
  }
  return { entries, rejects };
}
