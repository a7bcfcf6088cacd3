// Under test: the social profile end to end through the CLI, offline — a multi-platform export recognised by its
// header, every declared output in every result, the review list stored and listed, metrics per platform with
// entities counted across platforms, the platform read from the drop key, and `sluice score social-v1`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/profiles/profile.ts';
import type { ScoreReport } from '../../src/scoring/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-social-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sluice = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', join(dir, 'state')], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: '' } });
const profile = loadProfile('social');

describe('the social profile (offline)', () => {
  it('runs a multi-platform export it recognises by its header: counts add up, every output in every result, the review list stored and listed', () => {
    const r = sluice('run', 'samples/social-posts.csv', '--offline', '--json', '--out', join(dir, 'out'));
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const rows = readFileSync('samples/social-posts.csv', 'utf8').trim().split('\n').length - 1;
    expect(report).toMatchObject({ profile: 'social', status: 'COMPLETE', counts: { rows, accepted: rows, rejected: 0, failed: 0 } });
    expect(report.counts.decided).toBe(report.counts.groups);
    const lines = readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(report.counts.groups);
    for (const l of lines) {
      expect(Object.keys(l.enrichment.outputs).sort()).toEqual(profile.outputs.map((o) => o.name).sort());
      expect(profile.rules.outcomes).toContain(l.decision.outcome);
      expect(['facebook', 'instagram', 'tiktok', 'customer_care']).toContain(l.enrichment.facets.platform);
      // Resolved entities: no name twice in a kind.
      for (const names of Object.values(l.enrichment.outputs.enhancedEntities as Record<string, string[]>)) expect(new Set(names).size).toBe(names.length);
    }
    const inReview = lines.flatMap((l) => l.enrichment.resolution?.enhancedEntities?.review ?? []);
    expect(report.review).toBe(inReview.length);
    expect(inReview.length).toBeGreaterThan(0);
    const listed = sluice('review', report.jobId, '--json');
    expect(listed.status, listed.stderr).toBe(0);
    const entries = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(entries).toHaveLength(inReview.length);
    expect(entries[0]).toMatchObject({ jobId: report.jobId, profile: 'social', output: 'enhancedEntities' });
    expect(['low_confidence', 'multiple_matches']).toContain(entries[0].reason);

    const metrics = sluice('metrics', '--json');
    expect(metrics.status, metrics.stderr).toBe(0);
    const social = JSON.parse(metrics.stdout).profiles.find((p: { profile: string }) => p.profile === 'social');
    const byPlatform = social.byFacet.platform as Record<string, { groups: number; outcomes: Record<string, number> }>;
    expect(Object.keys(byPlatform).sort()).toEqual(['customer_care', 'facebook', 'instagram', 'tiktok']);
    expect(Object.values(byPlatform).reduce((s, p) => s + p.groups, 0)).toBe(report.counts.groups);
    // One entity, its mentions per platform: a product named on several platforms is one entry.
    const top = social.entities.entities[0] as { name: string; mentions: number; byFacet: Record<string, number> };
    expect(Object.keys(top.byFacet).length).toBeGreaterThan(1);
    expect(Object.values(top.byFacet).reduce((a, b) => a + b, 0)).toBe(top.mentions);
    expect(social.resolved.enhancedEntities).toBeGreaterThanOrEqual(0);
  });

  it("takes a care tool's JSONL export, and the platform from the drop key when the file has none (--under tiktok)", () => {
    // A care tool's JSONL export, its own field names (aliases of the profile's columns), no platform field.
    const file = join(dir, 'care.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify({ ticket_id: 'T-1', msg_id: '1', body: 'My Kestrel Air Fryer overheated and started to smoke. Dangerous!' })}\n${JSON.stringify({ ticket_id: 'T-1', msg_id: '2', body: 'We are sorry; our safety team will call you.' })}\n`,
    );
    const r = sluice('run', file, '--profile', 'social', '--under', 'tiktok', '--offline', '--json', '--out', join(dir, 'care'));
    expect(r.status, r.stderr).toBe(0);
    const [line] = readFileSync(join(dir, 'care', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(line.enrichment.facets).toEqual({ platform: 'tiktok' });
    expect(line.decision).toMatchObject({ outcome: 'escalate', rule: 'safety_about_product' });
  });

  it('sluice score social-v1 scores every item on the state machine with the benchmark\'s own fields', () => {
    const r = sluice('score', 'social-v1', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ScoreReport;
    expect(report.totals).toMatchObject({ items: 44, scored: 44, failed: 0, skipped: 0 });
    expect(Object.keys(report.fields)).toEqual(['decision', 'sentiment', 'products', 'keyPoints']);
    expect(report.confusion.decision).toBe('escalation');
    for (const [f, a] of Object.entries(report.fields)) expect(a.correct + report.mistakes.filter((m) => m.field === f).length, f).toBe(44);
    // The lexicon reads sarcasm as praise: those items are mistakes on sentiment, as they should be.
    expect(report.mistakes.filter((m) => m.field === 'sentiment' && m.id.startsWith('s')).length).toBeGreaterThan(0);
  });
});
