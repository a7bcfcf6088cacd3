/**
 * Scores a profile (compiled, possibly a candidate never written) on benchmark items in-process with the same
 * predict and compare code as `sluice score`: per item which fields are right, accuracy per field and per tag,
 * and the weighted score. Judged fields count by their deterministic fallback here.
 */
import pLimit from 'p-limit';
import type { EnrichmentProvider } from '../domain/enrich/enrich-group.ts';
import type { Profile } from '../profiles/profile.ts';
import type { BenchmarkConfig, BenchmarkItem } from '../scoring/benchmark.ts';
import { type FieldVerdict, compareItem, predictItem } from '../scoring/score-item.ts';

export interface ItemResult {
  id: string;
  tags: string[];
  verdicts: FieldVerdict[];
  /** The item's text, for proposers mining what failing items say. */
  text: string;
}

export interface Evaluation {
  items: ItemResult[];
  /** Field → share right. */
  accuracy: Record<string, number>;
  /** Tag → field → share right. */
  byTag: Record<string, Record<string, number>>;
  weighted: number;
}

export async function evaluate(profile: Profile, config: BenchmarkConfig, items: BenchmarkItem[], provider: EnrichmentProvider, concurrency = 4): Promise<Evaluation> {
  const limit = pLimit(concurrency);
  const results = await Promise.all(
    items.map((item) =>
      limit(async () => {
        const prediction = await predictItem(profile, item, provider);
        const text = item.input.records.map((r) => String(Object.entries(r).find(([h]) => profile.headerMap.get(h.toLowerCase()) === profile.textField)?.[1] ?? '')).join('\n');
        return { id: item.id, tags: item.tags, verdicts: compareItem(profile, config, item, prediction), text };
      }),
    ),
  );
  return summarize(config, results);
}

export function summarize(config: BenchmarkConfig, items: ItemResult[]): Evaluation {
  const fields = Object.keys(config.fields);
  const share = (xs: ItemResult[], f: string) => (xs.length ? xs.filter((x) => x.verdicts.find((v) => v.field === f)?.correct).length / xs.length : 0);
  const accuracy = Object.fromEntries(fields.map((f) => [f, share(items, f)]));
  const tags = [...new Set(items.flatMap((i) => i.tags))];
  const byTag = Object.fromEntries(tags.map((t) => [t, Object.fromEntries(fields.map((f) => [f, share(items.filter((i) => i.tags.includes(t)), f)]))]));
  const weights = fields.reduce((s, f) => s + config.fields[f]!.weight, 0);
  const weighted = items.length ? items.reduce((s, i) => s + i.verdicts.reduce((a, v) => a + (config.fields[v.field]?.weight ?? 0) * (v.correct ? 1 : 0), 0) / weights, 0) / items.length : 0;
  return { items, accuracy, byTag, weighted };
}

/** The largest fall of any field overall or within any tag from `before` to `after` (0 when nothing fell). */
export function worstDrop(before: Evaluation, after: Evaluation): { drop: number; where: string } {
  let worst = { drop: 0, where: '' };
  for (const [f, a] of Object.entries(before.accuracy)) if (a - (after.accuracy[f] ?? 0) > worst.drop) worst = { drop: a - (after.accuracy[f] ?? 0), where: f };
  for (const [t, fields] of Object.entries(before.byTag)) {
    for (const [f, a] of Object.entries(fields)) {
      const now = after.byTag[t]?.[f] ?? 0;
      if (a - now > worst.drop) worst = { drop: a - now, where: `${f} on ${t}` };
    }
  }
  return worst;
}
