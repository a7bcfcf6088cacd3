// Under test: how a group's notes are read back from the bytes of a records file (src/pipeline/process-group.ts):
// one note's JSON per line as chunks write them now, and the one JSON array per group of records files written
// before (a backfill of an older job reads those).
import { describe, expect, it } from 'vitest';
import { parseNotes } from '../../src/pipeline/process-group.ts';

const note = (noteId: string, text: string) => ({ noteId, text, line: Number(noteId) + 1, values: { claim_id: 'CLM-1' }, attributes: {} });

describe('a group’s notes read back', () => {
  it('reads one note per line, a line break inside a note’s text escaped, the last line’s break optional', () => {
    const notes = [note('1', 'first'), note('2', 'two\nlines, "quoted"'), note('3', 'ü third')];
    const lines = notes.map((n) => JSON.stringify(n)).join('\n');
    expect(parseNotes(Buffer.from(`${lines}\n`))).toEqual(notes);
    expect(parseNotes(Buffer.from(lines))).toEqual(notes);
  });

  it('reads the JSON array an earlier records file holds per group', () => {
    const notes = [note('1', 'first'), note('2', 'second')];
    expect(parseNotes(Buffer.from(JSON.stringify(notes)))).toEqual(notes);
  });
});
