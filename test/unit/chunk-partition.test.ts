// Under test: a chunk's share of one partition (src/pipeline/ingest-chunks.ts): its notes ordered so that each
// group's are one run, and a head per note in file order that the partition step reads instead of the note —
// group, record, line, fingerprint and the note's exact place in the chunk's records file.
import { describe, expect, it } from 'vitest';
import { ChunkPartition, readHead } from '../../src/pipeline/ingest-chunks.ts';

const fp = (key: string) => ({ key, content: `c-${key}`.padEnd(12, 'x') });
const note = (id: string, text: string) => JSON.stringify({ noteId: id, text });

describe('a partition’s share of a chunk', () => {
  it('groups the notes by group in the order groups first appear, and each head names its note’s bytes', () => {
    // Arrange: groups interleaved in the file, one id with a line break and quotes
    const odd = 'CLM-"2"\nb';
    const rows: Array<[string, number, string]> = [
      ['CLM-1', 2, note('1', 'first of one')],
      [odd, 3, note('1', 'first of two, longer text here')],
      ['CLM-1', 4, note('2', 'second of one')],
      ['CLM-3', 5, note('1', 'ü only of three')],
      [odd, 6, note('2', 'second of two')],
    ];
    const part = new ChunkPartition(64);
    rows.forEach(([g, line, json], i) => part.add(g, i + 1, line, fp(`${g}/${line}`), json));
    // Act
    const ordered = part.ordered(1000);
    const { heads } = ordered;
    const notes = Buffer.concat(ordered.notes);
    // Assess: notes grouped, each group's in file order
    expect(notes.toString('utf8').split('\n').filter(Boolean)).toEqual([rows[0]![2], rows[2]![2], rows[1]![2], rows[4]![2], rows[3]![2]]);
    // heads in file order, each with its fields and the place of its note's line (the notes start at byte 1000)
    const read = heads.toString('utf8').split('\n').filter(Boolean).map(readHead);
    expect(read.map((h) => [h.g, h.r, h.l, h.d])).toEqual(rows.map(([g, line], i) => [g, i + 1, line, fp(`${g}/${line}`)]));
    read.forEach((h, i) => expect(notes.toString('utf8', h.start - 1000, h.end - 1000)).toBe(`${rows[i]![2]}\n`));
    // views of the bytes read, one per stretch in order: here every note moved, so five
    expect(ordered.notes).toHaveLength(5);
    expect(ordered.length).toBe(notes.length);
    // one group's notes are one run: the second starts where the first ends
    expect(read[2]!.start).toBe(read[0]!.end);
    expect(read[4]!.start).toBe(read[1]!.end);
  });

  it('keeps notes already grouped as they are, in one piece', () => {
    const part = new ChunkPartition(64);
    ['a', 'a', 'b', 'c', 'c'].forEach((g, i) => part.add(g, i + 1, i + 2, fp(`${g}${i}`), note(String(i), `text ${i}`)));
    const ordered = part.ordered(0);
    expect(ordered.notes).toHaveLength(1);
    const { heads } = ordered;
    const notes = ordered.notes[0]!;
    expect(notes.toString('utf8')).toBe([0, 1, 2, 3, 4].map((i) => `${note(String(i), `text ${i}`)}\n`).join(''));
    expect(heads.toString('utf8').split('\n').filter(Boolean).map((l) => readHead(l).start)).toEqual([0, 1, 2, 3, 4].map((i) => notes.indexOf(note(String(i), `text ${i}`))));
  });
});
