/**
 * Deal documents with hidden truth (issue 16), seeded: opportunities, each with documents in every format the
 * reader takes (.txt, .md, .html, .eml, .pdf, .docx), naming its people in their written variants ("Jane Doe",
 * "Doe, Jane", "J. Doe", "Jane", an address), some addresses broken the ways people and OCR break them, and
 * boilerplate (a drop-wide footer, "Sent from my …", confidentiality lines, signatures, quoted reply chains).
 * The truth says, per opportunity, who and which organisations are really there, per broken address its right
 * form, and per document which of its lines are boilerplate and which are content.
 */
import { prng } from '../../src/domain/random.ts';
import { docxBytes, emlBytes, pdfBytes } from './document-builders.ts';

export interface TruePerson {
  name: string;
  email: string;
  organization: string;
}

export interface GeneratedDocument {
  opportunity: string;
  name: string;
  bytes: Buffer;
  /** The document's lines as written (before any format), each marked. */
  lines: Array<{ text: string; boilerplate: boolean }>;
  /** Broken addresses written in it, with the address they stand for. */
  brokenEmails: Array<{ written: string; right: string }>;
}

export interface GeneratedOpportunity {
  id: string;
  account: string;
  owner: string;
  stage: string;
  amount: number;
  people: TruePerson[];
  organizations: string[];
  documents: GeneratedDocument[];
}

const FIRST = ['Jane', 'Omar', 'Priya', 'Lukas', 'Mei', 'Carlos', 'Fatima', 'Tom', 'Ingrid', 'Kwame', 'Sofia', 'Ravi', 'Hannah', 'Diego', 'Aiko', 'Noah'];
const LAST = ['Doe', 'Haddad', 'Raman', 'Becker', 'Chen', 'Ruiz', 'Khan', 'Walsh', 'Larsen', 'Mensah', 'Rossi', 'Patel', 'Novak', 'Silva', 'Tanaka', 'Brooks'];
const ORGS = ['Globex', 'Initech', 'Hooli', 'Umbrella', 'Stark Industries', 'Wayne Enterprises', 'Tyrell', 'Cyberdyne', 'Soylent', 'Wonka', 'Vandelay', 'Gringotts'];
const LEGAL = ['', ' Inc.', ' Corp', ' Ltd', ' GmbH'];
const SELLER = 'Acme';
const STAGES = ['Discovery', 'Proposal', 'Negotiation', 'Closed Won'];
const CONTENT = [
  '{org} wants {n} seats on the enterprise plan.',
  'Budget is approved at {amount} for the first year.',
  'Next step: {person} sends the security questionnaire by Friday.',
  '{person} asked about single sign-on and the audit log.',
  'Legal review of the master agreement starts next week.',
  '{org} is also talking to a competitor about pricing.',
  'We agreed a pilot of {n} users for thirty days.',
  '{person} will introduce us to the procurement lead.',
  'The renewal date moves to the end of the quarter.',
  'Implementation needs two weeks of onboarding support.',
];
const SENT_FROM = ['Sent from my iPhone', 'Sent from my Galaxy', 'Sent from my iPad'];
const CONFIDENTIAL = 'This email is confidential and intended solely for the addressee. If you received it in error, delete it.';
const UNSUBSCRIBE = 'To unsubscribe from these updates, reply STOP.';
const FOOTER = ['Acme Software Ltd | 1 Market Street | Springfield', 'Please consider the environment before printing this email.'];

const emailOf = (first: string, last: string, org: string) => `${first.toLowerCase()}.${last.toLowerCase()}@${org.split(' ')[0]!.toLowerCase()}.com`;

/** The ways an address is broken, each keeping the right one recoverable. */
const BREAKS: Array<(a: string) => string> = [
  (a) => a.replace('@', ' at ').replace(/\.(?=[^.]*$)/, ' dot '),
  (a) => a.replace('@', ' [at] ').replace(/\.(?=[^.]*$)/, ' [dot] '),
  (a) => a.replace(/\.(?=[^.]*$)/, ','),
  (a) => `<mailto:${a}>`,
  (a) => a.replace('@', '@@'),
  (a) => a.replace('@', ' @ '),
  (a) => a.toUpperCase(),
];

/**
 * Generates `opportunities` opportunities of about `documentsPerOpportunity` documents each.
 * @example const opps = await generateDeals({ seed: 4, opportunities: 200, documentsPerOpportunity: 10 })
 */
export async function generateDeals(o: { seed: number; opportunities: number; documentsPerOpportunity: number }): Promise<GeneratedOpportunity[]> {
  const random = prng(o.seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const out: GeneratedOpportunity[] = [];
  for (let k = 0; k < o.opportunities; k++) {
    const account = pick(ORGS);
    const accountWritten = [account, `${account}${pick(LEGAL)}`, account.toUpperCase()];
    const firsts = [...FIRST].sort(() => random() - 0.5);
    const lasts = [...LAST].sort(() => random() - 0.5);
    const people: TruePerson[] = [
      ...Array.from({ length: 2 + Math.floor(random() * 2) }, (_, i) => ({ name: `${firsts[i]} ${lasts[i]}`, email: emailOf(firsts[i]!, lasts[i]!, account), organization: account })),
      { name: `${firsts[5]} ${lasts[5]}`, email: emailOf(firsts[5]!, lasts[5]!, SELLER), organization: SELLER },
    ];
    const variants = (p: TruePerson) => {
      const [first, last] = p.name.split(' ') as [string, string];
      return [p.name, `${last}, ${first}`, `${first[0]}. ${last}`, p.name];
    };
    const id = `OPP-${String(k + 1).padStart(4, '0')}`;
    const seller = people.at(-1)!;
    const documents: GeneratedDocument[] = [];
    const formats = ['txt', 'md', 'html', 'eml', 'pdf', 'docx'] as const;
    for (let d = 0; d < o.documentsPerOpportunity; d++) {
      const format = formats[d % formats.length]!;
      const lines: GeneratedDocument['lines'] = [];
      const brokenEmails: GeneratedDocument['brokenEmails'] = [];
      const content = (t: string) => lines.push({ text: t, boilerplate: false });
      const boiler = (t: string) => lines.push({ text: t, boilerplate: true });
      const contact = pick(people.slice(0, -1));
      content(`Hi ${contact.name.split(' ')[0]},`);
      for (let i = 0; i < 3 + Math.floor(random() * 3); i++) {
        const person = pick(people.slice(0, -1));
        content(pick(CONTENT).replace('{org}', pick(accountWritten)).replace('{person}', pick(variants(person))).replace('{n}', String(10 + Math.floor(random() * 490))).replace('{amount}', `${40 + Math.floor(random() * 400)}k USD`));
      }
      const mailed = pick(people);
      const written = random() < 0.6 ? pick(BREAKS)(mailed.email) : mailed.email;
      if (written !== mailed.email) brokenEmails.push({ written, right: mailed.email });
      content(`Contact for the paperwork: ${mailed.name}, ${written}.`);
      if (random() < 0.5) boiler(pick(SENT_FROM));
      if (random() < 0.4) boiler(CONFIDENTIAL);
      if (random() < 0.2) boiler(UNSUBSCRIBE);
      for (const f of FOOTER) boiler(f);
      if (random() < 0.5) {
        boiler('-- ');
        boiler(seller.name);
        boiler(`Account Executive, ${SELLER}`);
      }
      if (random() < 0.4) {
        boiler(`On Mon, 2 Mar 2026 at 09:15, ${contact.name} <${contact.email}> wrote:`);
        boiler(`> ${pick(CONTENT).replace('{org}', account).replace('{person}', contact.name).replace('{n}', '12').replace('{amount}', '90k USD')}`);
        boiler(`> Thanks, ${contact.name.split(' ')[0]}`);
      }
      const text = lines.map((l) => l.text).join('\n');
      const name = `${id}/doc-${String(d + 1).padStart(2, '0')}.${format}`;
      const bytes =
        format === 'html'
          ? Buffer.from(`<html><body>${lines.map((l) => `<p>${l.text.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p>`).join('\n')}</body></html>`)
          : format === 'eml'
            ? emlBytes({ from: `${contact.name} <${contact.email}>`, to: seller.email, subject: `${account} — ${pick(STAGES)}`, body: text })
            : format === 'pdf'
              ? pdfBytes({ text })
              : format === 'docx'
                ? await docxBytes(lines.map((l) => l.text))
                : Buffer.from(text);
      documents.push({ opportunity: id, name, bytes, lines, brokenEmails });
    }
    out.push({ id, account, owner: seller.name, stage: pick(STAGES), amount: 10_000 * (1 + Math.floor(random() * 50)), people, organizations: [account, SELLER], documents });
  }
  return out;
}
