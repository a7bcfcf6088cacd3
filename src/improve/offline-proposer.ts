/**
 * The offline proposer: for each category of failure, phrases that the failing train items say and no train item
 * expecting something else says (the seed's pattern learning from the benchmark), proposed as edits of what
 * decides that field — a keyword of the expected label, or a phrase of the boolean or count output a rule for
 * the expected outcome tests; and negation words (before or after a match) that the failing items say around the
 * terms of what decided the wrong outcome and no item rightly so decided says there; and the rules' own data: a
 * threshold one step toward the expected outcome (or away from the wrong one), the expected outcome's rule one place
 * up, a phrase that made the wrong outcome hold in the failing items removed. Learns from train items only; the
 * loop's gate decides on validation.
 */
import { type Language, detectPhrases, labelTerms, splitSentences, termContexts } from '../domain/enrich/extractors.ts';
import type { Edit, ProfileData } from './edits.ts';
import type { ItemResult } from './evaluate.ts';
import type { FailureCategory } from './failures.ts';

const STOP = new Set('a an the and or of to in on at by for with from is was were be been are it its this that as into our their his her your my we they he she there here then than so'.split(' '));

/** Distinct n-grams (1-4 words) of a text, within sentences, with at least one word that is not a stop word. */
export function ngrams(text: string, max = 4): Set<string> {
  const out = new Set<string>();
  for (const sentence of text.toLowerCase().split(/[.;:!?\n]+/)) {
    const words = sentence.match(/[a-z][a-z'-]*/g) ?? [];
    for (let n = 1; n <= max; n++) {
      for (let i = 0; i + n <= words.length; i++) {
        const gram = words.slice(i, i + n);
        if (gram.every((w) => STOP.has(w)) || (n === 1 && gram[0]!.length < 4)) continue;
        out.add(gram.join(' '));
      }
    }
  }
  return out;
}

const expectedOf = (item: ItemResult, field: string) => item.verdicts.find((v) => v.field === field)?.expected;

/**
 * Phrases at least `minSupport` failing items share and no opposing item has, most shared first (then the shorter,
 * more general): a phrase only one item says is that item's wording, not a pattern.
 */
function discriminative(failing: ItemResult[], opposing: ItemResult[], known: string[], k: number, minSupport: number): string[] {
  const against = new Set<string>();
  for (const o of opposing) for (const g of ngrams(o.text)) against.add(g);
  const counts = new Map<string, number>();
  for (const f of failing) for (const g of ngrams(f.text)) if (!against.has(g)) counts.set(g, (counts.get(g) ?? 0) + 1);
  const have = known.map((x) => x.toLowerCase());
  return [...counts]
    .filter(([g, n]) => n >= minSupport && !have.includes(g))
    .sort((a, b) => b[1] - a[1] || a[0].split(" ").length - b[0].split(" ").length || a[0].localeCompare(b[0]))
    .slice(0, k)
    .map(([g]) => g);
}

/** The terms a negation scope applies to in the output a rule's fact reads (directly or through a count fact). */
function negatableTerms(data: ProfileData, fact: string): string[] {
  const outputs = data.profile.outputs as Array<Record<string, any>>;
  const counted = (data.profile.facts as Array<Record<string, any>> | undefined)?.find((f) => f.name === fact && typeof f.count === 'string');
  const o = outputs.find((x) => x.name === (counted ? String(counted.count).split('.')[0] : fact));
  if (!o) return [];
  if (o.offline?.extractor === 'count') return o.offline.terms;
  const labels = (o.labels ?? []) as Array<string | { value: string; keywords?: string[] }>;
  const asLabel = (l: (typeof labels)[number]) => (typeof l === 'string' ? { value: l, keywords: [] } : { value: l.value, keywords: l.keywords ?? [] });
  if (o.offline?.extractor === 'dictionary') return labels.flatMap((l) => labelTerms(asLabel(l)));
  if (o.offline?.extractor === 'keywords') return labels.flatMap((l) => asLabel(l).keywords);
  return [];
}

/**
 * Negation words for a decision wrongly `predicted`: the words after (1-2) or before (1) a term of an output the
 * rules for `predicted` read, in at least `minSupport` failing items and around no such term in a train item that
 * rightly expects `predicted` — "intact" in "the parcel and its contents arrived intact".
 */
function negationWords(data: ProfileData, predicted: unknown, failing: ItemResult[], train: ItemResult[], k: number, minSupport: number): Edit[] {
  const language = data.profile.language as Language & { negationsAfter?: string[] };
  const facts = new Set<string>();
  for (const rule of (data.rules.rules as Array<Record<string, any>>).filter((r) => r.event.type === predicted)) {
    for (const cond of (rule.conditions.all ?? rule.conditions.any ?? []) as Array<Record<string, any>>) if (typeof cond.fact === 'string') facts.add(cond.fact);
  }
  const terms = [...new Set([...facts].flatMap((f) => negatableTerms(data, f)))];
  if (!terms.length) return [];
  const window = Math.max(language.negationWindow, 6);
  const grams = (item: ItemResult) => {
    const after = new Set<string>();
    const before = new Set<string>();
    for (const c of termContexts(splitSentences(item.text), terms, language, window)) {
      c.after.forEach((w, i) => {
        after.add(w);
        if (i + 1 < c.after.length) after.add(`${w} ${c.after[i + 1]}`);
      });
      for (const w of c.before.slice(-language.negationWindow)) before.add(w);
    }
    return { after, before };
  };
  const against = { after: new Set<string>(), before: new Set<string>() };
  for (const o of train.filter((i) => expectedOf(i, 'decision') === predicted)) {
    const g = grams(o);
    g.after.forEach((x) => against.after.add(x));
    g.before.forEach((x) => against.before.add(x));
  }
  const termWords = new Set(terms.flatMap((t) => t.toLowerCase().split(/\s+/)));
  const known = new Set([...language.negations, ...(language.negationsAfter ?? [])].map((w) => w.toLowerCase()));
  const counts = new Map<string, { after: boolean; word: string; n: number }>();
  for (const f of failing) {
    const g = grams(f);
    for (const [after, set] of [[true, g.after], [false, g.before]] as const) {
      for (const word of set) {
        const words = word.split(' ');
        if ((after ? against.after : against.before).has(word) || known.has(word) || words.some((w) => termWords.has(w)) || words.every((w) => STOP.has(w)) || (words.length === 1 && word.length < 3)) continue;
        const key = `${after ? 'after' : 'before'}:${word}`;
        const c = counts.get(key) ?? { after, word, n: 0 };
        c.n += 1;
        counts.set(key, c);
      }
    }
  }
  // Most specific first: the share of the train items saying the word anywhere that are failing ones here.
  const said = train.map((i) => ngrams(i.text, 2));
  const specificity = (word: string) => 1 / Math.max(1, said.filter((g) => g.has(word)).length);
  return [...counts.values()]
    .filter((c) => c.n >= minSupport)
    .map((c) => ({ ...c, score: c.n * specificity(c.word) }))
    .sort((a, b) => b.score - a.score || b.n - a.n || a.word.split(' ').length - b.word.split(' ').length || a.word.localeCompare(b.word))
    .slice(0, k)
    .map((c) => ({ kind: 'addNegation', word: c.word, ...(c.after ? { after: true } : {}) }));
}

const GREATER = new Set(['greaterThan', 'greaterThanInclusive']);
const LESS = new Set(['lessThan', 'lessThanInclusive']);

/**
 * Edits of the rules for a decision expected `expected` and predicted `predicted`: each numeric threshold of a rule
 * for the expected outcome one step easier to hold, of a rule for the predicted one one step harder; each rule for
 * the expected outcome one place up; a phrase of a phrases output a rule for the predicted outcome tests removed,
 * when at least `minSupport` failing items say it.
 */
function ruleEdits(data: ProfileData, expected: unknown, predicted: unknown, failing: ItemResult[], minSupport: number): Edit[] {
  const rules = data.rules.rules as Array<Record<string, any>>;
  const outputs = data.profile.outputs as Array<Record<string, any>>;
  const out: Edit[] = [];
  rules.forEach((rule, at) => {
    const toward = rule.event.type === expected ? 1 : rule.event.type === predicted ? -1 : 0;
    if (!toward) return;
    ((rule.conditions.all ?? rule.conditions.any ?? []) as Array<Record<string, any>>).forEach((cond, condition) => {
      if (typeof cond.value === 'number') {
        const step = GREATER.has(cond.operator) ? -toward : LESS.has(cond.operator) ? toward : 0;
        if (step && cond.value + step >= 0) out.push({ kind: 'setRuleValue', rule: rule.name, condition, value: cond.value + step });
      }
      const target = outputs.find((o) => o.name === cond.fact);
      if (toward < 0 && target?.offline?.extractor === 'phrases' && cond.operator === 'equal' && cond.value === true && target.offline.phrases.length > 1) {
        const said = new Map<string, number>();
        for (const f of failing) for (const phrase of detectPhrases(splitSentences(f.text), target.offline.phrases).evidence ?? []) said.set(phrase, (said.get(phrase) ?? 0) + 1);
        for (const [phrase, n] of said) if (n >= minSupport) out.push({ kind: 'removePhrase', output: target.name, phrase });
      }
    });
    if (toward > 0 && at > 0 && rules.slice(0, at).some((r) => r.event.type === predicted)) out.push({ kind: 'moveRule', rule: rule.name, to: at - 1 });
  });
  return out;
}

export function proposeOffline(data: ProfileData, categories: FailureCategory[], train: ItemResult[], o: { perCategory?: number; minSupport?: number } = {}): Array<{ category: string; edit: Edit }> {
  const perCategory = o.perCategory ?? 6;
  const minSupport = o.minSupport ?? 2;
  const outputs = data.profile.outputs as Array<Record<string, any>>;
  const proposals: Array<{ category: string; edit: Edit }> = [];
  for (const c of categories) {
    if (c.expected === undefined || c.expected === null) continue;
    const opposing = train.filter((i) => expectedOf(i, c.field) !== c.expected);
    const output = outputs.find((o) => o.name === c.field);
    if (c.field === 'decision') {
      // The outputs a rule deciding the expected outcome tests for true (phrases) or at least a count (terms).
      for (const rule of (data.rules.rules as Array<Record<string, any>>).filter((r) => r.event.type === c.expected)) {
        for (const cond of (rule.conditions.all ?? rule.conditions.any ?? []) as Array<Record<string, any>>) {
          const target = outputs.find((o) => o.name === cond.fact);
          const viaPhrases = target?.offline?.extractor === 'phrases' && cond.operator === 'equal' && cond.value === true;
          const viaCount = target?.offline?.extractor === 'count' && String(cond.operator).startsWith('greaterThan');
          // A count of a dictionary's matches: terms the failing items say that the dictionary lacks.
          const counted = (data.profile.facts as Array<Record<string, any>> | undefined)?.find((f) => f.name === cond.fact && typeof f.count === 'string' && !f.count.includes('.'));
          const dictionary = counted && outputs.find((o) => o.name === counted.count && o.offline?.extractor === 'dictionary');
          if (dictionary && GREATER.has(cond.operator)) {
            for (const term of discriminative(c.items, opposing, negatableTerms(data, cond.fact), perCategory, minSupport)) proposals.push({ category: c.key, edit: { kind: 'addTerm', output: dictionary.name, term } });
          }
          if (!viaPhrases && !viaCount) continue;
          const known = viaPhrases ? target!.offline.phrases : target!.offline.terms;
          for (const phrase of discriminative(c.items, opposing, known, perCategory, minSupport)) proposals.push({ category: c.key, edit: { kind: 'addPhrase', output: target!.name, phrase } });
        }
      }
      for (const edit of negationWords(data, c.predicted, c.items, train, perCategory, minSupport)) proposals.push({ category: c.key, edit });
      for (const edit of ruleEdits(data, c.expected, c.predicted, c.items, minSupport)) proposals.push({ category: c.key, edit });
    } else if (output?.type === 'label' && output.offline?.extractor === 'keywords') {
      const label = (output.labels as Array<string | { value: string; keywords?: string[] }>).find((l) => (typeof l === 'string' ? l : l.value) === c.expected);
      if (!label) continue;
      const known = typeof label === 'string' ? [label] : [label.value, ...(label.keywords ?? [])];
      for (const keyword of discriminative(c.items, opposing, known, perCategory, minSupport)) proposals.push({ category: c.key, edit: { kind: 'addKeyword', output: c.field, label: String(c.expected), keyword } });
    }
  }
  // The same edit proposed for two categories is tried once.
  const seen = new Set<string>();
  return proposals.filter((p) => !seen.has(JSON.stringify(p.edit)) && seen.add(JSON.stringify(p.edit)));
}
