/**
 * `npm run bench:deals-cleaning`: issue 16's document cleaning on the deals generator's output (default 200
 * opportunities × 10 documents, every format), checked against its hidden truth — every document read to text,
 * boilerplate lines removed and content lines kept (the drop's repeated lines learned first), broken e-mail
 * addresses repaired to the right one, no invalid address emitted, and each opportunity's people and
 * organisations found offline (each document enriched by the offline provider, its entities output's people
 * through `documentMentions`) and consolidated at confidence 0.8, scored for precision, recall and
 * duplicates against the true ones — with the time per document by format. The rules are the deals profile's and
 * the functions the pipeline's document step calls (`prepareDocument`, `documentMentions`); the repeated lines are
 * learned as the manifest step learns them, from an even sample of the drop.
 * Writes docs/benchmarks/deals-cleaning.json. Options: --opportunities N (200), --documents N (10), --seed S (4), --out FILE.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import validator from 'validator';
import { learnRepeatedLines, sampleEvenly } from '../src/domain/documents/boilerplate.ts';
import { boilerplateOf, documentMentions, documentNote, prepareDocument } from '../src/domain/documents/prepare.ts';
import { enrichGroup } from '../src/domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../src/domain/enrich/offline-provider.ts';
import { loadProfile } from '../src/profiles/profile.ts';
import { type Entity, consolidate } from '../src/domain/documents/consolidate.ts';
import { findEmails } from '../src/domain/documents/email.ts';
import { readDocument } from '../src/domain/documents/read-document.ts';
import { generateDeals } from '../scripts/lib/deals-generator.ts';
import { median } from './lib/report.ts';

const { values } = parseArgs({ options: { opportunities: { type: 'string', default: '200' }, documents: { type: 'string', default: '10' }, seed: { type: 'string', default: '4' }, out: { type: 'string', default: 'docs/benchmarks/deals-cleaning.json' } } });
const deals = loadProfile('deals');
const offline = createOfflineProvider();

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
const repeated = learnRepeatedLines(sampleEvenly(texts, deals.documents!.boilerplate.repeated.sample), boilerplateOf(deals));
const cleaned = texts.map((t) => prepareDocument(deals, t, repeated));
// Angle brackets aside: `<mailto:a@b.com>` is repaired to `<a@b.com>`, the generator's right form is the bare address.
const norm = (t: string) => t.replace(/[<>]/g, '').replace(/\s+/g, ' ').trim().toLowerCase();
const lines = { boilerplate: 0, boilerplateRemoved: 0, content: 0, contentRemoved: 0 };
docs.forEach((d, i) => {
  const kept = new Set(cleaned[i]!.text.split('\n').map(norm));
  // A line is kept when it is there as written, its broken addresses repaired (the pipeline's text is repaired).
  const repaired = (t: string) => d.brokenEmails.reduce((x, e) => x.split(e.written).join(e.right), t);
  for (const l of d.lines) {
    const gone = !kept.has(norm(repaired(l.text)));
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
// Entities: each opportunity's cleaned documents → mentions (offline) → consolidated at 0.8, against the truth.
// An entity is right when it is a true person (by address or full name) or organisation (by name) not already
// found; a second entity for the same one is a duplicate (wrong); a true one no entity is is missed.
const key = (s: string) => s.toLowerCase().replace(/[^a-z ]/g, '').replace(/\b(inc|corp|ltd|gmbh)\b/g, '').trim().replace(/\s+/g, ' ');
const personKey = (s: string) => key(/^([^,]+),\s*(.+)$/.test(s) ? s.replace(/^([^,]+),\s*(.+)$/, '$2 $1') : s);
const entityScore = { persons: { right: 0, wrong: 0, duplicates: 0, missed: 0 }, organizations: { right: 0, wrong: 0, duplicates: 0, missed: 0 }, review: 0 };
let offset = 0;
for (const o of opportunities) {
  // Each document enriched offline (its entities output: compromise's people), as the pipeline's document step does.
  const mentions = (
    await Promise.all(
      o.documents.map(async (d, j) => {
        const { text } = cleaned[offset + j]!;
        const values = { opportunity_id: o.id, account: o.account };
        const enrichment = await enrichGroup(deals, d.name, [documentNote(deals, { docId: d.name, name: d.name, order: j, text, values })], offline, 'full');
        return documentMentions(deals, text, d.name, values, enrichment.outputs);
      }),
    )
  ).flat();
  offset += o.documents.length;
  const { entities, review } = consolidate(mentions, 0.8);
  entityScore.review += review.length;
  const score = (kind: 'person' | 'organization', truth: Array<{ id: string; keys: string[]; emails: string[] }>, counts: typeof entityScore.persons) => {
    const found = new Set<string>();
    const names = (e: Entity) => [e.name, ...e.variants].map(kind === 'person' ? personKey : key);
    for (const e of entities.filter((x) => x.kind === kind)) {
      const t = truth.find((x) => e.emails.some((m) => x.emails.includes(m)) || names(e).some((n) => x.keys.includes(n)));
      if (!t) counts.wrong += 1;
      else if (found.has(t.id)) counts.duplicates += 1;
      else {
        found.add(t.id);
        counts.right += 1;
      }
    }
    counts.missed += truth.filter((t) => !found.has(t.id)).length;
  };
  score('person', o.people.map((p) => ({ id: p.email, keys: [key(p.name)], emails: [p.email] })), entityScore.persons);
  score('organization', o.organizations.map((name) => ({ id: name, keys: [key(name)], emails: [] })), entityScore.organizations);
}
const prf = (c: typeof entityScore.persons) => ({ ...c, precision: Math.round((c.right / Math.max(1, c.right + c.wrong + c.duplicates)) * 1000) / 1000, recall: Math.round((c.right / Math.max(1, c.right + c.missed)) * 1000) / 1000 });

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
  entities: { persons: prf(entityScore.persons), organizations: prf(entityScore.organizations), listedForReview: entityScore.review },
  targets: { entityPrecisionAndRecallAtLeast: 0.9, duplicateEntities: 0, boilerplateRemovedAtLeast: 0.95, contentRemovedAtMost: 0.01, brokenEmailsRepairedAtLeast: 0.95, invalidAddressesEmitted: 0 },
};
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
