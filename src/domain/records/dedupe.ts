/**
 * Finds exact repeats and key conflicts within one file. An exact repeat (same key, same content) is
 * a duplicate; the same key with different content is a conflict, reported with the field that differs.
 * Memory per distinct key is its line, a 12-character digest of its content and a reference the caller chooses.
 */
// crypto.hash: one call per digest, ~1.6× faster than createHash for short inputs (measured here).
import { hash } from 'node:crypto';
import type { CleanRecord } from './validate-record.ts';

export type DedupeVerdict<T> = { kind: 'new' } | { kind: 'duplicate'; firstLine: number } | { kind: 'conflict'; firstLine: number; first: T };

/**
 * What the de-duplicator compares of a record: its key, and a 12-character digest of every field's name and
 * value. Computed where the record is read, so that only this travels to where records are compared.
 */
export interface Fingerprint {
  key: string;
  content: string;
}

export function fingerprint(record: CleanRecord, keyFields: string[]): Fingerprint {
  // The digested text is `v:<name>\u0001<value>` per value, then `a:…` per attribute, each by name, joined by NUL;
  // built as one string (entries sorted with a comparator and joined cost 40 % more, measured on 344k rows).
  const { values, attributes } = record;
  let text = '';
  for (const k of Object.keys(values).sort()) text += `${text ? '\u0000' : ''}v:${k}\u0001${values[k]}`;
  for (const k of Object.keys(attributes).sort()) text += `${text ? '\u0000' : ''}a:${k}\u0001${attributes[k]}`;
  let key = values[keyFields[0]!] ?? '';
  for (let i = 1; i < keyFields.length; i++) key += `\u0000${values[keyFields[i]!] ?? ''}`;
  return { key, content: hash('sha1', text, 'base64').slice(0, 12) };
}

/** The first field, profile columns before attributes and each by name, whose value differs between two records. */
export function differingField(a: CleanRecord, b: CleanRecord): string {
  for (const kind of ['values', 'attributes'] as const) {
    const names = [...new Set([...Object.keys(a[kind]), ...Object.keys(b[kind])])].sort();
    const name = names.find((n) => a[kind][n] !== b[kind][n]);
    if (name !== undefined) return name;
  }
  throw new Error('the records do not differ');
}

/**
 * Per distinct key it keeps the first record's line, its content digest and `first` — whatever the caller needs
 * to name the field of a conflict later (the partition step: the first note's JSON, which it holds anyway).
 */
export class Deduplicator<T> {
  readonly #seen = new Map<string, { line: number; content: string; first: T }>();

  /** Classifies a record by its fingerprint and remembers it if it is new. */
  check({ key, content }: Fingerprint, line: number, first: T): DedupeVerdict<T> {
    const seen = this.#seen.get(key);
    if (!seen) {
      this.#seen.set(key, { line, content, first });
      return { kind: 'new' };
    }
    if (seen.content !== content) return { kind: 'conflict', firstLine: seen.line, first: seen.first };
    return { kind: 'duplicate', firstLine: seen.line };
  }
}
