/**
 * Boilerplate removal for documents (seed 004's "boilerplate filtering"): what is not the document's own content —
 * quoted reply chains and signature blocks (everything from a line that starts one), lines that are boilerplate
 * wherever they stand ("Sent from my …", unsubscribe and confidentiality lines), quoted lines (`>`), and lines that
 * repeat across many documents of the same drop (learned per drop). The patterns and thresholds are a profile's
 * data (`BoilerplateRules`); what was removed is counted per document, by kind.
 */

export interface BoilerplateRules {
  /** Regular expressions (case-insensitive) of a line from which the rest of the document is not its own. */
  cutFrom: string[];
  /** Regular expressions (case-insensitive) of a line that is boilerplate wherever it stands. */
  dropLines: string[];
  /** A line is learned as boilerplate when it appears in at least this many documents of a drop and this share of them. */
  repeated: { minDocuments: number; minShare: number };
}

export interface Removed {
  /** Lines from the first cut line to the end (reply chains, signature blocks). */
  cut: number;
  /** Lines matching a drop pattern or quoted with `>`. */
  dropped: number;
  /** Lines learned as repeated across the drop. */
  repeated: number;
}

export interface CleanDocument {
  text: string;
  removed: Removed;
}

/** A line as compared across documents: trimmed, spaces collapsed, lower-cased. */
const normal = (line: string) => line.trim().replace(/\s+/g, ' ').toLowerCase();

/**
 * `k` items spread evenly over `items` (all of them when there are no more than `k`): the documents a drop's
 * repeated lines are learned from.
 */
export function sampleEvenly<T>(items: T[], k: number): T[] {
  if (items.length <= k) return [...items];
  return Array.from({ length: k }, (_, i) => items[Math.floor((i * items.length) / k)]!);
}

/** Compiled rules, so that a drop's many documents compile them once. */
export interface Boilerplate {
  rules: BoilerplateRules;
  cutFrom: RegExp[];
  dropLines: RegExp[];
}

export function compileBoilerplate(rules: BoilerplateRules): Boilerplate {
  const compile = (patterns: string[]) => patterns.map((p) => new RegExp(p, 'i'));
  return { rules, cutFrom: compile(rules.cutFrom), dropLines: compile(rules.dropLines) };
}

/**
 * The lines that repeat across a drop's documents (each counted once per document), as `normal` forms: a
 * footer or a template line every document carries. Blank lines are never learned.
 */
export function learnRepeatedLines(documents: string[], b: Boilerplate): Set<string> {
  const { minDocuments, minShare } = b.rules.repeated;
  const seenIn = new Map<string, number>();
  for (const doc of documents) {
    for (const line of new Set(doc.split(/\r?\n/).map(normal))) if (line) seenIn.set(line, (seenIn.get(line) ?? 0) + 1);
  }
  const needed = Math.max(minDocuments, Math.ceil(minShare * documents.length));
  return new Set([...seenIn].filter(([, n]) => n >= needed).map(([line]) => line));
}

/** The document without its boilerplate, and how many lines of each kind were removed. */
export function removeBoilerplate(text: string, b: Boilerplate, repeated: ReadonlySet<string> = new Set()): CleanDocument {
  const lines = text.split(/\r?\n/);
  const removed: Removed = { cut: 0, dropped: 0, repeated: 0 };
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (b.cutFrom.some((re) => re.test(trimmed))) {
      removed.cut = lines.slice(i).filter((l) => l.trim()).length;
      break;
    }
    if (!trimmed) {
      kept.push(line);
      continue;
    }
    if (trimmed.startsWith('>') || b.dropLines.some((re) => re.test(trimmed))) removed.dropped += 1;
    else if (repeated.has(normal(line))) removed.repeated += 1;
    else kept.push(line);
  }
  return { text: kept.join('\n').replace(/\n{3,}/g, '\n\n').trim(), removed };
}
