// Under test: the head of a staged line (src/pipeline/ingest-chunks.ts), which the partition step de-duplicates by
// without parsing the note: written compactly, read back whole, and read in the form an earlier sluice staged.
import { describe, expect, it } from 'vitest';
import { readStagedHead, stagedHead } from '../../src/pipeline/ingest-chunks.ts';

describe('a staged line’s head', () => {
  it('reads back the group, record, line and fingerprint it was written with, tabs and quotes escaped', () => {
    const d = { key: 'CLM-1\u00003\t"x"', content: 'q9Xk2+/abcde' };
    const json = stagedHead('CLM-1\t"a"', 17, 42, d);
    expect(json).not.toContain('\t'); // the tab between head and note stays the line's only one
    expect(json.length).toBeLessThan(JSON.stringify({ g: 'CLM-1\t"a"', r: 17, l: 42, d }).length);
    expect(readStagedHead(json)).toEqual({ g: 'CLM-1\t"a"', r: 17, l: 42, d });
  });

  it('reads a head staged by an earlier sluice (an object with named fields)', () => {
    const old = { g: 'CLM-2', r: 3, l: 9, d: { key: 'CLM-2\u00001', content: 'abcdefabcdef' } };
    expect(readStagedHead(JSON.stringify(old))).toEqual(old);
  });
});
