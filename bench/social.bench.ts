/**
 * `npm run bench:social`: the social profile on a generated multi-platform export (default 5,000 threads) with
 * `sluice run --offline`, checked against the generator's hidden truths: counts add up, every declared output is
 * in every result, the offline provider's sentiment accuracy (lexicon, cheap and "expensive" alike offline) and
 * escalation precision and recall, overall and per kind of thread. Writes docs/benchmarks/social.json.
 * Options: --threads N (5000), --seed S (11), --out FILE.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadProfile } from '../src/profiles/profile.ts';
import { type GeneratedThread, generateSocial, toCsv } from '../scripts/lib/social-generator.ts';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '5000' }, seed: { type: 'string', default: '11' }, out: { type: 'string', default: 'docs/benchmarks/social.json' } } });
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-social-'));
const { header, rows, threads } = generateSocial({ seed: Number(values.seed), threads: Number(values.threads) });
const file = join(dir, 'social-export.csv');
writeFileSync(file, toCsv(header, rows));

const started = Date.now();
const stdout = execFileSync(process.execPath, ['bin/sluice.mjs', 'run', file, '--profile', 'social', '--offline', '--json', '--state', join(dir, 'state'), '--out', join(dir, 'out')], {
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
  env: { ...process.env, OPENAI_API_KEY: '' },
});
const wallMs = Date.now() - started;
const report = JSON.parse(stdout) as { status: string; counts: Counts };
type Counts = Record<'rows' | 'accepted' | 'rejected' | 'duplicates' | 'groups' | 'decided' | 'failed', number>;
interface Line {
  groupId: string;
  enrichment?: { outputs: Record<string, unknown>; stages: Record<string, string> };
  decision?: { outcome: string };
}
const lines = readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
const byId = new Map(lines.map((l) => [l.groupId, l]));
const profile = loadProfile('social');

const missingOutputs = lines.filter((l) => profile.outputs.some((o) => !(o.name in (l.enrichment?.outputs ?? {})))).length;
const label = (l: Line | undefined, output: string) => (l?.enrichment?.outputs[output] as { label?: string } | undefined)?.label;
function accuracy(subset: GeneratedThread[], output: string) {
  const right = subset.filter((t) => label(byId.get(t.threadId), output) === t.sentiment).length;
  return subset.length ? Math.round((right / subset.length) * 1000) / 1000 : null;
}
function escalation(subset: GeneratedThread[]) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const t of subset) {
    const predicted = byId.get(t.threadId)?.decision?.outcome === 'escalate';
    if (predicted && t.escalate) tp += 1;
    else if (predicted) fp += 1;
    else if (t.escalate) fn += 1;
  }
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return { precision: tp + fp ? r3(tp / (tp + fp)) : null, recall: tp + fn ? r3(tp / (tp + fn)) : null, truePositives: tp, falsePositives: fp, falseNegatives: fn };
}
const kinds = [...new Set(threads.map((t) => t.kind))].sort();
const result = {
  command: `npm run bench:social -- --threads ${values.threads} --seed ${values.seed}`,
  at: new Date().toISOString(),
  threads: threads.length,
  messages: rows.length,
  wallMs,
  status: report.status,
  counts: report.counts,
  countsAddUp: report.counts.rows === rows.length && report.counts.accepted + report.counts.rejected + report.counts.duplicates === report.counts.rows && report.counts.groups === threads.length && report.counts.decided + report.counts.failed === report.counts.groups,
  resultsWithEveryOutput: lines.length - missingOutputs,
  sentimentAccuracy: { quickSentiment: accuracy(threads, 'quickSentiment'), sentiment: accuracy(threads, 'sentiment') },
  escalation: escalation(threads),
  byKind: Object.fromEntries(kinds.map((k) => {
    const subset = threads.filter((t) => t.kind === k);
    return [k, { threads: subset.length, sentimentAccuracy: accuracy(subset, 'quickSentiment'), escalation: escalation(subset) }];
  })),
};
writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
