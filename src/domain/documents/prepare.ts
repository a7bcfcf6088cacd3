/**
 * A document's text made ready to enrich, the same way wherever it is read (the pipeline's document step, a benchmark
 * item's prediction): its boilerplate removed by the profile's rules, its broken addresses repaired in place (one
 * that cannot be is withheld from the text and reported), then a note of its group for the enrichment, and — from
 * its enrichment — the people and organisations it mentions for the group's consolidation.
 */
import type { Profile } from '../../profiles/profile.ts';
import type { GroupNote } from '../enrich/enrich-group.ts';
import { type Boilerplate, type Removed, compileBoilerplate, removeBoilerplate } from './boilerplate.ts';
import type { Mention } from './consolidate.ts';
import { findEmails } from './email.ts';
import { mentionsOf } from './mentions.ts';

export interface PreparedDocument {
  /** Its text without boilerplate, addresses repaired (or withheld). */
  text: string;
  removed: Removed;
  repairedEmails: number;
  invalidEmails: Array<{ raw: string; reason: string }>;
}

/** Why a document whose text is all boilerplate is rejected. */
export const ONLY_BOILERPLATE = 'nothing but boilerplate (signatures, footers, quoted replies)';

const compiled = new WeakMap<Profile, Boilerplate>();

/** The profile's boilerplate rules, compiled once. */
export function boilerplateOf(profile: Profile): Boilerplate {
  return compiled.get(profile) ?? compiled.set(profile, compileBoilerplate(profile.documents!.boilerplate)).get(profile)!;
}

/** Cleans a document's text with the profile's boilerplate rules and its drop's learned lines, and repairs its addresses. */
export function prepareDocument(profile: Profile, raw: string, repeated: ReadonlySet<string> = new Set()): PreparedDocument {
  const clean = removeBoilerplate(raw, boilerplateOf(profile), repeated);
  let text = clean.text;
  let repairedEmails = 0;
  const invalidEmails: PreparedDocument['invalidEmails'] = [];
  for (const found of findEmails(clean.text)) {
    if (found.address) {
      if (found.raw !== found.address) {
        text = text.replace(found.raw, found.address);
        repairedEmails += 1;
      }
    } else {
      invalidEmails.push({ raw: found.raw, reason: found.reason ?? 'not a valid address' });
      text = text.replace(found.raw, '[address withheld]');
    }
  }
  return { text, removed: clean.removed, repairedEmails, invalidEmails };
}

/** The document as a note of its group: its name in the record key's document column, its date in the order column. */
export function documentNote(profile: Profile, d: { docId: string; name: string; order: number; text: string; values: Record<string, string>; date?: string }): GroupNote {
  const docColumn = profile.recordKey.find((k) => k !== profile.groupKey);
  return {
    noteId: d.docId,
    text: d.text,
    line: d.order + 1,
    values: { ...d.values, ...(docColumn ? { [docColumn]: d.name } : {}), ...(d.date && profile.orderBy ? { [profile.orderBy]: d.date } : {}) },
    attributes: {},
  };
}

/**
 * The people and organisations a document mentions: the people its enrichment's entities output holds (the kind
 * `consolidateInto` names), and the group's known organisations (its account, the seller) found by name.
 */
export function documentMentions(profile: Profile, text: string, name: string, values: Record<string, string>, outputs: Record<string, unknown>): Mention[] {
  const spec = profile.documents!;
  const known = [...spec.knownOrganizations.map((c) => values[c]).filter((v): v is string => Boolean(v)), ...spec.alwaysKnownOrganizations];
  const into = spec.consolidateInto;
  const people = into ? ((outputs[into.output] as Record<string, string[]> | undefined)?.[into.person] ?? []) : [];
  return mentionsOf(text, name, { people, known });
}
