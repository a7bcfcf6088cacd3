// Under test: shadow runs (issue 15, seed 003) — a pushed candidate decides a share of the live groups beside the
// active version: its decisions are stored on the groups and compared by the daily metrics (agreement, flips),
// the result files carry only the active decisions, and a candidate that fails changes no served result.
import { readFileSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVersionRegistry } from '../../src/adapters/profile-registry.ts';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { computeMetrics } from '../../src/pipeline/metrics.ts';
import type { GroupItem } from '../../src/pipeline/ports.ts';
import { inShadowShare } from '../../src/pipeline/shadow.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { type VersionRegistry, pushProfile, setShadow } from '../../src/profiles/registry.ts';

let rt: LocalRuntime;
let registry: VersionRegistry;
const sample = readFileSync('samples/claims-notes.csv');
const claims = loadProfile('claims');

beforeAll(async () => {
  rt = await startLocalRuntime({ logLevel: 'SILENT', waitSeconds: 1 });
  registry = createVersionRegistry(rt.clients.s3, rt.clients.dynamodb, rt.names.buckets.config, rt.names.table);
});
afterAll(async () => {
  await rt?.stop();
});

async function drop(key: string): Promise<{ job: Job; groups: GroupItem[]; lines: Array<Record<string, unknown> & { groupId: string; decision: { outcome: string; rule: string } | null }> }> {
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: sample }));
  const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 120_000 });
  const groups: GroupItem[] = [];
  for await (const g of rt.store.listGroups(job.jobId)) groups.push(g);
  const body = await (await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: job.results!.jsonl }))).Body!.transformToString();
  return { job, groups, lines: body.trim().split('\n').map((l) => JSON.parse(l)) };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a candidate in shadow on 20% of the groups', () => {
  it('decides about a fifth of the groups beside the active version, never in the results; metrics show agreement and flips', async () => {
    // The candidate: building-damage claims with parts become "no" — a change the comparison must show as flips.
    const data = structuredClone(claims.data);
    data.rules.rules.find((r: { name: string }) => r.name === 'building_cause_and_parts').event.type = 'no';
    const { version } = await pushProfile(registry, 'claims', data, 'test');
    await setShadow(registry, 'claims', { version, share: 0.2 }, claims.version);
    await wait(2100); // the functions trust the active pointer they read for 2 s locally

    const { job, groups, lines } = await drop('incoming/claims/shadowed.csv');
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.profileVersion).toBe(claims.version); // the active version served
    const shadowed = groups.filter((g) => g.shadow);
    // The share is a hash of job and group: exactly the groups it picks, about a fifth of 100.
    expect(shadowed.map((g) => g.groupId).sort()).toEqual(groups.filter((g) => inShadowShare(job.jobId, g.groupId, 0.2)).map((g) => g.groupId).sort());
    expect(shadowed.length).toBeGreaterThanOrEqual(8);
    expect(shadowed.length).toBeLessThanOrEqual(35);
    for (const g of shadowed) {
      expect(g.shadow).toMatchObject({ version, outcome: expect.any(String) });
      expect(g.shadow!.error).toBeUndefined();
      // The candidate differs in one rule's outcome only: where the active one fired it, the shadow says no.
      if (g.decision!.rule === 'building_cause_and_parts') expect(g.shadow!.outcome).toBe('no');
      else expect(g.shadow!.outcome).toBe(g.decision!.outcome);
    }
    // Results carry the active decisions only.
    for (const l of lines) {
      expect(l).not.toHaveProperty('shadow');
      if (l.decision?.rule === 'building_cause_and_parts') expect(l.decision.outcome).toBe('yes');
    }

    const report = await computeMetrics(rt.operatorDeps(), { day: job.timings.receivedAt.slice(0, 10), pricePer1kPromptTokens: 0, dlqDepths: async () => ({}) });
    const s = report.profiles.find((p) => p.profile === 'claims')!.shadow[version]!;
    const flipped = shadowed.filter((g) => g.shadow!.outcome !== g.decision!.outcome).length;
    expect(flipped).toBeGreaterThan(0); // this file and key pick groups the edited rule decides
    expect(s).toMatchObject({ groups: shadowed.length, agree: shadowed.length - flipped, errors: 0 });
    expect(s.flips).toEqual({ 'yes → no': flipped });
    expect(s.agreement).toBeCloseTo((shadowed.length - flipped) / shadowed.length, 4);
  }, 240_000);

  it('a candidate that fails changes no served result: its error is recorded, the active decision stands', async () => {
    const before = await drop('incoming/claims/unshadowed.csv').then((r) => r.lines);
    // A shadow whose version cannot be read (as a deleted or corrupt version would be), on every group.
    const active = await registry.getActive('profile', 'claims');
    await registry.setActive('profile', 'claims', { ...active!, shadow: { version: 'v-000000000000', share: 1 } }, active!.version);
    await wait(2100);
    const { groups, lines } = await drop('incoming/claims/broken-shadow.csv');
    expect(groups.every((g) => g.shadow?.version === 'v-000000000000' && g.shadow.error?.includes('no version v-000000000000'))).toBe(true);
    const served = (ls: typeof lines) => ls.map((l) => [l.groupId, l.status, l.decision?.outcome, l.decision?.rule]).sort();
    expect(served(lines)).toEqual(served(before));
  }, 240_000);
});
