/**
 * What a profile's records yield, declared as data (`outputs` and `facts` in profile.json): each output's name,
 * type, description (for the LLM's schema and prompt), cost (`cheap` runs in fast mode, `expensive` waits for a
 * backfill) and how the offline provider produces it (one of the generic extractors in
 * `src/domain/enrich/extractors.ts`, with its parameters); the facts the rules see beyond the outputs themselves
 * (constants, counts). Checked with zod; `checkOutputs` refuses what zod cannot see (a fact or output named twice,
 * a reference to an output that is not there, an extractor that cannot produce the output's type).
 */
import * as z from 'zod';

const name = z.string().regex(/^[a-z][A-Za-z0-9_]*$/, 'a name: a lower-case letter, then letters, digits or _');

const labelObjectSchema = z.object({
  value: z.string().min(1),
  title: z.string().optional(),
  keywords: z.array(z.string().min(1)).default([]),
});

/**
 * One value of a label set: the value stored, a title for people, and the keywords that point at it (none: the
 * value itself is the term). A plain string is a label with only a value.
 */
export const labelSchema = z.union([z.string().min(1).transform((value) => ({ value, keywords: [] as string[] })), labelObjectSchema]);
export type Label = z.output<typeof labelObjectSchema>;

/** How the offline provider produces an output: a generic extractor and its parameters from the profile. */
export const extractorSchema = z.discriminatedUnion('extractor', [
  /** The label with the most distinct non-negated keyword hits (ties: declared order), else the fallback. */
  z.object({ extractor: z.literal('keywords') }),
  /** Every label whose value or keywords occur, not negated (distinct, sorted). */
  z.object({ extractor: z.literal('dictionary') }),
  /** Whether any of the phrases occurs (a denial, a red flag): a boolean; the phrases found are its evidence. */
  z.object({ extractor: z.literal('phrases'), phrases: z.array(z.string().min(1)).min(1) }),
  /** AFINN lexicon sentiment (the `sentiment` package) of the whole text, labelled by its comparative score. */
  z.object({ extractor: z.literal('lexicon'), threshold: z.number().positive().default(0.05) }),
  /** Entities of each declared kind: compromise's NER, a pattern, or another output's dictionary. */
  z.object({ extractor: z.literal('entities') }),
  /** The sentences of the retrieved chunks sharing most terms with the profile's query. */
  z.object({ extractor: z.literal('summary'), sentences: z.number().int().min(1) }),
  /** The one retrieved sentence with most of these terms and the keywords of the outputs named. */
  z.object({
    extractor: z.literal('best-sentence'),
    terms: z.array(z.string()).default([]),
    termsFrom: z.array(name).default([]),
  }),
  /** How many times the keywords or phrases occur, not negated. */
  z.object({ extractor: z.literal('count'), terms: z.array(z.string().min(1)).min(1) }),
]);
export type Extractor = z.infer<typeof extractorSchema>;
export type ExtractorName = Extractor['extractor'];

/** One kind of entity: found by compromise's NER, by a pattern, or by another output's labels. */
export const entityKindSchema = z.object({
  name,
  description: z.string().optional(),
  from: z.discriminatedUnion('source', [
    z.object({ source: z.literal('ner'), tag: z.enum(['people', 'organizations', 'places']) }),
    z.object({ source: z.literal('pattern'), pattern: z.string().min(1) }),
    z.object({ source: z.literal('dictionary'), output: name }),
  ]),
  /** How sure the offline extractor is of what this kind finds (default: dictionary 0.95, pattern 0.9, NER 0.7). */
  confidence: z.number().min(0).max(1).optional(),
});
export type EntityKind = z.infer<typeof entityKindSchema>;

const common = {
  name,
  /** What the output means: it goes into the LLM's JSON schema and prompt. */
  description: z.string().min(1),
  cost: z.enum(['cheap', 'expensive']),
  offline: extractorSchema,
};

export const outputSchema = z.discriminatedUnion('type', [
  /** One label of a declared set; `fallback` when nothing points at any. */
  z.object({ ...common, type: z.literal('label'), labels: z.array(labelSchema).min(1), fallback: labelObjectSchema.omit({ keywords: true }) }),
  /** Any number of labels of a declared set. */
  z.object({ ...common, type: z.literal('labels'), labels: z.array(labelSchema).min(1) }),
  z.object({ ...common, type: z.literal('text'), maxChars: z.number().int().min(20).optional() }),
  z.object({ ...common, type: z.literal('number') }),
  z.object({ ...common, type: z.literal('boolean') }),
  /** A label (negative, neutral, positive) and a score in [-1, 1]. */
  z.object({ ...common, type: z.literal('sentiment') }),
  /** Lists of entities per declared kind. */
  z.object({
    ...common,
    type: z.literal('entities'),
    kinds: z.array(entityKindSchema).min(1),
    /**
     * Resolve these (enhanced) entities against another entities output (conservative): one match merges
     * (that name stays primary), no match is accepted above `acceptAbove` or goes to review, several go to review.
     */
    resolve: z.object({ against: name, acceptAbove: z.number().min(0).max(1).default(0.8) }).strict().optional(),
  }),
]);
export type OutputSpec = z.infer<typeof outputSchema>;
export type OutputType = OutputSpec['type'];

/** A fact the rules see besides the outputs (each output is a fact under its own name) and `eligibleRecordCount`. */
export const factSchema = z.union([
  z.object({ name, description: z.string().optional(), value: z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]) }),
  /** The number of values of a list output (labels) or of one kind of an entities output (`output.kind`). */
  z.object({ name, description: z.string().optional(), count: z.string().regex(/^[a-z][A-Za-z0-9_]*(\.[a-z][A-Za-z0-9_]*)?$/) }),
]);
export type FactSpec = z.infer<typeof factSchema>;

/** The facts every profile's rules see, whatever it declares. */
export const BUILT_IN_FACTS = ['eligibleRecordCount'] as const;

/** Which output types each extractor can produce. */
const PRODUCES: Record<ExtractorName, OutputType[]> = {
  keywords: ['label'],
  dictionary: ['labels'],
  phrases: ['boolean'],
  lexicon: ['sentiment'],
  entities: ['entities'],
  summary: ['text'],
  'best-sentence': ['text'],
  count: ['number'],
};

/**
 * What zod cannot check in a profile's outputs and facts, each as `[path, reason]` (empty when all is well).
 * @example checkOutputs(outputs, facts) // [['outputs.2.offline.extractor', 'keywords cannot produce a boolean']]
 */
export function checkOutputs(outputs: OutputSpec[], facts: FactSpec[]): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const seen = new Map<string, string>();
  const takeName = (n: string, path: string) => {
    const before = seen.get(n);
    if (before) problems.push([path, `"${n}" is already ${before}`]);
    else seen.set(n, path);
  };
  for (const f of BUILT_IN_FACTS) seen.set(f, 'a built-in fact');
  const byName = new Map(outputs.map((o) => [o.name, o]));
  outputs.forEach((o, i) => {
    takeName(o.name, `outputs.${i}.name`);
    if (!PRODUCES[o.offline.extractor].includes(o.type)) {
      problems.push([`outputs.${i}.offline.extractor`, `${o.offline.extractor} cannot produce a ${o.type} (it produces ${PRODUCES[o.offline.extractor].join(', ')})`]);
    }
    if (o.offline.extractor === 'best-sentence') {
      o.offline.termsFrom.forEach((ref, k) => {
        const target = byName.get(ref);
        if (!target || !('labels' in target)) problems.push([`outputs.${i}.offline.termsFrom.${k}`, `"${ref}" is not an output with labels`]);
      });
    }
    if (o.type === 'entities') {
      o.kinds.forEach((kind, k) => {
        if (kind.from.source !== 'dictionary') return;
        const target = byName.get(kind.from.output);
        if (!target || !('labels' in target)) problems.push([`outputs.${i}.kinds.${k}.from.output`, `"${kind.from.output}" is not an output with labels`]);
      });
      const kinds = new Set<string>();
      o.kinds.forEach((kind, k) => {
        if (kinds.has(kind.name)) problems.push([`outputs.${i}.kinds.${k}.name`, `kind "${kind.name}" is declared twice`]);
        kinds.add(kind.name);
      });
      if (o.resolve) {
        const target = byName.get(o.resolve.against);
        if (!target || target.type !== 'entities' || target.resolve || target === o) problems.push([`outputs.${i}.resolve.against`, `"${o.resolve.against}" is not another entities output without resolve of its own`]);
      }
      o.kinds.forEach((kind, k) => {
        if (kind.from.source !== 'pattern') return;
        try {
          new RegExp(kind.from.pattern, 'giu');
        } catch (err) {
          problems.push([`outputs.${i}.kinds.${k}.from.pattern`, `not a regular expression: ${(err as Error).message}`]);
        }
      });
    }
  });
  facts.forEach((f, i) => {
    takeName(f.name, `facts.${i}.name`);
    if ('count' in f) {
      const [outputName, kind] = f.count.split('.');
      const target = byName.get(outputName!);
      const countable = target && (kind ? target.type === 'entities' && target.kinds.some((k) => k.name === kind) : target.type === 'labels');
      if (!countable) problems.push([`facts.${i}.count`, `"${f.count}" is not a list output (labels) or an entities output's kind`]);
    }
  });
  return problems;
}

/** Every fact name the rules of a profile may use: the built-in ones, one per output, one per declared fact. */
export function factNames(outputs: OutputSpec[], facts: FactSpec[]): Set<string> {
  return new Set<string>([...BUILT_IN_FACTS, ...outputs.map((o) => o.name), ...facts.map((f) => f.name)]);
}

/** The confidence an entity kind's offline extraction gives what it finds. */
export function kindConfidence(kind: EntityKind): number {
  return kind.confidence ?? { dictionary: 0.95, pattern: 0.9, ner: 0.7 }[kind.from.source];
}
