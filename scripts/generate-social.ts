/**
 * Writes a synthetic multi-platform social export: `npm run generate:social -- --threads 5000 --out posts.csv
 * [--seed 7] [--labels truth.jsonl]`. The bundled sample (samples/social-posts.csv) is its output with its defaults.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateSocial, toCsv } from './lib/social-generator.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '120' },
    seed: { type: 'string', default: '7' },
    out: { type: 'string', default: 'samples/social-posts.csv' },
    labels: { type: 'string' },
  },
});
const { header, rows, threads } = generateSocial({ seed: Number(values.seed), threads: Number(values.threads) });
writeFileSync(values.out!, toCsv(header, rows));
if (values.labels) writeFileSync(values.labels, `${threads.map((t) => JSON.stringify(t)).join('\n')}\n`);
process.stderr.write(`wrote ${rows.length} messages over ${threads.length} threads to ${values.out}\n`);
