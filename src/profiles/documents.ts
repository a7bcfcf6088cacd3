/**
 * A profile whose records are documents (`documents` in profile.json): its drop is a manifest of groups (e.g.
 * opportunities) and where their documents are; each document is read, cleaned and enriched as its own message
 * with the profile's `outputs`, and the group is rolled up once all its documents have settled
 * (`src/pipeline/documents.ts`). This section says how: the size limit, the boilerplate rules, which manifest
 * columns name organisations the group already knows, the consolidation threshold, and the group-level facts the
 * rules see (an output rolled up over all documents or over the latest ones).
 */
import * as z from 'zod';

const name = z.string().regex(/^[a-z][A-Za-z0-9_]*$/, 'a name: a lower-case letter, then letters, digits or _');
const pattern = z.string().refine((p) => {
  try {
    new RegExp(p, 'i');
    return true;
  } catch {
    return false;
  }
}, 'not a regular expression');

export const documentsSchema = z
  .object({
    /** A document larger than this is rejected with the reason, unread. */
    maxBytes: z.int().positive().default(20 * 1024 * 1024),
    /** Manifest columns whose values are organisations the group knows (its account): found by name in its documents. */
    knownOrganizations: z.array(z.string()).default([]),
    /** Organisations every group knows (the seller). */
    alwaysKnownOrganizations: z.array(z.string()).default([]),
    boilerplate: z
      .object({
        /** A line from which the rest of a document is not its own (a reply chain, a signature). */
        cutFrom: z.array(pattern).default([]),
        /** A line that is boilerplate wherever it stands. */
        dropLines: z.array(pattern).default([]),
        /**
         * A line is learned as boilerplate of a drop (a footer, a template line) when it is in at least `minDocuments`
         * and `minShare` of `sample` documents read evenly across the drop before it fans out.
         */
        repeated: z.object({ minDocuments: z.int().min(2), minShare: z.number().gt(0).max(1), sample: z.int().min(2).default(60) }).strict().default({ minDocuments: 3, minShare: 0.5, sample: 60 }),
      })
      .strict()
      .prefault({}),
    /** Consolidated people and organisations at or above this confidence are kept; the rest are listed for review. */
    acceptAbove: z.number().min(0).max(1).default(0.8),
    /**
     * The group's entities output takes the consolidated people and organisations (one name per real one, at or
     * above `acceptAbove`) in these kinds, instead of the union of what each document found.
     */
    consolidateInto: z.object({ output: name, person: name, organization: name }).strict().optional(),
    /** How many of a group's documents, newest first, are its "latest". */
    latest: z.int().min(1).default(2),
    /** Group-level facts for the rules: an output of the documents rolled up over all of them or the latest ones. */
    rollup: z.array(z.object({ name, from: name, over: z.enum(['all', 'latest']), description: z.string().optional() }).strict()).default([]),
  })
  .strict();
export type DocumentsSpec = z.infer<typeof documentsSchema>;

/**
 * What the documents section names that zod cannot check, each as `[path, reason]`.
 * @param outputs the profile's output names; @param columns its column names
 */
export function checkDocuments(spec: DocumentsSpec, outputs: Map<string, { type: string; kinds?: Array<{ name: string }> }>, columns: Set<string>): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const into = spec.consolidateInto;
  if (into) {
    const target = outputs.get(into.output);
    if (target?.type !== 'entities') problems.push(['documents.consolidateInto.output', `"${into.output}" is not an entities output`]);
    else for (const k of ['person', 'organization'] as const) if (!target.kinds!.some((x) => x.name === into[k])) problems.push([`documents.consolidateInto.${k}`, `"${into[k]}" is not a kind of ${into.output}`]);
  }
  spec.knownOrganizations.forEach((c, i) => {
    if (!columns.has(c)) problems.push([`documents.knownOrganizations.${i}`, `"${c}" is not one of the profile's columns`]);
  });
  spec.rollup.forEach((r, i) => {
    if (!outputs.has(r.from)) problems.push([`documents.rollup.${i}.from`, `"${r.from}" is not one of the profile's outputs`]);
    // A rollup fact is stored among the group's outputs: it may not take an output's (or a built-in fact's) name.
    if (outputs.has(r.name) || (DOCUMENT_FACTS as readonly string[]).includes(r.name)) problems.push([`documents.rollup.${i}.name`, `"${r.name}" is already an output or a built-in fact`]);
  });
  for (const f of DOCUMENT_FACTS) if (outputs.has(f)) problems.push(['outputs', `"${f}" is a documents profile's built-in fact; name the output otherwise`]);
  return problems;
}

/** The group-level fact names the documents section adds for the rules: each rollup, and the consolidated entities' counts. */
export function documentFacts(spec: DocumentsSpec | undefined): string[] {
  return spec ? [...spec.rollup.map((r) => r.name), ...DOCUMENT_FACTS] : [];
}

/** Facts every documents profile's group has: how many documents were read and rejected, people and organisations kept. */
export const DOCUMENT_FACTS = ['documentsRead', 'documentsRejected', 'people', 'organizations'] as const;
