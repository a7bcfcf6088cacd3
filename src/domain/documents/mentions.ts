/**
 * The people and organisations one document mentions, offline (no LLM), for `consolidate`: compromise's people,
 * written forms it misses ("Doe, Jane", "J. Doe"), each e-mail address (a person, with the name written just
 * before it, and the organisation of its domain), and the opportunity's known organisations (its account, the
 * seller) wherever their names appear. Each mention carries a confidence by how it was found.
 */
import nlp from 'compromise';
import { type Mention } from './consolidate.ts';
import { findEmails } from './email.ts';

/** How sure each way of finding a mention is (a name before an address is the surest; a bare first name the least). */
const CONFIDENCE = { addressWithName: 0.95, address: 0.85, knownOrganization: 0.9, domain: 0.6, fullName: 0.7, partialName: 0.45 };

const NAME = String.raw`\p{Lu}[\p{Ll}'-]+`;
const LAST_FIRST = new RegExp(String.raw`\b(${NAME}), (${NAME})\b(?=\s+\p{Ll})`, 'gu');
const INITIAL_LAST = new RegExp(String.raw`\b\p{Lu}\. ${NAME}\b`, 'gu');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * @param known the organisations the opportunity names (its account, the seller), found by name wherever they appear
 * @example mentionsOf('Contact: Jane Doe, jane.doe@globex.com.', 'd1', ['Globex'])
 */
export function mentionsOf(text: string, document: string, known: string[] = []): Mention[] {
  const out: Mention[] = [];
  const person = (name: string | undefined, confidence: number, email?: string) => out.push({ kind: 'person', ...(name ? { name } : {}), ...(email ? { email } : {}), confidence, document });
  for (const found of findEmails(text)) {
    if (!found.address) continue;
    const at = text.indexOf(found.raw);
    const before = /(\p{Lu}[\p{L}'-]+(?: \p{Lu}[\p{L}'-]+)+)\s*[,:<(]?\s*$/u.exec(text.slice(Math.max(0, at - 60), at));
    person(before?.[1], before ? CONFIDENCE.addressWithName : CONFIDENCE.address, found.address);
    const label = found.address.split('@')[1]!.split('.')[0]!;
    out.push({ kind: 'organization', name: label[0]!.toUpperCase() + label.slice(1), email: found.address, confidence: CONFIDENCE.domain, document });
  }
  const doc = nlp(text);
  for (const name of doc.people().out('array') as string[]) {
    const clean = name.trim().replace(/[.,;:!?']+$/, '');
    if (clean) person(clean, clean.includes(' ') ? CONFIDENCE.fullName : CONFIDENCE.partialName);
  }
  for (const m of text.matchAll(LAST_FIRST)) person(`${m[1]}, ${m[2]}`, CONFIDENCE.fullName);
  for (const m of text.matchAll(INITIAL_LAST)) person(m[0], CONFIDENCE.partialName);
  for (const org of known) {
    for (const m of text.matchAll(new RegExp(String.raw`\b${escape(org)}(?: (?:Inc|Corp|Ltd|GmbH|LLC|plc)\.?)?\b`, 'giu'))) out.push({ kind: 'organization', name: m[0], confidence: CONFIDENCE.knownOrganization, document });
  }
  return out;
}
