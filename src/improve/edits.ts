/**
 * Typed edits of a profile's data — what an improvement proposes and a person reviews: add or remove a keyword
 * of a label, a phrase or term of a phrase/count extractor, a dictionary's term, a negation word (before or after a
 * match), a column alias; change a value a rule compares with, or a rule's place in the order; add a line to the
 * prompt. Each applies to a copy of the profile's data, or is refused with the reason.
 */
import * as z from 'zod';

const text = z.string().trim().min(1).max(120);
export const editSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('addKeyword'), output: z.string(), label: z.string(), keyword: text }).strict(),
  z.object({ kind: z.literal('removeKeyword'), output: z.string(), label: z.string(), keyword: text }).strict(),
  z.object({ kind: z.literal('addPhrase'), output: z.string(), phrase: text }).strict(),
  z.object({ kind: z.literal('removePhrase'), output: z.string(), phrase: text }).strict(),
  /** A new term of a dictionary output (a labels output the offline provider matches by its terms): a label of its own. */
  z.object({ kind: z.literal('addTerm'), output: z.string(), term: text }).strict(),
  /** `after`: the word negates a match it follows ("the parcel arrived intact"), not one it precedes. */
  z.object({ kind: z.literal('addNegation'), word: text, after: z.boolean().optional() }).strict(),
  z.object({ kind: z.literal('addAlias'), column: z.string(), alias: text }).strict(),
  /** `condition`: the index of the condition in the rule's top-level `all` or `any`. */
  z.object({ kind: z.literal('setRuleValue'), rule: z.string(), condition: z.int().min(0), value: z.union([z.number(), z.string(), z.boolean()]) }).strict(),
  z.object({ kind: z.literal('moveRule'), rule: z.string(), to: z.int().min(0) }).strict(),
  z.object({ kind: z.literal('addPromptLine'), line: z.string().trim().min(1).max(400) }).strict(),
]);
export type Edit = z.infer<typeof editSchema>;

import type { ProfileData } from '../profiles/profile.ts';

export type { ProfileData };

export class EditError extends Error {
  override name = 'EditError';
}

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * Applies one edit to a copy of the data.
 * @throws EditError naming what the edit refers to that is not there, or what is there already.
 */
export function applyEdit(data: ProfileData, edit: Edit): ProfileData {
  const next: ProfileData = structuredClone(data);
  const output = (name: string) => {
    const o = (next.profile.outputs as Array<Record<string, any>>).find((x) => x.name === name);
    if (!o) throw new EditError(`no output ${name}`);
    return o;
  };
  const rule = (name: string) => {
    const i = (next.rules.rules as Array<Record<string, any>>).findIndex((r) => r.name === name);
    if (i < 0) throw new EditError(`no rule ${name}`);
    return i;
  };
  switch (edit.kind) {
    case 'addKeyword':
    case 'removeKeyword': {
      const o = output(edit.output);
      if (!Array.isArray(o.labels)) throw new EditError(`output ${edit.output} has no labels`);
      const i = o.labels.findIndex((l: unknown) => (typeof l === 'string' ? l : (l as { value: string }).value) === edit.label);
      if (i < 0) throw new EditError(`output ${edit.output} has no label ${edit.label}`);
      const label = typeof o.labels[i] === 'string' ? { value: o.labels[i], keywords: [] } : o.labels[i];
      label.keywords ??= [];
      // A dictionary's label without keywords matches its own value: keep it matching once it has keywords.
      if (o.offline?.extractor === 'dictionary' && label.keywords.length === 0) label.keywords.push(label.value);
      const has = label.keywords.some((k: string) => same(k, edit.keyword)) || same(label.value, edit.keyword);
      if (edit.kind === 'addKeyword') {
        if (has) throw new EditError(`label ${edit.label} of ${edit.output} has "${edit.keyword}" already`);
        label.keywords.push(edit.keyword.toLowerCase());
      } else {
        if (!label.keywords.some((k: string) => same(k, edit.keyword))) throw new EditError(`label ${edit.label} of ${edit.output} has no keyword "${edit.keyword}"`);
        label.keywords = label.keywords.filter((k: string) => !same(k, edit.keyword));
      }
      o.labels[i] = label;
      break;
    }
    case 'addPhrase':
    case 'removePhrase': {
      const o = output(edit.output);
      const key = o.offline?.extractor === 'phrases' ? 'phrases' : o.offline?.extractor === 'count' ? 'terms' : undefined;
      if (!key) throw new EditError(`output ${edit.output} is not produced by phrases or a count`);
      const list: string[] = o.offline[key];
      if (edit.kind === 'addPhrase') {
        if (list.some((p) => same(p, edit.phrase))) throw new EditError(`output ${edit.output} has "${edit.phrase}" already`);
        list.push(edit.phrase.toLowerCase());
      } else {
        if (!list.some((p) => same(p, edit.phrase))) throw new EditError(`output ${edit.output} has no "${edit.phrase}"`);
        if (list.length === 1) throw new EditError(`output ${edit.output} would have no ${key} left`);
        o.offline[key] = list.filter((p) => !same(p, edit.phrase));
      }
      break;
    }
    case 'addTerm': {
      const o = output(edit.output);
      if (o.type !== 'labels' || o.offline?.extractor !== 'dictionary') throw new EditError(`output ${edit.output} is not a dictionary`);
      const terms = (o.labels as Array<string | { value: string; keywords?: string[] }>).flatMap((l) => (typeof l === 'string' ? [l] : [l.value, ...(l.keywords ?? [])]));
      if (terms.some((t) => same(t, edit.term))) throw new EditError(`dictionary ${edit.output} has "${edit.term}" already`);
      o.labels.push(edit.term.toLowerCase());
      break;
    }
    case 'addNegation': {
      const language = (next.profile.language ??= { negations: [] });
      const key = edit.after ? 'negationsAfter' : 'negations';
      const list: string[] = (language[key] ??= []);
      if (list.some((w) => same(w, edit.word))) throw new EditError(`"${edit.word}" is a negation${edit.after ? ' after a match' : ''} already`);
      list.push(edit.word.toLowerCase());
      break;
    }
    case 'addAlias': {
      const column = (next.profile.columns as Array<Record<string, any>>).find((c) => c.name === edit.column);
      if (!column) throw new EditError(`no column ${edit.column}`);
      const taken = (next.profile.columns as Array<Record<string, any>>).some((c) => same(c.name, edit.alias) || (c.aliases ?? []).some((a: string) => same(a, edit.alias)));
      if (taken) throw new EditError(`"${edit.alias}" already names a column`);
      (column.aliases ??= []).push(edit.alias);
      break;
    }
    case 'setRuleValue': {
      const r = next.rules.rules[rule(edit.rule)];
      const list = r.conditions.all ?? r.conditions.any;
      const c = list?.[edit.condition];
      if (!c || !('fact' in c)) throw new EditError(`rule ${edit.rule} has no simple condition ${edit.condition}`);
      if (typeof c.value === 'object' && c.value !== null) throw new EditError(`rule ${edit.rule}'s condition ${edit.condition} compares with a fact, not a value`);
      if (typeof c.value !== typeof edit.value) throw new EditError(`rule ${edit.rule}'s condition ${edit.condition} compares with a ${typeof c.value}, not a ${typeof edit.value}`);
      if (c.value === edit.value) throw new EditError(`rule ${edit.rule}'s condition ${edit.condition} is ${String(edit.value)} already`);
      c.value = edit.value;
      break;
    }
    case 'moveRule': {
      const i = rule(edit.rule);
      if (edit.to >= next.rules.rules.length) throw new EditError(`rule position ${edit.to} is past the last (${next.rules.rules.length - 1})`);
      if (i === edit.to) throw new EditError(`rule ${edit.rule} is at ${edit.to} already`);
      const [moved] = next.rules.rules.splice(i, 1);
      next.rules.rules.splice(edit.to, 0, moved);
      break;
    }
    case 'addPromptLine': {
      if (next.prompt.includes(edit.line)) throw new EditError('the prompt has this line already');
      next.prompt = next.prompt.includes('\nReturn:') ? next.prompt.replace('\nReturn:', `- ${edit.line}\n\nReturn:`) : `${next.prompt.trimEnd()}\n- ${edit.line}\n`;
      break;
    }
  }
  return next;
}

/** One line a person reads: `category: add keyword "invoice" to BILLING`. */
export function describeEdit(e: Edit): string {
  switch (e.kind) {
    case 'addKeyword':
      return `${e.output}: add keyword "${e.keyword}" to ${e.label}`;
    case 'removeKeyword':
      return `${e.output}: remove keyword "${e.keyword}" from ${e.label}`;
    case 'addPhrase':
      return `${e.output}: add "${e.phrase}"`;
    case 'removePhrase':
      return `${e.output}: remove "${e.phrase}"`;
    case 'addTerm':
      return `${e.output}: add term "${e.term}"`;
    case 'addNegation':
      return `language: add negation "${e.word}"${e.after ? ' (after a match)' : ''}`;
    case 'addAlias':
      return `column ${e.column}: add alias "${e.alias}"`;
    case 'setRuleValue':
      return `rule ${e.rule}: condition ${e.condition} compares with ${JSON.stringify(e.value)}`;
    case 'moveRule':
      return `rule ${e.rule}: move to position ${e.to}`;
    case 'addPromptLine':
      return `prompt: add "${e.line}"`;
  }
}
