/**
 * Dropping a documents profile's groups (e.g. opportunities) from a local folder: one sub-folder per group, its
 * files its documents, and optionally a `group.json` with the group's manifest columns (`{"account": "Globex"}`).
 * The files go under `documents/<profile>/<run>/<group>/` in the drop bucket (outside `incoming/`, so they start
 * nothing by themselves); the manifest naming them goes under `incoming/<profile>/<run>.jsonl` and starts the job.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { manifestColumns } from '../domain/documents/manifest.ts';
import type { Mode } from '../domain/enrich/enrich-group.ts';
import type { Profile } from '../profiles/profile.ts';
import { topology } from '../topology/topology.ts';

export interface DocumentGroup {
  /** The group's manifest columns, its key among them. */
  values: Record<string, string>;
  files: Array<{ name: string; bytes: Buffer }>;
}

const GROUP_FILE = 'group.json';

/**
 * Reads a folder of groups: each sub-folder a group named by its folder, its files (not `group.json`) its documents.
 * @throws Error naming the file when a group.json is not a JSON object of strings
 */
export function readDocumentFolder(dir: string, profile: Profile): DocumentGroup[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const folder = join(dir, name);
      let values: Record<string, string> = {};
      if (existsSync(join(folder, GROUP_FILE))) {
        const parsed: unknown = JSON.parse(readFileSync(join(folder, GROUP_FILE), 'utf8'));
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string' && typeof v !== 'number')) {
          throw new Error(`${join(folder, GROUP_FILE)}: expected a JSON object of the group's columns, e.g. {"account": "Globex"}`);
        }
        values = Object.fromEntries(Object.entries(parsed as Record<string, string | number>).map(([k, v]) => [k, String(v)]));
      }
      const files = readdirSync(folder)
        .filter((f) => f !== GROUP_FILE && statSync(join(folder, f)).isFile())
        .sort()
        .map((f) => ({ name: f, bytes: readFileSync(join(folder, f)) }));
      const group = { values: { ...values, [profile.groupKey]: name }, files };
      const missing = manifestColumns(profile).filter((c) => c.required && !group.values[c.name]);
      if (missing.length) throw new Error(`${folder}: no ${missing.map((c) => c.name).join(', ')} for this ${profile.groupKey}: write ${join(folder, GROUP_FILE)}, e.g. {${missing.map((c) => `"${c.name}": "…"`).join(', ')}}`);
      return group;
    });
}

/** Where a run's group's documents go in the drop bucket (outside `incoming/`). */
const prefixOf = (profile: Profile, run: string, group: string) => `documents/${profile.name}/${run}/${encodeURIComponent(group)}/`;

/** Uploads the groups' documents (eight at a time); nothing starts until their manifest is put. */
export async function uploadDocuments(s3: S3Client, bucket: string, o: { profile: Profile; run: string; groups: DocumentGroup[] }): Promise<number> {
  const limit = pLimit(8);
  await Promise.all(o.groups.flatMap((g) => g.files.map((f) => limit(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefixOf(o.profile, o.run, g.values[o.profile.groupKey]!)}${f.name}`, Body: f.bytes }))))));
  return o.groups.reduce((n, g) => n + g.files.length, 0);
}

/** Puts the manifest naming each group's documents: the object whose event starts the job. */
export async function putManifest(s3: S3Client, bucket: string, o: { profile: Profile; run: string; groups: DocumentGroup[]; rows?: string; mode?: Mode }): Promise<{ key: string; etag: string }> {
  const manifest = o.groups.map((g) => JSON.stringify({ ...g.values, documents_prefix: prefixOf(o.profile, o.run, g.values[o.profile.groupKey]!) })).join('\n');
  // The row range and mode are in the key: the same folder with another range or mode is another object, another job.
  const key = `${topology.dropPrefix}${o.profile.name}/${o.run}${o.rows ? `-rows-${o.rows.replace(/[^\d-]/g, '')}` : ''}${o.mode === 'fast' ? '-fast' : ''}.jsonl`;
  const metadata = { ...(o.mode ? { 'sluice-mode': o.mode } : {}), ...(o.rows ? { 'sluice-rows': o.rows } : {}) };
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${manifest}\n`, ContentType: 'application/x-ndjson', Metadata: metadata }));
  return { key, etag: (put.ETag ?? '').replace(/"/g, '') };
}

/**
 * Uploads the groups' documents, then their manifest.
 * @example await dropDocuments(s3, bucket, { profile, run: 'q3-deals', groups: readDocumentFolder('./deals', profile) })
 */
export async function dropDocuments(s3: S3Client, bucket: string, o: { profile: Profile; run: string; groups: DocumentGroup[]; rows?: string; mode?: Mode }): Promise<{ key: string; etag: string; files: number }> {
  const files = await uploadDocuments(s3, bucket, o);
  return { ...(await putManifest(s3, bucket, o)), files };
}
