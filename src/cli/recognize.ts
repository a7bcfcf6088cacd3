/**
 * Which profile a file follows, when `--profile` is not given: the one whose required columns are all in the
 * file's header (a CSV's first row, a JSON file's first record), the one naming most of its columns if several.
 */
import { createReadStream } from 'node:fs';
import { mapHeaders } from '../domain/records/validate-record.ts';
import { readRows } from '../domain/records/read-rows.ts';
import { listProfiles, loadProfile } from '../profiles/profile.ts';
import { UsageError } from './shared.ts';

/** The file's column names: its header row, or the fields of its first record. */
async function headersOf(file: string): Promise<string[]> {
  const body = createReadStream(file);
  try {
    for await (const row of readRows(body, file)) {
      if (row.kind === 'header') return row.headers;
      if (row.kind === 'row') return row.fields.map(([h]) => h);
    }
    return [];
  } catch {
    return []; // unreadable: the pipeline reports why once a profile is named
  } finally {
    body.destroy();
  }
}

/** @throws UsageError when no profile fits the header, or several fit equally well. */
export async function recognizeProfile(file: string): Promise<string> {
  const headers = await headersOf(file);
  // No header at all (empty, binary, unreadable): the pipeline fails such a file whatever the profile, and says why.
  if (!headers.length && listProfiles().length) return listProfiles()[0]!;
  const fits = listProfiles()
    .map((name) => {
      const m = mapHeaders(loadProfile(name), headers);
      return { name, missing: m.missing, named: m.columns.size };
    })
    .sort((a, b) => a.missing.length - b.missing.length || b.named - a.named);
  const best = fits[0];
  if (!best || best.missing.length) {
    throw new UsageError(`${file}: no profile has all its required columns in this file's header (${fits.map((f) => `${f.name} lacks ${f.missing.join(', ')}`).join('; ')}): name one with --profile`);
  }
  const tied = fits.filter((f) => !f.missing.length && f.named === best.named);
  if (tied.length > 1) throw new UsageError(`${file}: fits the profiles ${tied.map((f) => f.name).join(' and ')} alike: name one with --profile`);
  return best.name;
}
