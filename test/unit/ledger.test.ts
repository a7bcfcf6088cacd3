// Under test: a ledger set's members packed for a reader that holds every shard of a job (the reconciler's replay):
// the same answers as the set they came from, for members and non-members alike.
import { describe, expect, it } from 'vitest';
import { groupToken, packMembers, shardHolds } from '../../src/pipeline/ledger.ts';

describe('packed ledger members', () => {
  it('answer has and size as the set does, for every member and for tokens not in it', () => {
    const tokens = new Set(Array.from({ length: 500 }, (_, i) => groupToken(`CLM-${i}`)));
    const packed = packMembers(tokens);
    expect(packed.size).toBe(500);
    for (const t of tokens) expect(packed.has(t)).toBe(true);
    const others = Array.from({ length: 500 }, (_, i) => groupToken(`OTHER-${i}`));
    expect(others.filter((t) => packed.has(t))).toEqual([]);
    expect(packed.has('short')).toBe(false);
    expect(packMembers(new Set()).has(groupToken('x'))).toBe(false);
  });

  it('keep tokens of another length as a set, and serve shardHolds like one', () => {
    const odd = new Set(['abc', groupToken('G1')]);
    expect(packMembers(odd)).toBe(odd);
    const token = groupToken('G2');
    const members = packMembers(new Set([token]));
    const empty = packMembers(new Set());
    const shard = { shard: 0, expected: 2, enriched: members, pending: empty, decided: members, failed: empty };
    expect(shardHolds(shard, token, { enriched: true, pending: false, settled: 'decided' })).toBe(true);
    expect(shardHolds(shard, token, { enriched: true, pending: true })).toBe(false);
    expect(shardHolds(shard, groupToken('G3'), { enriched: true, pending: false })).toBe(false);
  });
});
