/**
 * `npm run bench:shadow`: a candidate in shadow on 20 % of a generated claims file (default 1,000 claims), as an
 * operator runs it with the CLI: the same file run without a shadow and with one (side by side in one run, so the
 * machine's noise hits both), then `sluice metrics`. Reports the groups that carry both decisions, agreement and
 * flips, that the results of the two runs are the same decisions (the shadow is never served), and the wall-time
 * ratio with/without. Writes docs/benchmarks/shadow.json. Options: --claims N (1000), --share F (0.2), --out FILE.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateClaims, toCsv } from '../scripts/lib/claims-generator.ts';

const { values } = parseArgs({ options: { claims: { type: 'string', default: '1000' }, share: { type: 'string', default: '0.2' }, out: { type: 'string', default: 'docs/benchmarks/shadow.json' } } });
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-shadow-'));
const state = join(dir, 'state');
const sluice = (...args: string[]) => execFileSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', state], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, OPENAI_API_KEY: '' } });
const { header, rows } = generateClaims({ seed: 7, claims: Number(values.claims), notesPerClaim: 4, longNoteShare: 0.08, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
const csv = toCsv(header, rows);

// The candidate: claims with a building-damaging cause and parts decided "no" (a change the comparison must show).
const candidate = join(dir, 'candidate');
cpSync('profiles/claims', candidate, { recursive: true });
const rules = JSON.parse(readFileSync(join(candidate, 'rules.json'), 'utf8'));
rules.rules.find((r: { name: string }) => r.name === 'building_cause_and_parts').event.type = 'no';
writeFileSync(join(candidate, 'rules.json'), JSON.stringify(rules, null, 2));

const run = (name: string) => {
  const file = join(dir, name);
  writeFileSync(file, csv);
  const started = Date.now();
  const job = JSON.parse(sluice('run', file, '--offline', '--json', '--out', join(dir, name.replace('.csv', '')))) as { jobId: string; status: string; counts: { groups: number }; results: { jsonl: string } };
  const ms = Date.now() - started;
  const lines = readFileSync(job.results.jsonl, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { groupId: string; shadow?: unknown; decision?: { outcome: string; rule: string } });
  return { job, ms, lines };
};

const off = run('claims-without-shadow.csv');
const { version } = JSON.parse(sluice('profile', 'push', 'claims', '--dir', candidate, '--no-activate', '--json')) as { version: string };
sluice('profile', 'shadow', 'claims', version, '--share', values.share!);
const on = run('claims-with-shadow.csv');
const metrics = JSON.parse(sluice('metrics', '--json')) as { profiles: Array<{ profile: string; shadow: Record<string, { groups: number; agree: number; agreement: number | null; flips: Record<string, number>; errors: number }> }> };
const shadow = metrics.profiles.find((p) => p.profile === 'claims')!.shadow[version]!;
const served = (ls: typeof on.lines) => JSON.stringify(ls.map((l) => [l.groupId, l.decision?.outcome, l.decision?.rule]).sort());

const result = {
  command: `npm run bench:shadow -- --claims ${values.claims} --share ${values.share}`,
  claims: Number(values.claims),
  groups: on.job.counts.groups,
  share: Number(values.share),
  candidate: version,
  shadow: { ...shadow, shareOfGroups: Math.round((shadow.groups / on.job.counts.groups) * 1000) / 1000 },
  resultsCarryShadow: on.lines.some((l) => 'shadow' in l),
  servedDecisionsEqualWithoutShadow: served(on.lines) === served(off.lines),
  wallMs: { withoutShadow: off.ms, withShadow: on.ms, ratio: Math.round((on.ms / off.ms) * 100) / 100 },
};
writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
