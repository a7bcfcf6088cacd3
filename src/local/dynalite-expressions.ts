// Hand-written: dynalite parses every request's expressions with its PEG parsers again, and no option of its caches them.
/**
 * dynalite (the local DynamoDB) parses a request's update, condition, key-condition, filter and projection
 * expressions with PEG parsers on every request: ~0.25 ms of its single thread for a group's enrichment write (an
 * update of a dozen clauses and its condition), ~1.7 s of its CPU in a 10,000-note run (profiled), for the same few
 * expressions again and again. What a parse gives depends on the expression, the attribute names, and the type of
 * each attribute value (checked, and recorded in the tree); a value's content is only carried into the tree, as the
 * very object the request holds — except for BETWEEN (its bounds compared) and attribute_type (its type name
 * checked), never kept here. A successful parse is kept as a template with each value replaced by a slot for its
 * placeholder, under the parser, the expression, the names and the values' types; a later request with the same key
 * gets a fresh copy holding its own values, and marks the same names and values used (dynalite refuses unused ones).
 * A parse that fails (a syntax error thrown, any other returned as text) is not kept: a bad request fails as before.
 * A tree that holds something shaped like a value that is not one of the request's own is not kept either.
 */

import { createRequire } from 'node:module';

/** One of dynalite's PEG parsers (`db/updateParser.js` and the others): `parse` is looked up on each call. */
export interface PegParser {
  parse(input: string, options: { context: ParseContext }): unknown;
}

/** What dynalite's validation hands a parser (and the parser marks used names and values in). */
export interface ParseContext {
  attrNames?: Record<string, string>;
  attrVals?: Record<string, Record<string, unknown>>;
  unusedAttrNames?: Record<string, boolean>;
  unusedAttrVals?: Record<string, boolean>;
  isKeyCondition?: boolean;
  [other: string]: unknown;
}

/** A value's place in a kept tree: the request's value of that placeholder goes there. */
class Slot {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

// dynalite's own order (getImmediateType in its parsers): a value's type is the first of these it has.
const TYPES = ['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M'];
const typeOf = (value: Record<string, unknown> | undefined) => TYPES.find((t) => value?.[t] != null) ?? '?';
const VALUE_DEPENDENT = /between|attribute_type/i;
const cached = Symbol('sluice.cachedParses');

interface Kept {
  template: unknown;
  names: string[];
  vals: string[];
}

/**
 * Keeps what `parsers` parse, as above; call once before dynalite serves (again is a no-op). `maxEntries` per
 * parser bounds the memory (all forgotten when full). Returns how many parses reached the parsers (tests).
 * @example cacheExpressionParses(dynaliteParsers())
 */
export function cacheExpressionParses(parsers: PegParser[], maxEntries = 1000): { parses: () => number } {
  let parses = 0;
  for (const parser of parsers as Array<PegParser & { [cached]?: true }>) {
    if (parser[cached]) continue;
    parser[cached] = true;
    const parse = parser.parse;
    const kept = new Map<string, Kept>();
    parser.parse = function (input, options) {
      const context = options.context;
      if (typeof input !== 'string' || VALUE_DEPENDENT.test(input)) {
        parses += 1;
        return parse.call(this, input, options);
      }
      const names = context.attrNames ?? {};
      const vals = context.attrVals ?? {};
      const key = [input, JSON.stringify(names), Object.entries(vals).map(([k, v]) => `${k}:${typeOf(v)}`).join(','), context.isKeyCondition ? 'key' : ''].join('\u0000');
      const hit = kept.get(key);
      if (hit) {
        markUsed(context, hit.names, hit.vals);
        return instantiate(hit.template, vals);
      }
      parses += 1;
      // Parsed against sets of its own, to learn every name and value this expression uses (another expression
      // of the same request may have marked some of them already).
      const probe: ParseContext = { ...context, unusedAttrNames: allOf(names), unusedAttrVals: allOf(vals) };
      const result = parse.call(this, input, { ...options, context: probe });
      const usedNames = Object.keys(names).filter((n) => !(n in probe.unusedAttrNames!));
      const usedVals = Object.keys(vals).filter((v) => !(v in probe.unusedAttrVals!));
      markUsed(context, usedNames, usedVals);
      if (result !== null && typeof result === 'object') {
        const slots = new Map<unknown, Slot>(Object.entries(vals).map(([k, v]) => [v, new Slot(k)]));
        const template = templatize(result, slots);
        if (template !== undefined) {
          if (kept.size >= maxEntries) kept.clear();
          kept.set(key, { template, names: usedNames, vals: usedVals });
        }
      }
      return result;
    };
  }
  return { parses: () => parses };
}

/** dynalite's update, condition (also key conditions and filters) and projection parsers, as it loads them. */
export function dynaliteParsers(): PegParser[] {
  const fromDynalite = createRequire(import.meta.resolve('dynalite'));
  return ['update', 'condition', 'projection'].map((name) => fromDynalite(`./db/${name}Parser.js`) as PegParser);
}

function allOf(record: Record<string, unknown>): Record<string, boolean> {
  return Object.fromEntries(Object.keys(record).map((k) => [k, true]));
}

function markUsed(context: ParseContext, names: string[], vals: string[]): void {
  for (const n of names) delete context.unusedAttrNames?.[n];
  for (const v of vals) delete context.unusedAttrVals?.[v];
}

const looksLikeValue = (o: object) => {
  const keys = Object.keys(o);
  return keys.length === 1 && TYPES.includes(keys[0]!);
};

/** A deep copy of a parsed tree with the request's values as slots; undefined if it holds a value-shaped copy. */
function templatize(node: unknown, slots: Map<unknown, Slot>): unknown {
  if (node === null || typeof node !== 'object') return node;
  const slot = slots.get(node);
  if (slot) return slot;
  if (looksLikeValue(node)) return undefined;
  if (Array.isArray(node)) {
    const out: unknown[] = [];
    for (const item of node) {
      const t = templatize(item, slots);
      if (t === undefined && item !== undefined) return undefined;
      out.push(t);
    }
    return out;
  }
  const out = Object.create(Object.getPrototypeOf(node)) as Record<string, unknown>;
  for (const [k, v] of Object.entries(node)) {
    const t = templatize(v, slots);
    if (t === undefined && v !== undefined) return undefined;
    out[k] = t;
  }
  return out;
}

/** A fresh tree from a template, each slot holding this request's value. */
function instantiate(node: unknown, vals: Record<string, unknown>): unknown {
  if (node === null || typeof node !== 'object') return node;
  if (node instanceof Slot) return vals[node.name];
  if (Array.isArray(node)) return node.map((item) => instantiate(item, vals));
  const out = Object.create(Object.getPrototypeOf(node)) as Record<string, unknown>;
  for (const [k, v] of Object.entries(node)) out[k] = instantiate(v, vals);
  return out;
}
