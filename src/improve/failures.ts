/**
 * The failures of an evaluation grouped into categories — field × kind of miss (`decision: no → yes`,
 * `category: BILLING → OTHER`, `products: missed`) — with counts and the failing items, largest first.
 */
import type { Evaluation, ItemResult } from './evaluate.ts';

export interface FailureCategory {
  key: string;
  field: string;
  expected: unknown;
  predicted: unknown;
  count: number;
  items: ItemResult[];
}

const scalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

export function clusterFailures(e: Evaluation): FailureCategory[] {
  const by = new Map<string, FailureCategory>();
  for (const item of e.items) {
    for (const v of item.verdicts) {
      if (v.correct) continue;
      const exact = scalar(v.expected) && scalar(v.predicted);
      const key = exact ? `${v.field}: ${String(v.expected)} → ${String(v.predicted)}` : `${v.field}: missed`;
      const c = by.get(key) ?? { key, field: v.field, expected: exact ? v.expected : undefined, predicted: exact ? v.predicted : undefined, count: 0, items: [] };
      c.count += 1;
      c.items.push(item);
      by.set(key, c);
    }
  }
  return [...by.values()].sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
}
