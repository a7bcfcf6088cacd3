/**
 * Entity consolidation per opportunity (seed 004's "zero quality loss"): the people and organisations its
 * documents mention, merged into one entity per real person or organisation. Mentions are joined (union-find)
 * when they share an e-mail address, the same full name (any order, case, titles, "Last, First"), or — when
 * exactly one candidate fits — a partial form of it: an initial and the last name ("J. Doe"), the first name
 * alone, initials ("JD"), or an address whose local part spells the name (`jane.doe@`, `jdoe@`). Organisations
 * join on their name without legal forms ("Globex Corp" = "globex") and on an address's domain (also when it is
 * the first word of exactly one organisation's name: `stark.com`, "Stark Industries"). An ambiguous
 * partial form joins nothing. Each entity's confidence combines its mentions' (noisy-or); those under the
 * threshold are listed for review, not dropped.
 */

export interface Mention {
  kind: 'person' | 'organization';
  name?: string;
  email?: string;
  confidence: number;
  /** The document it came from. */
  document: string;
}

export interface Entity {
  kind: Mention['kind'];
  /** The most complete name seen (a person's full name, plainest form; an organisation's longest form). */
  name: string;
  /** Every other way it was written. */
  variants: string[];
  emails: string[];
  confidence: number;
  documents: string[];
}

export interface Consolidation {
  /** Entities at or above the threshold, one per real person or organisation. */
  entities: Entity[];
  /** Entities under it, for a person to review. */
  review: Entity[];
}

const TITLES = new Set(['mr', 'mrs', 'ms', 'miss', 'dr', 'prof', 'sir']);
const LEGAL_FORMS = new Set(['inc', 'ltd', 'llc', 'corp', 'corporation', 'co', 'company', 'gmbh', 'plc', 'sa', 'ag', 'the', 'group', 'limited']);

/** A person's name as [first, ..., last] lower-case tokens ("Doe, Jane" → [jane, doe]; titles dropped). */
function personTokens(name: string): string[] {
  const flipped = /^([^,]+),\s*([^,]+)$/.exec(name.trim());
  const ordered = flipped ? `${flipped[2]} ${flipped[1]}` : name;
  return ordered
    .toLowerCase()
    .split(/[\s.]+/)
    .map((t) => t.replace(/[^\p{L}'-]/gu, ''))
    .filter((t) => t && !TITLES.has(t));
}

const orgKey = (name: string) =>
  name
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t && !LEGAL_FORMS.has(t))
    .join('');

/** Whether a partial person form (tokens, or an address's local part) fits a full name [first, ..., last]. */
function fitsPerson(partial: string[], full: string[]): boolean {
  const first = full[0]!;
  const last = full.at(-1)!;
  if (partial.length === 1) {
    const p = partial[0]!;
    if (p === first) return true; // the first name alone
    if (p.length >= 2 && p.length <= 3 && p === full.map((t) => t[0]).join('')) return true; // initials: "jd"
    return false;
  }
  const pLast = partial.at(-1)!;
  const pFirst = partial[0]!;
  return pLast === last && (pFirst === first || (pFirst.length === 1 && pFirst === first[0]));
}

/** The local part of an address as name tokens, where it spells one: jane.doe, jane_doe, jdoe, jane. */
function localParts(email: string): string[][] {
  const local = email.split('@')[0]!.toLowerCase().replace(/\d+$/, '');
  const split = local.split(/[._-]+/).filter(Boolean);
  return split.length > 1 ? [split] : [[local]];
}

const fitsLocal = (email: string, full: string[]) =>
  localParts(email).some((parts) => (parts.length > 1 ? fitsPerson(parts, full) : parts[0] === full[0] || parts[0] === `${full[0]![0]}${full.at(-1)}` || parts[0] === `${full[0]}${full.at(-1)}`));

/**
 * Consolidates one opportunity's mentions.
 * @example consolidate([{ kind: 'person', name: 'Jane Doe', confidence: 0.9, document: 'a' }, { kind: 'person', name: 'J. Doe', confidence: 0.6, document: 'b' }], 0.8)
 *   // entities: [{ kind: 'person', name: 'Jane Doe', variants: ['J. Doe'], confidence: 0.96, … }]
 */
export function consolidate(mentions: Mention[], threshold: number): Consolidation {
  const parent = mentions.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const union = (a: number, b: number) => {
    parent[find(a)] = find(b);
  };
  const byKey = new Map<string, number>();
  const join = (key: string, i: number) => {
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, i);
    else union(i, seen);
  };
  const people = mentions.map((m, i) => ({ m, i, tokens: m.kind === 'person' && m.name ? personTokens(m.name) : [] }));
  // Exact keys: an address, a full person name, an organisation's name without legal forms, an organisation's domain.
  for (const { m, i, tokens } of people) {
    if (m.email) join(`email:${m.kind}:${m.email.toLowerCase()}`, i);
    if (m.kind === 'person' && tokens.length >= 2 && tokens[0]!.length > 1) join(`person:${tokens[0]} ${tokens.at(-1)}`, i);
    if (m.kind === 'organization' && m.name) join(`org:${orgKey(m.name)}`, i);
    if (m.kind === 'organization' && m.email) join(`org:${orgKey(m.email.split('@')[1]!.split('.').slice(0, -1).join(' '))}`, i);
  }
  // Partial forms: joined to the one full name they fit, never to one of several.
  const fullNames = [...new Map(people.filter((p) => p.tokens.length >= 2 && p.tokens[0]!.length > 1).map((p) => [`${p.tokens[0]} ${p.tokens.at(-1)}`, p])).values()];
  for (const p of people) {
    if (p.m.kind !== 'person') continue;
    const partial = !(p.tokens.length >= 2 && p.tokens[0]!.length > 1);
    if (partial && p.tokens.length) {
      const fits = fullNames.filter((f) => fitsPerson(p.tokens, f.tokens));
      if (fits.length === 1) union(p.i, fits[0]!.i);
    }
    if (p.m.email) {
      const fits = fullNames.filter((f) => fitsLocal(p.m.email!, f.tokens));
      if (fits.length === 1 && find(fits[0]!.i) !== find(p.i)) {
        // An address joins a name only if the name's cluster has no other address.
        const theirs = new Set(people.filter((q) => find(q.i) === find(fits[0]!.i) && q.m.email).map((q) => q.m.email!.toLowerCase()));
        if (!theirs.size) union(p.i, fits[0]!.i);
      }
    }
  }
  // An address's domain that is the first word of exactly one organisation's name ("stark.com", "Stark Industries").
  const orgNames = [...new Map(people.filter((p) => p.m.kind === 'organization' && p.m.name && !p.m.email).map((p) => [orgKey(p.m.name!), p])).values()];
  for (const p of people) {
    if (p.m.kind !== 'organization' || !p.m.email) continue;
    const label = p.m.email.split('@')[1]!.split('.')[0]!.toLowerCase();
    const fits = orgNames.filter((o) => label.length >= 3 && o.m.name!.toLowerCase().split(/[^\p{L}\p{N}]+/u)[0] === label);
    if (fits.length === 1) union(p.i, fits[0]!.i);
  }
  const groups = new Map<number, Mention[]>();
  mentions.forEach((m, i) => (groups.get(find(i)) ?? groups.set(find(i), []).get(find(i))!).push(m));
  const entities: Entity[] = [...groups.values()].map(toEntity);
  return { entities: entities.filter((e) => e.confidence >= threshold), review: entities.filter((e) => e.confidence < threshold) };
}

function toEntity(ms: Mention[]): Entity {
  const names = ms.flatMap((m) => (m.name ? [m.name.trim()] : []));
  // A person's name with the most full words, then the plainest (no title, no comma); an organisation's longest.
  const completeness = (n: string) => (ms[0]!.kind === 'person' ? personTokens(n).filter((t) => t.length > 1).length * 100 - n.length : n.length);
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  const ranked = [...counts.keys()].sort((a, b) => completeness(b) - completeness(a) || counts.get(b)! - counts.get(a)! || a.localeCompare(b));
  const emails = [...new Set(ms.flatMap((m) => (m.email ? [m.email.toLowerCase()] : [])))].sort();
  const name = ranked[0] ?? emails[0] ?? '';
  return {
    kind: ms[0]!.kind,
    name,
    variants: ranked.slice(1),
    emails,
    confidence: Math.round((1 - ms.reduce((p, m) => p * (1 - m.confidence), 1)) * 1000) / 1000,
    documents: [...new Set(ms.map((m) => m.document))].sort(),
  };
}
