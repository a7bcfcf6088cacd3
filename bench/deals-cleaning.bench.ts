/**
 * `npm run bench:deals-cleaning`: issue 16's document cleaning on the deals generator's output (default 200
 * opportunities × 10 documents, every format), checked against its hidden truth — every document read to text,
 * boilerplate lines removed and content lines kept (the drop's repeated lines learned first), broken e-mail
 * addresses repaired to the right one, no invalid address emitted — with the time per document by format. The
 * boilerplate rules are DEALS_BOILERPLATE, beside the generator (the deals profile will hold them).
 * Writes docs/benchmarks/deals-cleaning.json. Options: --opportunities N (200), --documents N (10), --seed S (4), --out FILE.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import validator from 'validator';
import { compileBoilerplate, learnRepeatedLines, removeBoilerplate } from '../src/domain/documents/boilerplate.ts';
import { findEmails } from '../src/domain/documents/email.ts';
import { readDocument } from '../src/domain/documents/read-document.ts';
import { DEALS_BOILERPLATE, generateDeals } from '../scripts/lib/deals-generator.ts';

const { values } = parseArgs({ options: { opportunities: { type: 'string', default: '200' }, documents: { type: 'string', default: '10' }, seed: { type: 'string', default: '4' }, out: { type: 'string', default: 'docs/benchmarks/deals-cleaning.json' } } });
const b = compileBoilerplate(DEALS_BOILERPLATE);

const opportunities = await generateDeals({ seed: Number(values.seed), opportunities: Number(values.opportunities), documentsPerOpportunity: Number(values.documents) });
const docs = opportunities.flatMap((o) => o.documents);
const msByFormat: Record<string, number[]> = {};
const texts: string[] = [];
const unread: string[] = [];
for (const d of docs) {
  const started = performance.now();
  const r = await readDocument(d.name, d.bytes, { maxBytes: 20 * 1024 * 1024 });
  (msByFormat[d.name.split('.').at(-1)!] ??= []).push(performance.now() - started);
  if (!r.ok) unread.push(`${d.name}: ${r.reason}`);
  texts.push(r.ok ? r.text : '');
}
const repeated = learnRepeatedLines(texts, b);
const cleaned = texts.map((t) => removeBoilerplate(t, b, repeated));
const norm = (t: string) => t.replace(/\s+/g, ' ').trim().toLowerCase();
const lines = { boilerplate: 0, boilerplateRemoved: 0, content: 0, contentRemoved: 0 };
docs.forEach((d, i) => {
  const kept = new Set(cleaned[i]!.text.split('\n').map(norm));
  for (const l of d.lines) {
    const gone = !kept.has(norm(l.text));
    if (l.boilerplate) {
      lines.boilerplate += 1;
      if (gone) lines.boilerplateRemoved += 1;
    } else {
      lines.content += 1;
      if (gone) lines.contentRemoved += 1;
    }
  }
});
const found = cleaned.map((c) => findEmails(c.text));
const broken = docs.flatMap((d, i) => d.brokenEmails.map((e) => ({ ...e, repaired: found[i]!.some((f) => f.address === e.right) })));
const emitted = found.flat().flatMap((f) => (f.address ? [f.address] : []));
const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
const report = {
  command: `npm run bench:deals-cleaning -- --opportunities ${values.opportunities} --documents ${values.documents} --seed ${values.seed}`,
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  opportunities: opportunities.length,
  documents: docs.length,
  unread,
  medianReadMsByFormat: Object.fromEntries(Object.entries(msByFormat).map(([f, ms]) => [f, Math.round(median(ms) * 100) / 100])),
  learnedRepeatedLines: [...repeated],
  boilerplateRemoved: Math.round((lines.boilerplateRemoved / lines.boilerplate) * 10000) / 10000,
  contentRemoved: Math.round((lines.contentRemoved / lines.content) * 10000) / 10000,
  lines,
  brokenEmails: broken.length,
  brokenEmailsRepaired: Math.round((broken.filter((e) => e.repaired).length / broken.length) * 10000) / 10000,
  addressesEmitted: emitted.length,
  invalidAddressesEmitted: emitted.filter((a) => !validator.isEmail(a)).length,
  targets: { boilerplateRemovedAtLeast: 0.95, contentRemovedAtMost: 0.01, brokenEmailsRepairedAtLeast: 0.95, invalidAddressesEmitted: 0 },
};
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
