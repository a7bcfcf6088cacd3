/**
 * E-mail addresses as people write them in deal documents: found in free text, repaired where the fault is one
 * of the usual kinds, and validated with validator.js's `isEmail` — an address that cannot be repaired into a
 * valid one is reported with the reason, never returned as an address.
 *
 * Repairs (each named in `fixes`): `mailto:` and angle brackets; spelled-out `at` / `dot` (`jane.doe at acme dot
 * com`, `[at]`, `(dot)`); a comma for a dot in the domain (`acme,com`); a doubled `@`; spaces around `@` and dots;
 * trailing and leading punctuation; case (addresses are compared lower-cased, as every mail system treats them).
 */
import validator from 'validator';

export interface EmailFinding {
  /** The text as it stood in the document. */
  raw: string;
  /** The valid address it was repaired to; absent when it could not be. */
  address?: string;
  /** The repairs applied, in order (none for an address written correctly). */
  fixes: string[];
  /** Why no valid address came out, when none did. */
  reason?: string;
}

const AT_WORD = String.raw`\s*(?:\[at\]|\(at\)|\{at\}|<at>)\s*|\s+at\s+`;
const DOT_WORD = String.raw`\s*(?:\[dot\]|\(dot\)|\{dot\}|<dot>)\s*|\s+dot\s+`;
/** Words that, before a spelled-out `at`, are prose ("see you at noon dot com"), not a mailbox. */
const PROSE_WORDS = new Set(['i', 'you', 'we', 'he', 'she', 'it', 'they', 'me', 'us', 'him', 'her', 'them', 'meet', 'meeting', 'see', 'look', 'looking', 'arrive', 'arrived', 'stay', 'call', 'is', 'are', 'was', 'be', 'and', 'or', 'the', 'a', 'an', 'this', 'that', 'here', 'there', 'back', 'up', 'out', 'in', 'on', 'all']);
/** Top-level domains a spelled-out address must end in: without one, "meet at acme dot com" could be prose. */
const SPELLED_TLDS = new Set(['com', 'org', 'net', 'io', 'co', 'uk', 'de', 'fr', 'nl', 'eu', 'us', 'ca', 'au', 'biz', 'info', 'ai', 'es', 'it', 'ch', 'se', 'in', 'jp']);

/**
 * Candidates in free text: anything shaped like an address, including the broken forms above. Spelled-out
 * forms need `dot`, a known top-level domain and a local part that is not a common word, so prose ("we met at
 * the office", "see you at noon dot com") is not taken for one.
 */
const CANDIDATE = new RegExp(
  [
    // local part, then @ (one or two, maybe spaced), then a domain; its last dot may be a comma (`acme,com`),
    // never followed by another address or word part (`a@x.io,b@y.io` is two addresses); a full stop may end it
    String.raw`(?:mailto:)?[A-Za-z0-9._%+'-]+ ?@{1,2} ?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?:,[A-Za-z]{2,6}(?![@\w]|\.\w))?`,
    // the spelled-out form
    String.raw`[A-Za-z0-9._%+-]+(?:${AT_WORD})[A-Za-z0-9-]+(?:(?:${DOT_WORD}|\.)[A-Za-z0-9-]+)+`,
  ].join('|'),
  'gi',
);

/** Every address-like piece of `text`, repaired and validated, in the order they appear (repeats included). */
export function findEmails(text: string): EmailFinding[] {
  const out: EmailFinding[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const found = repairEmail(m[0]);
    if (!m[0].includes('@') && (!SPELLED_TLDS.has(found.address?.split('.').at(-1) ?? '') || PROSE_WORDS.has(m[0].split(/[\s[({<]/)[0]!.toLowerCase()))) continue;
    out.push(found);
  }
  return out;
}

/**
 * Repairs one written address and validates it.
 * @example repairEmail('Jane.Doe at ACME dot com') // { raw, address: 'jane.doe@acme.com', fixes: ['spelled-out at', 'spelled-out dot', 'case'] }
 */
export function repairEmail(raw: string): EmailFinding {
  const fixes: string[] = [];
  let s = raw.trim();
  const step = (name: string, next: string) => {
    if (next !== s) fixes.push(name);
    s = next;
  };
  step('mailto or brackets', s.replace(/^<?\s*mailto:\s*/i, '').replace(/^<|>$/g, ''));
  step('spelled-out at', s.replace(new RegExp(AT_WORD, 'i'), '@'));
  step('spelled-out dot', s.replace(new RegExp(DOT_WORD, 'gi'), '.'));
  step('spaces', s.replace(/\s*([@.])\s*/g, '$1'));
  step('doubled @', s.replace(/@{2,}/g, '@'));
  step('punctuation', s.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''));
  const at = s.lastIndexOf('@');
  if (at > 0) step('comma for a dot', `${s.slice(0, at)}@${s.slice(at + 1).replace(/,/g, '.')}`);
  step('case', s.toLowerCase());
  if ((s.match(/@/g) ?? []).length !== 1) return { raw, fixes, reason: `${s.includes('@') ? 'more than one' : 'no'} @ in it` };
  if (!validator.isEmail(s, { allow_display_name: false, require_tld: true, allow_utf8_local_part: false })) return { raw, fixes, reason: `"${s}" is not a valid address` };
  return { raw, address: s, fixes };
}
