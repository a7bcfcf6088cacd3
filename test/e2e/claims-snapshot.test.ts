// Under test: what the claims profile yields, held against a snapshot taken before profiles declared their
// outputs (issue 14): every group's status, decision (outcome and rule) and cause code on the bundled sample, and
// the offline score of claims-v1 (totals, accuracy per field, the confusion matrix and every mistake). A change
// to how a profile is expressed must leave all of it as it was; a deliberate change to claims updates the snapshot
// (`vitest run test/e2e/claims-snapshot.test.ts -u`) and says why in its commit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ScoreReport } from '../../src/scoring/report.ts';

const state = mkdtempSync(join(tmpdir(), 'sluice-claims-snapshot-'));
const sluice = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', state], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: '' } });

interface ResultLine {
  groupId: string;
  status: string;
  enrichment?: { outputs: { causeCode?: string } };
  decision?: { outcome: string; rule: string };
}

describe('the claims profile, against its snapshot', () => {
  it('decides every group of the bundled sample as before, with the same cause codes', async () => {
    const out = join(state, 'out');
    const r = sluice('run', 'samples/claims-notes.csv', '--offline', '--json', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ResultLine);
    expect(lines).toHaveLength((JSON.parse(r.stdout) as { counts: { groups: number } }).counts.groups);
    const table = lines
      .map((l) => [l.groupId, l.status, l.decision?.outcome ?? '-', l.decision?.rule ?? '-', l.enrichment?.outputs.causeCode ?? '-'].join(' '))
      .sort()
      .join('\n');
    await expect(`${table}\n`).toMatchFileSnapshot('__snapshots__/claims-sample.txt');
  });

  it('scores claims-v1 offline as before: totals, accuracy per field, confusion and every mistake', async () => {
    const r = sluice('score', 'claims-v1', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ScoreReport;
    const kept = {
      totals: report.totals,
      fields: report.fields,
      confusion: { labels: report.confusion.labels, counts: report.confusion.counts }, // as the snapshot was taken (its title, the decision's name, came later)
      mistakes: [...report.mistakes].sort((a, b) => `${a.id} ${a.field}`.localeCompare(`${b.id} ${b.field}`)).map(({ id, field, expected, predicted }) => ({ id, field, expected, predicted })),
    };
    await expect(`${JSON.stringify(kept, null, 1)}\n`).toMatchFileSnapshot('__snapshots__/claims-v1-score.json');
  });
});
