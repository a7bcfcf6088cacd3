/**
 * The people and organisations one document mentions, for `consolidate`: the people its entities output names (the
 * LLM's, or offline compromise's — the same NER pass, not a second one), each as often as the text writes it;
 * written forms NER misses ("Doe, Jane", "J. Doe"); each e-mail address (a person, with the name written just
 * before it, and the organisation of its domain); and the opportunity's known organisations (its account, the
 * seller) wherever their names appear. Each mention carries a confidence by how it was found.
 */
import { type Mention } from './consolidate.ts';
import { findEmails } from './email.ts';

/** How sure each way of finding a mention is (a name before an address is the surest; a bare first name the least). */
const CONFIDENCE = { addressWithName: 0.95, address: 0.85, knownOrganization: 0.9, domain: 0.6, fullName: 0.7, partialName: 0.45 };

const NAME = String.raw`\p{Lu}[\p{Ll}'-]+`;
const LAST_FIRST = new RegExp(String.raw`\b(${NAME}), (${NAME})\b(?=\s+\p{Ll})`, 'gu');
const INITIAL_LAST = new RegExp(String.raw`\b\p{Lu}\. ${NAME}\b`, 'gu');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * @param o.people the names of the people the document's entities output holds
 * @param o.known the organisations the opportunity names (its account, the seller), found by name wherever they appear
 * @example mentionsOf('Contact: Jane Doe, jane.doe@globex.com.', 'd1', { people: ['Jane Doe'], known: ['Globex'] })
 */
export function mentionsOf(text: string, document: string, o: { people: string[]; known?: string[] }): Mention[] {
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
  // Each name as often as the text writes it, not counting where it is part of a longer name ("Tom" in "Tom Khan");
  // at least once (an LLM may write a name otherwise than the text does).
  let rest = text;
  for (const name of [...new Set(o.people.map((n) => n.trim().replace(/[.,;:!?']+$/, '')))].filter(Boolean).sort((a, b) => b.length - a.length)) {
    let times = 0;
    rest = rest.replace(new RegExp(String.raw`(?<![\p{L}\p{N}])${escape(name)}(?![\p{L}\p{N}])`, 'gu'), (m) => {
      times += 1;
      return ' '.repeat(m.length);
    });
    for (let i = 0; i < Math.max(1, times); i++) person(name, name.includes(' ') ? CONFIDENCE.fullName : CONFIDENCE.partialName);
  }
  for (const m of text.matchAll(LAST_FIRST)) person(`${m[1]}, ${m[2]}`, CONFIDENCE.fullName);
  for (const m of text.matchAll(INITIAL_LAST)) person(m[0], CONFIDENCE.partialName);
  for (const org of o.known ?? []) {
    for (const m of text.matchAll(new RegExp(String.raw`\b${escape(org)}(?: (?:Inc|Corp|Ltd|GmbH|LLC|plc)\.?)?\b`, 'giu'))) out.push({ kind: 'organization', name: m[0], confidence: CONFIDENCE.knownOrganization, document });
  }
  return out;
}
