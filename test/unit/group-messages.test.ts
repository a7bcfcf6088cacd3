// Under test: reading a batch's group notes from records files with as few ranged GETs as their layout allows,
// and packing group references ten to a message of the enrich and decide queues.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { GroupRef, NotesRange } from '../../src/pipeline/ports.ts';
import { READS_AT_ONCE, groupMessageSchema, packGroups, readNotesOf, unpackGroups } from '../../src/pipeline/process-group.ts';
import { note } from '../helpers/factories.ts';

/** Records files laid out as the partition step writes them: one JSON array per group, side by side. */
function recordsFile(key: string, groups: string[], gapBytes = 0) {
  let body = '';
  const ranges: Record<string, NotesRange> = {};
  for (const g of groups) {
    const json = JSON.stringify([note(`Notes of ${g}: the roof leaks.`, { noteId: `${g}-1` })]);
    ranges[g] = { key, start: Buffer.byteLength(body), end: Buffer.byteLength(body) + Buffer.byteLength(json) };
    body += `${json}\n${' '.repeat(gapBytes)}`;
  }
  return { body: Buffer.from(body), ranges };
}

function depsOver(files: Record<string, Buffer>, failKey?: string) {
  const gets: Array<{ key: string; start: number; end: number }> = [];
  const deps = {
    resultsBucket: 'results',
    objects: {
      async get(_bucket: string, key: string, range?: { start: number; end: number }) {
        gets.push({ key, ...range! });
        if (key === failKey) throw new Error('SlowDown');
        return { body: Readable.from([files[key]!.subarray(range!.start, range!.end)]), etag: '', size: range!.end - range!.start, metadata: {} };
      },
      async put() {},
    },
  } as unknown as PipelineDeps;
  return { deps, gets };
}

describe('readNotesOf', () => {
  it('reads groups side by side in one file with one GET, in any order asked, each group its own notes', async () => {
    // Prepare
    const a = recordsFile('records/a.jsonl', ['G1', 'G2', 'G3', 'G4']);
    const { deps, gets } = depsOver({ 'records/a.jsonl': a.body });
    // Act
    const notes = await Promise.all(readNotesOf(deps, [a.ranges.G3!, a.ranges.G1!, a.ranges.G4!]));
    // Assess
    expect(notes.map((n) => n[0]!.noteId)).toEqual(['G3-1', 'G1-1', 'G4-1']);
    expect(gets).toEqual([{ key: 'records/a.jsonl', start: a.ranges.G1!.start, end: a.ranges.G4!.end }]);
  });

  it('reads each file, and ranges far apart in one file, with GETs of their own; a failed GET fails only its groups', async () => {
    // Prepare: 100 KB between groups of file b, more than the gap worth reading through
    const a = recordsFile('records/a.jsonl', ['A1', 'A2']);
    const b = recordsFile('records/b.jsonl', ['B1', 'B2'], 100 * 1024);
    const { deps, gets } = depsOver({ 'records/a.jsonl': a.body, 'records/b.jsonl': b.body }, 'records/a.jsonl');
    // Act
    const results = await Promise.allSettled(readNotesOf(deps, [b.ranges.B2!, a.ranges.A1!, b.ranges.B1!, a.ranges.A2!]));
    // Assess
    expect(gets).toHaveLength(3);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value[0]!.noteId : `failed: ${(r.reason as Error).message}`))).toEqual(['B2-1', 'failed: SlowDown', 'B1-1', 'failed: SlowDown']);
  });

  it('keeps at most READS_AT_ONCE GETs open at once however many runs it reads, and answers every range', async () => {
    // Prepare: 200 files of one group each, every GET held until the next tick
    const files: Record<string, Buffer> = {};
    const ranges: NotesRange[] = [];
    for (let i = 0; i < 200; i++) {
      const f = recordsFile(`records/${i}.jsonl`, [`G${i}`]);
      files[`records/${i}.jsonl`] = f.body;
      ranges.push(f.ranges[`G${i}`]!);
    }
    const { deps, gets } = depsOver(files);
    let open = 0;
    let most = 0;
    const get = deps.objects.get.bind(deps.objects);
    deps.objects.get = async (...args: Parameters<typeof get>) => {
      most = Math.max(most, ++open);
      await new Promise((r) => setImmediate(r));
      open -= 1;
      return get(...args);
    };
    // Act
    const notes = await Promise.all(readNotesOf(deps, ranges));
    // Assess
    expect(gets).toHaveLength(200);
    expect(notes.map((n) => n[0]!.noteId)).toEqual(ranges.map((_, i) => `G${i}-1`));
    expect(most).toBe(READS_AT_ONCE);
  });
});

describe('packGroups', () => {
  const ref = (i: number, key = 'records/j/p0000.jsonl', jobId = 'j'): GroupRef => ({ jobId, groupId: `G${i}`, profile: 'claims', mode: 'full', noteCount: 1, shard: 0, notes: { key, start: i * 100, end: i * 100 + 99 } });

  it('puts a partition’s groups ten to a message, and a message gives back exactly its references', () => {
    // Prepare
    const refs = Array.from({ length: 25 }, (_, i) => ref(i));
    // Act
    const messages = packGroups(refs);
    // Assess
    expect(messages.map((m) => m.groups.length)).toEqual([10, 10, 5]);
    expect(messages.flatMap(unpackGroups)).toEqual(refs);
    for (const m of messages) expect(groupMessageSchema.parse(JSON.parse(JSON.stringify(m)))).toEqual(m);
  });

  it('never mixes jobs or records files in one message, and keeps a message small enough for a batch of ten', () => {
    // Prepare: long group ids, two files, two jobs
    const long = (i: number): GroupRef => ({ ...ref(i), groupId: `G${i}-${'x'.repeat(5000)}` });
    const refs = [ref(0), ref(1, 'records/j/p0001.jsonl'), ref(2, 'records/j/p0001.jsonl', 'k'), ...Array.from({ length: 10 }, (_, i) => long(i))];
    // Act
    const messages = packGroups(refs);
    // Assess
    expect(messages.slice(0, 3).map((m) => [m.jobId, m.key, m.groups.length])).toEqual([['j', 'records/j/p0000.jsonl', 1], ['j', 'records/j/p0001.jsonl', 1], ['k', 'records/j/p0001.jsonl', 1]]);
    expect(messages.flatMap(unpackGroups)).toEqual(refs);
    expect(Math.max(...messages.map((m) => JSON.stringify(m).length))).toBeLessThanOrEqual(24 * 1024);
  });
});
