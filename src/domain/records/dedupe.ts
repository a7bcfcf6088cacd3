/**
 * Finds exact repeats and key conflicts within one file. An exact repeat (same key, same content) is
 * a duplicate; the same key with different content is a conflict, reported with the field that differs.
 * Memory per distinct key is its line, a 12-character digest of its content and its number.
 */
// crypto.hash: one call per digest, ~1.6× faster than createHash for short inputs (measured here).
import { hash } from 'node:crypto';
import type { CleanRecord } from './validate-record.ts';

/** The length of a fingerprint's content digest (base64 characters, one byte each). */
export const DIGEST_LENGTH = 12;

export type DedupeVerdict = { kind: 'new' } | { kind: 'duplicate'; firstLine: number } | { kind: 'conflict'; firstLine: number; first: number };

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
  return { key, content: hash('sha1', text, 'base64').slice(0, DIGEST_LENGTH) };
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
 * Per distinct key it keeps the first record's line and content digest, and numbers the distinct records 0, 1, 2…
 * in the order they came: a conflict names the first record by its number, for the caller to find it again (the
 * partition step: where its note lies). Held as a map to numbers and two flat stores: ~45 bytes a record on the heap
 * against ~113 as an object per key (measured on a partition's 104,861 heads).
 */
export class Deduplicator {
  readonly #seen = new Map<string, number>();
  readonly #lines: number[] = [];
  #digests = Buffer.allocUnsafe(64 * DIGEST_LENGTH);

  /** Classifies a record by its fingerprint and remembers it if it is new. */
  check({ key, content }: Fingerprint, line: number): DedupeVerdict {
    if (content.length !== DIGEST_LENGTH) throw new Error(`a content digest of ${content.length} characters, not ${DIGEST_LENGTH}`);
    const first = this.#seen.get(key);
    if (first === undefined) {
      const index = this.#lines.length;
      if ((index + 1) * DIGEST_LENGTH > this.#digests.length) {
        const grown = Buffer.allocUnsafe(this.#digests.length * 2);
        this.#digests.copy(grown);
        this.#digests = grown;
      }
      this.#digests.write(content, index * DIGEST_LENGTH, 'latin1');
      this.#lines.push(line);
      this.#seen.set(key, index);
      return { kind: 'new' };
    }
    const firstLine = this.#lines[first]!;
    if (this.#digests.toString('latin1', first * DIGEST_LENGTH, (first + 1) * DIGEST_LENGTH) !== content) return { kind: 'conflict', firstLine, first };
    return { kind: 'duplicate', firstLine };
  }
}
