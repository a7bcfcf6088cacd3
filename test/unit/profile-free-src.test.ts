// Under test: nothing profile-specific in src/ — the claims profile lives in profiles/claims/ and benchmarks/, so a
// second or third profile is a folder too. A claims word in src/ (a field, a label, a prompt, a default) fails here.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const WORDS = /claim|insur|adjuster|building|lob_code|line of business|cause ?code|loss ?description|keyfacts|damage|\broof|\bhail\b|note_id|FN_TEXT/i;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('src/', () => {
  it('names no claims field, label, word or default: every profile is data', () => {
    const hits = files('src').flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ at: `${f}:${i + 1}`, line: line.trim() }))
        .filter(({ line }) => WORDS.test(line)),
    );
    expect(hits.map((h) => `${h.at}: ${h.line.slice(0, 120)}`)).toEqual([]);
  });

  it('the word list catches what it is meant to', () => {
    for (const w of ['claim_id', 'causeCode', 'lossDescription', 'buildingParts', 'insurance', 'keyFacts']) expect(WORDS.test(w), w).toBe(true);
    for (const w of ['cause', 'loss', 'profile', 'outputs', 'error.cause']) expect(WORDS.test(w), w).toBe(false);
  });
});
