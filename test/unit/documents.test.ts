// Under test: the documents of issue 16 (deal documents) — each format read to text or refused with the reason,
// e-mail addresses found, repaired and validated (an address that cannot be repaired is reported, never
// emitted), and boilerplate removed with its counts.
import { Readable } from 'node:stream';
import validator from 'validator';
import { describe, expect, it } from 'vitest';
import { learnRepeatedLines, removeBoilerplate } from '../../src/domain/documents/boilerplate.ts';
import { type Mention, consolidate } from '../../src/domain/documents/consolidate.ts';
import { findEmails, repairEmail } from '../../src/domain/documents/email.ts';
import { manifestColumns, parseRowRange, readManifest } from '../../src/domain/documents/manifest.ts';
import { loadProfile } from '../../src/profiles/profile.ts';
import { mentionsOf } from '../../src/domain/documents/mentions.ts';
import { readDocument } from '../../src/domain/documents/read-document.ts';
import { docxBytes, emlBytes, pdfBytes } from '../../scripts/lib/document-builders.ts';
import { generateDeals } from '../../scripts/lib/deals-generator.ts';
import { boilerplateOf, documentMentions, documentNote, prepareDocument } from '../../src/domain/documents/prepare.ts';
import { enrichGroup } from '../../src/domain/enrich/enrich-group.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { prng } from '../../src/domain/random.ts';

// The deals profile's rules (its data).
const b = boilerplateOf(loadProfile('deals'));

describe('e-mail repair', () => {
  it.each([
    ['jane.doe at acme dot com', 'jane.doe@acme.com', ['spelled-out at', 'spelled-out dot']],
    ['j.smith [at] globex [dot] co [dot] uk', 'j.smith@globex.co.uk', ['spelled-out at', 'spelled-out dot']],
    ['Jane.Doe@Acme,com', 'jane.doe@acme.com', ['comma for a dot', 'case']],
    ['<mailto:bob@initech.io>', 'bob@initech.io', ['mailto or brackets']],
    ['bob@initech.io.', 'bob@initech.io', ['punctuation']],
    ['"bob@initech.io",', 'bob@initech.io', ['punctuation']],
    ['bob@@initech.io', 'bob@initech.io', ['doubled @']],
    ['bob @ initech . io', 'bob@initech.io', ['spaces']],
    ['ann.lee@hooli.com', 'ann.lee@hooli.com', []],
  ])('repairs %s to %s, naming each repair', (raw, address, fixes) => {
    expect(repairEmail(raw)).toEqual({ raw, address, fixes });
  });

  it.each([
    ['bob@initech', /"bob@initech" is not a valid address/],
    ['a@b@initech.com', /more than one @/],
    ['jane..doe@acme.com', /not a valid address/],
    ['acme.com', /no @/],
  ])('reports %s with the reason and no address', (raw, reason) => {
    const found = repairEmail(raw);
    expect(found.address).toBeUndefined();
    expect(found.reason).toMatch(reason);
  });

  it('finds the addresses of a text, damaged or not, and takes no prose for one', () => {
    const text = 'Write to jane.doe at acme dot com or Bob@Globex,com; we met at the office. See you at noon dot com. Mail: <mailto:ann@initech.io>, cc carl@@initech.io. Both a@x.io,b@y.io.';
    expect(findEmails(text).map((f) => f.address)).toEqual(['jane.doe@acme.com', 'bob@globex.com', 'ann@initech.io', 'carl@initech.io', 'a@x.io', 'b@y.io']);
  });

  it('repairs ≥ 95 % of damaged addresses to the right one and emits no invalid address (seeded damage)', () => {
    // Prepare: 400 addresses, each damaged one way, as people and OCR damage them
    const random = prng(16);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    const names = ['jane.doe', 'j.smith', 'ann_lee', 'carl-otto', 'm.ruiz2', 'priya.k', 'tom'];
    const domains = ['acme.com', 'globex.co.uk', 'initech.io', 'hooli.net', 'umbrella-corp.de'];
    const damages: Array<(a: string) => string> = [
      (a) => a.replace('@', ' at ').replaceAll('.', ' dot '),
      (a) => a.replace('@', ' [at] ').replace(/\.(?=[^.]*$)/, ' [dot] '),
      (a) => a.replace(/\.(?=[^.]*$)/, ','),
      (a) => `<mailto:${a}>`,
      (a) => `${a}${pick(['.', ',', ';', ')', '.)'])}`,
      (a) => a.replace('@', '@@'),
      (a) => a.replace('@', ' @ '),
      (a) => a.toUpperCase(),
    ];
    const cases = Array.from({ length: 400 }, () => {
      const right = `${pick(names)}@${pick(domains)}`;
      return { right, written: pick(damages)(right) };
    });
    // Act
    const results = cases.map((c) => ({ ...c, found: repairEmail(c.written) }));
    // Assess
    const repaired = results.filter((r) => r.found.address === r.right).length;
    expect(repaired / cases.length).toBeGreaterThanOrEqual(0.95);
    const emitted = results.flatMap((r) => (r.found.address ? [r.found.address] : []));
    expect(emitted.filter((a) => !validator.isEmail(a))).toEqual([]);
  });
});

describe('boilerplate removal', () => {

  it('cuts a reply chain and a signature block, drops boilerplate and quoted lines, and counts each kind', () => {
    // Prepare
    const text = [
      'Hi Jane,',
      '',
      'Initech will sign the 3-year renewal if we hold the price at $120k.',
      '> earlier: can you do $110k?',
      'Sent from my iPhone',
      'This email is confidential and intended solely for the addressee.',
      '',
      'On Tue, 3 Mar 2026 at 10:02, Bob Smith <bob@initech.io> wrote:',
      '> Let us talk numbers.',
      '> Bob',
    ].join('\n');
    // Act
    const { text: kept, removed } = removeBoilerplate(text, b);
    // Assess
    expect(kept).toBe('Hi Jane,\n\nInitech will sign the 3-year renewal if we hold the price at $120k.');
    expect(removed).toEqual({ cut: 3, dropped: 3, repeated: 0 });
  });

  it("learns the lines a drop's documents repeat (in ≥ 3 documents and ≥ half of them) and removes them, keeping content", () => {
    // Prepare: ten documents with the same footer and template line, each with its own content
    const footer = 'Acme Corp | 1 Main St | Springfield | www.acme.com';
    const docs = Array.from({ length: 10 }, (_, i) => `Deal note ${i}: Globex wants ${i + 2} seats.\nNext step: call on day ${i + 1}.\n\n${footer}\nDeal desk template v2`);
    docs.push('A note without the footer: the champion left Globex.');
    // Act
    const repeated = learnRepeatedLines(docs, b);
    const cleaned = docs.map((d) => removeBoilerplate(d, b, repeated));
    // Assess
    expect([...repeated].sort()).toEqual([footer.toLowerCase(), 'deal desk template v2']);
    expect(cleaned[3]).toEqual({ text: 'Deal note 3: Globex wants 5 seats.\nNext step: call on day 4.', removed: { cut: 0, dropped: 0, repeated: 2 } });
    expect(cleaned[10]!.text).toBe('A note without the footer: the champion left Globex.');
  });

  it('learns nothing from too few documents', () => {
    expect(learnRepeatedLines(['Same line\nA', 'Same line\nB'], b).size).toBe(0);
  });
});

describe('reading a document', () => {
  const limits = { maxBytes: 1024 * 1024 };
  const text = (r: Awaited<ReturnType<typeof readDocument>>) => (r.ok ? r.text.replace(/\s+/g, ' ').trim() : `refused: ${r.reason}`);

  it('reads .txt, .md, .html, .pdf and .docx to their text', async () => {
    expect(text(await readDocument('a/notes.txt', Buffer.from('Globex asks for 40 seats.\n'), limits))).toBe('Globex asks for 40 seats.');
    expect(text(await readDocument('a/notes.md', Buffer.from('# Call\n\n* champion: Ann Lee'), limits))).toBe('# Call * champion: Ann Lee');
    expect(text(await readDocument('a/page.HTML', Buffer.from('<html><body><h1>Renewal</h1><p>Initech signs <b>Friday</b>.<img src="x.png"></p><script></script></body></html>'), limits))).toBe('RENEWAL Initech signs Friday.');
    expect(text(await readDocument('a/quote.pdf', pdfBytes({ text: 'Quote: 120,000 USD for 3 years' }), limits))).toBe('Quote: 120,000 USD for 3 years');
    expect(text(await readDocument('a/plan.docx', await docxBytes(['Mutual action plan', 'Legal review by 12 March']), limits))).toBe('Mutual action plan Legal review by 12 March');
  });

  it('reads an e-mail: headers, body, and the attachments that are documents', async () => {
    // Prepare
    const eml = emlBytes({ from: 'Bob Smith <bob@initech.io>', to: 'jane.doe@acme.com', subject: 'Renewal', body: 'We can sign at 120k.', attachments: [{ name: 'terms.txt', text: 'Net 30.' }, { name: 'logo.bin', text: 'x' }] });
    // Act
    const r = await readDocument('a/thread.eml', eml, limits);
    // Assess
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.text.trim()).toBe('We can sign at 120k.');
    expect(r.headers).toEqual({ from: '"Bob Smith" <bob@initech.io>', to: 'jane.doe@acme.com', subject: 'Renewal', date: '2026-03-03T10:02:00.000Z' });
    expect(r.attachments.map((a) => [a.name, a.bytes.toString()])).toEqual([['terms.txt', 'Net 30.']]);
  });

  it.each([
    ['an encrypted PDF', 'a/locked.pdf', () => pdfBytes({ text: 'secret', encrypted: true }), /^the PDF is encrypted/],
    ['a PDF without a text layer (a scan)', 'a/scan.pdf', () => pdfBytes({}), /^the PDF has no text layer/],
    ['a corrupt PDF', 'a/broken.pdf', () => Buffer.from('%PDF-1.4\nthis is not a PDF'), /^not a readable PDF/],
    ['a corrupt .docx', 'a/broken.docx', () => Buffer.from('PK\u0003\u0004 not a zip'), /^not a readable \.docx/],
    ['a 0-byte file', 'a/empty.txt', () => Buffer.alloc(0), /^the file is empty \(0 bytes\)$/],
    ['a file over the size limit', 'a/big.txt', () => Buffer.alloc(2 * 1024 * 1024, 97), /^the file is 2097152 bytes; at most 1048576 are read$/],
    ['an unknown type', 'a/photo.jpg', () => Buffer.from([0xff, 0xd8, 0xff]), /^unknown type \.jpg; sluice reads \.txt, \.md/],
    ['text that is not UTF-8', 'a/latin1.txt', () => Buffer.from([0x63, 0x61, 0x66, 0xe9]), /^not UTF-8 text$/],
  ])('refuses %s with the reason', async (_what, name, bytes, reason) => {
    const r = await readDocument(name, await bytes(), limits);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe('entity consolidation per opportunity', () => {
  const person = (name: string | undefined, document: string, confidence = 0.7, email?: string): Mention => ({ kind: 'person', ...(name ? { name } : {}), ...(email ? { email } : {}), confidence, document });
  const org = (name: string, document: string, confidence = 0.7): Mention => ({ kind: 'organization', name, confidence, document });

  it('merges the ways one person is written — full name, "Last, First", title, initial, first name, initials, address — into one entity', () => {
    // Act
    const { entities, review } = consolidate(
      [
        person('Jane Doe', 'd1', 0.9),
        person('Doe, Jane', 'd2'),
        person('Ms. Jane Doe', 'd3'),
        person('J. Doe', 'd4', 0.5),
        person('Jane', 'd5', 0.5),
        person('JD', 'd6', 0.4),
        person(undefined, 'd7', 0.6, 'Jane.Doe@acme.com'),
        person('Bob Smith', 'd1', 0.95, 'bob@initech.io'),
        person('Bob', 'd2', 0.5),
      ],
      0.8,
    );
    // Assess
    expect(review).toEqual([]);
    expect(entities.map((e) => [e.name, e.variants.length, e.emails, e.documents.length])).toEqual([
      ['Jane Doe', 5, ['jane.doe@acme.com'], 7],
      ['Bob Smith', 1, ['bob@initech.io'], 2],
    ]);
    expect(entities[0]!.confidence).toBeGreaterThan(0.99);
  });

  it('joins no partial form that fits several people, and no two people who merely share a last name', () => {
    const { entities } = consolidate([person('Jane Doe', 'd1', 0.9), person('John Doe', 'd2', 0.9), person('J. Doe', 'd3', 0.9), person('Doe', 'd4', 0.9)], 0.8);
    expect(entities.map((e) => e.name).sort()).toEqual(['Doe', 'J. Doe', 'Jane Doe', 'John Doe']);
  });

  it("merges an organisation's names without legal forms and its domain, and lists low-confidence entities for review", () => {
    // Act
    const { entities, review } = consolidate([org('Globex Corporation', 'd1', 0.9), org('GLOBEX', 'd2'), org('Globex Inc.', 'd3'), { kind: 'organization', email: 'sales@globex.com', confidence: 0.5, document: 'd4' }, org('Hooli', 'd2', 0.6)], 0.8);
    // Assess
    expect(entities).toEqual([{ kind: 'organization', name: 'Globex Corporation', variants: ['Globex Inc.', 'GLOBEX'], emails: ['sales@globex.com'], confidence: 0.996, documents: ['d1', 'd2', 'd3', 'd4'] }]);
    expect(review.map((e) => [e.name, e.confidence])).toEqual([['Hooli', 0.6]]);
  });

  it("joins an address's domain to the one organisation whose name starts with it, and to none of several", () => {
    const mail = (email: string, document: string): Mention => ({ kind: 'organization', name: 'Stark', email, confidence: 0.6, document });
    const one = consolidate([org('Stark Industries', 'd1', 0.9), mail('pepper@stark.com', 'd2')], 0.5).entities;
    expect(one.map((e) => [e.name, e.emails])).toEqual([['Stark Industries', ['pepper@stark.com']]]);
    const two = consolidate([org('Stark Industries', 'd1', 0.9), org('Stark Logistics', 'd1', 0.9), mail('pepper@stark.com', 'd2')], 0.5).entities;
    expect(two).toHaveLength(3);
  });
});

describe('the deals generator, read and cleaned', () => {
  it('is deterministic: the same seed gives the same documents', async () => {
    const a = await generateDeals({ seed: 3, opportunities: 2, documentsPerOpportunity: 6 });
    const b2 = await generateDeals({ seed: 3, opportunities: 2, documentsPerOpportunity: 6 });
    expect(a.flatMap((o) => o.documents.map((d) => [d.name, d.lines]))).toEqual(b2.flatMap((o) => o.documents.map((d) => [d.name, d.lines])));
    expect(a[0]!.documents.map((d) => d.name.split('.').at(-1))).toEqual(['txt', 'md', 'html', 'eml', 'pdf', 'docx']);
  });

  it('every format reads back; boilerplate goes (≥ 95 %), content stays (≤ 1 % lost), broken addresses are repaired (≥ 95 %), none invalid', async () => {
    // Prepare: 20 opportunities × 6 documents, one of each format
    const opps = await generateDeals({ seed: 16, opportunities: 20, documentsPerOpportunity: 6 });
    const docs = opps.flatMap((o) => o.documents);
    // Act: read every document, learn the drop's repeated lines, clean each, find its addresses
    const read = await Promise.all(docs.map((d) => readDocument(d.name, d.bytes, { maxBytes: 1024 * 1024 })));
    const texts = read.map((r) => (r.ok ? r.text : ''));
    const repeated = learnRepeatedLines(texts, b);
    const cleaned = texts.map((t) => removeBoilerplate(t, b, repeated).text);
    // Assess
    expect(read.filter((r) => !r.ok)).toEqual([]);
    const norm = (t: string) => t.replace(/\s+/g, ' ').trim().toLowerCase();
    let boiler = 0;
    let boilerGone = 0;
    let content = 0;
    let contentLost = 0;
    docs.forEach((d, i) => {
      const kept = new Set(cleaned[i]!.split('\n').map(norm));
      for (const line of d.lines) {
        if (line.boilerplate) {
          boiler += 1;
          if (!kept.has(norm(line.text))) boilerGone += 1;
        } else {
          content += 1;
          if (!kept.has(norm(line.text))) contentLost += 1;
        }
      }
    });
    expect(boilerGone / boiler).toBeGreaterThanOrEqual(0.95);
    expect(contentLost / content).toBeLessThanOrEqual(0.01);
    const broken = docs.flatMap((d, i) => d.brokenEmails.map((e) => ({ ...e, found: findEmails(cleaned[i]!).map((f) => f.address) })));
    expect(broken.length).toBeGreaterThan(30);
    expect(broken.filter((e) => e.found.includes(e.right)).length / broken.length).toBeGreaterThanOrEqual(0.95);
    const emitted = cleaned.flatMap((t) => findEmails(t).flatMap((f) => (f.address ? [f.address] : [])));
    expect(emitted.filter((a) => !validator.isEmail(a))).toEqual([]);
  });
});

describe('mentions in a document', () => {
  const deals = loadProfile('deals');
  const text = 'Hi Omar,\nGlobex Corp wants 40 seats. Haddad, Omar asked about SSO. J. Doe sends the questionnaire.\nContact for the paperwork: Jane Doe, jane.doe at globex dot com.';

  it('finds people by name (its entities output, offline), written form and address, and organisations by their known name and domain', async () => {
    // Arrange: the document enriched offline, as the pipeline's document step does
    const values = { opportunity_id: 'OPP-1', account: 'Globex' };
    const text = prepareDocument(deals, 'Hi Omar,\nGlobex Corp wants 40 seats. Haddad, Omar asked about SSO. J. Doe sends the questionnaire.\nContact for the paperwork: Jane Doe, jane.doe at globex dot com.').text;
    const enrichment = await enrichGroup(deals, 'd1', [documentNote(deals, { docId: 'd1', name: 'd1.txt', order: 0, text, values })], createOfflineProvider(), 'full');
    // Act
    const mentions = documentMentions(deals, text, 'd1.txt', values, enrichment.outputs);
    // Assess
    const people = mentions.filter((m) => m.kind === 'person').map((m) => [m.name, m.email, m.confidence]);
    expect(people).toContainEqual(['Jane Doe', 'jane.doe@globex.com', 0.95]);
    expect(people).toContainEqual(['Jane Doe', undefined, 0.7]);
    expect(people).toContainEqual(['Haddad, Omar', undefined, 0.7]);
    expect(people).toContainEqual(['J. Doe', undefined, 0.45]);
    const orgs = mentions.filter((m) => m.kind === 'organization').map((m) => m.name);
    expect(orgs).toEqual(expect.arrayContaining(['Globex Corp', 'Globex']));
    // and consolidated: one Jane Doe (her address and "J. Doe"), one Omar Haddad, one Globex
    const { entities } = consolidate(mentions, 0.8);
    expect(entities.filter((e) => e.kind === 'organization').map((e) => e.name)).toEqual(['Globex Corp']);
    expect(entities.find((e) => e.name === 'Jane Doe')).toMatchObject({ emails: ['jane.doe@globex.com'], variants: ['J. Doe'] });
  });

  it("counts each name the entities output holds as often as the text writes it, not inside a longer one, and at least once", () => {
    // Act: the LLM's names — "Jane" is written once on its own (once more inside "Jane Doe"), "Omar Haddad" only as "Haddad, Omar"
    const mentions = mentionsOf(`${text}\nJane Doe will call Jane back.`, 'd1', { people: ['Jane Doe', 'Jane', 'Omar Haddad.'] });
    // Assess
    const named = (n: string) => mentions.filter((m) => m.kind === 'person' && m.name === n && !m.email).length;
    expect(named('Jane Doe')).toBe(2);
    expect(named('Jane')).toBe(1);
    expect(named('Omar Haddad')).toBe(1);
  });
});

describe('a deals manifest', () => {
  // The deals profile's manifest: its group key and group columns.
  const deals = loadProfile('deals');
  const manifestOf = { groupKey: deals.groupKey, columns: manifestColumns(deals) };
  const csv = [
    'opportunity_id,account,owner,stage,amount,documents_prefix',
    'OPP-1,Globex,Jane Doe,Proposal,120000,incoming/deals/OPP-1/',
    'OPP-2,Initech,,Discovery,,incoming/deals/OPP-2/',
    'OPP-3,,Tom,Proposal,5,incoming/deals/OPP-3/',
    `OPP-4,Hooli,Tom,Proposal,${'9'.repeat(41)},incoming/deals/OPP-4/`,
    'OPP-1,Globex again,Jane Doe,Proposal,1,incoming/deals/OPP-1b/',
    'OPP-5,Umbrella,Tom,Negotiation,9000,',
  ].join('\n');

  it('takes the good rows and rejects each bad one with its line, field and reason', async () => {
    // Act
    const { entries, rejects } = await readManifest(Readable.from([Buffer.from(csv)]), 'deals/manifest.csv', manifestOf);
    // Assess
    expect(entries).toEqual([
      { group: 'OPP-1', values: { opportunity_id: 'OPP-1', account: 'Globex', owner: 'Jane Doe', stage: 'Proposal', amount: '120000' }, documents_prefix: 'incoming/deals/OPP-1/' },
      { group: 'OPP-2', values: { opportunity_id: 'OPP-2', account: 'Initech', stage: 'Discovery' }, documents_prefix: 'incoming/deals/OPP-2/' },
    ]);
    expect(rejects.map((r) => [r.line, r.field])).toEqual([
      [4, 'account'],
      [5, 'amount'],
      [6, 'opportunity_id'],
      [7, 'documents_prefix'],
    ]);
    expect(rejects[0]!.reason).toBe('is missing');
    expect(rejects[1]!.reason).toBe('is longer than 40 characters');
    expect(rejects[2]!.reason).toBe('opportunity_id OPP-1 is already on line 2');
    expect(rejects[3]!.reason).toBe('give either documents_prefix or documents, not both or neither');
  });

  it('takes a row range (--rows) and inline documents in JSON lines', async () => {
    const jsonl = [1, 2, 3].map((i) => JSON.stringify({ opportunity_id: `OPP-${i}`, account: 'Globex', documents: [{ name: 'note.txt', text: `note ${i}` }] })).join('\n');
    const { entries } = await readManifest(Readable.from([Buffer.from(jsonl)]), 'deals/manifest.jsonl', { ...manifestOf, rows: parseRowRange('2-') });
    expect(entries.map((e) => [e.group, e.documents![0]!.text])).toEqual([
      ['OPP-2', 'note 2'],
      ['OPP-3', 'note 3'],
    ]);
    expect(parseRowRange('1-100')).toEqual({ from: 1, to: 100 });
    expect(parseRowRange('5')).toEqual({ from: 5, to: 5 });
    expect(() => parseRowRange('0-3')).toThrow(/like 1-100/);
    expect(() => parseRowRange('9-3')).toThrow(/ends before it starts/);
  });
});
