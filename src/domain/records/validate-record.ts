/**
 * Turns one raw row into a clean record of a profile, or says which field is wrong and why.
 * Headers map through the profile (case-insensitive, with aliases); text is decoded strictly
 * (invalid UTF-8 and control characters are rejected by field, never replaced or truncated),
 * cleaned, and checked against the profile's column types.
 */
import * as z from 'zod';
import type { Profile, ProfileColumn } from '../../profiles/profile.ts';
import type { GroupNote } from '../enrich/enrich-group.ts';
import { keyFolders, profileFromKey } from '../job.ts';
import type { RawValue } from './read-rows.ts';

export interface CleanRecord {
  /** Canonical column name → cleaned value. */
  values: Record<string, string>;
  /** Columns the profile does not know, kept as they came (decoded, cleaned). */
  attributes: Record<string, string>;
}

export type Validation = { ok: true; record: CleanRecord } | { ok: false; field: string | null; reason: string };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
// C0 controls other than TAB, LF and CR; DEL; C1 controls.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

// zod's own ISO 8601 patterns (what z.iso.date() and z.iso.datetime({ offset, local }) test), tested directly:
// a safeParse of their union cost ~3x more per date (measured on 110k dates).
const isoDatePatterns = [z.regexes.date, z.regexes.datetime({ offset: true, local: true })];
const isIsoDate = (text: string) => isoDatePatterns.some((p) => p.test(text)) && !Number.isNaN(Date.parse(text));

/** Resolves the file's headers to profile columns once per file; reports missing required columns. */
export function mapHeaders(profile: Profile, headers: string[]): { columns: Map<string, string>; missing: string[]; duplicate: string[] } {
  const columns = new Map<string, string>();
  const seen = new Set<string>();
  const duplicate: string[] = [];
  for (const h of headers) {
    const canonical = profile.headerMap.get(h.trim().toLowerCase());
    if (!canonical) continue;
    if (seen.has(canonical)) duplicate.push(h);
    seen.add(canonical);
    columns.set(h, canonical);
  }
  const missing = profile.columns.filter((c) => c.required && !seen.has(c.name)).map((c) => c.name);
  return { columns, missing, duplicate };
}

/**
 * Validates and cleans one row; `fromKey` fills columns the row has no value for (the profile's `keyColumns`).
 * @example validateRecord(profile, [['TICKET_NO', Buffer.from('T-1')], ...])
 */
export function validateRecord(profile: Profile, fields: Array<[string, RawValue]>, fromKey: Record<string, string> = {}): Validation {
  const values: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  for (const [header, raw] of fields) {
    const canonical = canonicalName(profile, header);
    const fieldName = canonical ?? header;
    const decoded = decodeValue(raw);
    if (!decoded.ok) return { ok: false, field: fieldName, reason: decoded.reason };
    if (canonical) values[canonical] = decoded.text;
    else if (profile.keepOtherColumns) attributes[header] = cleanText(profile, decoded.text);
  }
  for (const [column, value] of Object.entries(fromKey)) if (!values[column]?.trim()) values[column] = value;
  for (const column of profile.columns) {
    const problem = checkColumn(profile, column, values);
    if (problem) return { ok: false, field: column.name, reason: problem };
  }
  return { ok: true, record: { values, attributes } };
}

/**
 * `compute` remembered per profile and string, for strings that repeat from row to row; at most `limit` kept per
 * profile (then forgotten at once, so a file of ever-new strings costs one map, not a growing one).
 */
function perProfile<V>(limit: number, compute: (profile: Profile, key: string) => V): (profile: Profile, key: string) => V {
  const maps = new WeakMap<Profile, Map<string, V>>();
  return (profile, key) => {
    let map = maps.get(profile);
    if (!map || map.size >= limit) maps.set(profile, (map = new Map()));
    const known = map.get(key);
    if (known !== undefined || map.has(key)) return known as V;
    const value = compute(profile, key);
    map.set(key, value);
    return value;
  };
}

/** A header's profile column (case-insensitive, aliases), found once per header rather than once per row (JSON rows' headers may vary). */
const canonicalName = perProfile(10_000, (profile, header) => profile.headerMap.get(header.trim().toLowerCase()));

function checkColumn(profile: Profile, column: ProfileColumn, values: Record<string, string>): string | undefined {
  const raw = values[column.name];
  const cleaned = raw === undefined ? '' : cleanText(profile, raw);
  if (cleaned === '') {
    delete values[column.name];
    return column.required ? 'required value is missing or empty' : undefined;
  }
  if (column.maxLength !== undefined && cleaned.length > column.maxLength) {
    return `longer than ${column.maxLength} characters (${cleaned.length})`;
  }
  if (column.type === 'date') {
    if (!isIsoDate(cleaned)) {
      return `not an ISO 8601 date: "${cleaned.slice(0, 40)}"`;
    }
  }
  values[column.name] = cleaned;
  return undefined;
}

function decodeValue(raw: RawValue): { ok: true; text: string } | { ok: false; reason: string } {
  let text: string;
  if (raw === null || raw === undefined) return { ok: true, text: '' };
  if (Buffer.isBuffer(raw)) {
    try {
      text = strictUtf8.decode(raw);
    } catch {
      return { ok: false, reason: 'invalid UTF-8' };
    }
  } else if (typeof raw === 'string') {
    if (raw.includes('\uFFFD')) return { ok: false, reason: 'invalid UTF-8 (replacement character U+FFFD)' };
    text = raw;
  } else if (typeof raw === 'number' || typeof raw === 'boolean') {
    text = String(raw);
  } else {
    return { ok: false, reason: 'expected a string, got a nested JSON value' };
  }
  const control = CONTROL.exec(text);
  if (control) {
    const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return { ok: false, reason: `control character U+${code} at position ${control.index + 1}` };
  }
  return { ok: true, text };
}

const stripCache = new WeakMap<Profile, RegExp[]>();

/**
 * The profile's cleaning: Unicode normalisation, boilerplate patterns, line breaks, whitespace.
 * @example cleanText(profile, ' Printer  jammed\r\n  again ') // 'Printer jammed\nagain' (lineBreaks: keep)
 */
export function cleanText(profile: Profile, text: string): string {
  // Short values repeat (dates, codes, names, ids of a group's rows): each is cleaned once per file, not per row.
  return text.length > SHORT_VALUE ? clean(profile, text) : cleanShort(profile, text);
}

/** Values up to this many characters are remembered cleaned (50,000 per profile at most). */
const SHORT_VALUE = 40;

const cleanShort = perProfile(50_000, (profile, text) => clean(profile, text));

function clean(profile: Profile, text: string): string {
  const { unicode, collapseWhitespace, lineBreaks } = profile.cleaning;
  // ASCII is the same in every normal form: the test is cheaper than normalising (about half, measured here).
  let out = unicode && !/^[\x00-\x7f]*$/.test(text) ? text.normalize(unicode) : text;
  let patterns = stripCache.get(profile);
  if (!patterns) {
    patterns = profile.cleaning.stripPatterns.map((p) => new RegExp(p, 'gi'));
    stripCache.set(profile, patterns);
  }
  for (const p of patterns) out = out.replace(p, ' ');
  out = out.replace(/\r\n?/g, '\n');
  if (lineBreaks === 'collapse') out = out.replace(/\n/g, ' ');
  // Runs of whitespace other than line breaks become one space, and each line is trimmed.
  // Each replace runs only where it would change something: replacing every single space by a space cost ~5× more.
  if (collapseWhitespace) {
    if (/[^\S\n ]| {2}/.test(out)) out = out.replace(/[^\S\n]+/g, ' ');
    if (/ \n|\n /.test(out)) out = out.replace(/ ?\n ?/g, '\n');
  }
  return out.trim();
}

/**
 * A clean record as a note of its group: the text apart from the other values, the note id from the
 * record key's columns besides the group key (or the source line when the key is the group key alone).
 */
export function toGroupNote(profile: Profile, record: CleanRecord, line: number): { groupId: string; note: GroupNote } {
  const { [profile.textField]: text, ...values } = record.values;
  const noteId = profile.recordKey.filter((f) => f !== profile.groupKey).map((f) => values[f]).join('/') || String(line);
  return { groupId: values[profile.groupKey]!, note: { noteId, text: text!, line, values, attributes: record.attributes } };
}

/** The values a file's records take from its drop key (the profile's `keyColumns`), for the columns they lack. */
export function keyColumnValues(profile: Profile, key: string, dropPrefix: string): Record<string, string> {
  const place = profileFromKey(key, dropPrefix);
  if (!place) return {};
  const folders = keyFolders(place.file);
  return Object.fromEntries(Object.entries(profile.keyColumns).flatMap(([column, i]) => (folders[i] ? [[column, folders[i]]] : [])));
}
