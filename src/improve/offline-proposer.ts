/**
 * The offline proposer: for each category of failure, phrases that the failing train items say and no train item
 * expecting something else says (the seed's pattern learning from the benchmark), proposed as edits of what
 * decides that field — a keyword of the expected label, or a phrase of the boolean or count output a rule for
 * the expected outcome tests. Learns from train items only; the loop's gate decides on validation.
 */
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
          if (!viaPhrases && !viaCount) continue;
          const known = viaPhrases ? target!.offline.phrases : target!.offline.terms;
          for (const phrase of discriminative(c.items, opposing, known, perCategory, minSupport)) proposals.push({ category: c.key, edit: { kind: 'addPhrase', output: target!.name, phrase } });
        }
      }
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
