// Under test: `sluice improve` as a user runs it — the report, the improved profile written for review (a working
// profile folder), and what is not built refused with exit 2.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/profiles/profile.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-improve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sluice = (...args: string[]) => spawnSync(process.execPath, ['bin/sluice.mjs', ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: '' } });

describe('sluice improve', () => {
  it('reports every loop and kept edit, and writes the improved profile as a folder that loads', () => {
    const r = sluice('improve', 'claims-v1', '--json', '--out', join(dir, 'claims'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('improve claims-v1: loop 1:');
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ benchmark: 'claims-v1', profile: 'claims', improved: true, written: join(dir, 'claims') });
    expect(report.edits.length).toBeGreaterThan(0);
    expect(report.final.validation.decision).toBeGreaterThan(report.start.validation.decision);
    const improved = loadProfile('claims', dir);
    expect(existsSync(join(dir, 'claims', 'prompts', `${improved.enrichment.promptVersion}.md`))).toBe(true);
    const denied = improved.outputs.find((o) => o.name === 'buildingDamageDenied')!;
    const added = report.edits.filter((e: { output: string }) => e.output === 'buildingDamageDenied').map((e: { phrase: string }) => e.phrase);
    if (denied.offline.extractor === 'phrases') expect(denied.offline.phrases).toEqual(expect.arrayContaining(added));
  });

  it('refuses what is not built and bad flags with exit 2', () => {
    const llm = sluice('improve', 'claims-v1', '--proposer', 'llm');
    expect(llm.status).toBe(2);
    expect(llm.stderr).toContain('--proposer llm is not built yet');
    expect(sluice('improve', 'claims-v9').status).toBe(2);
  });
});
