// Under test: dynalite's expression parses kept per shape (src/local/dynalite-expressions.ts) — against its own parsers uncached, and through the real SDK over loopback: each request's own values, the same refusals, parsed once per shape.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConditionalCheckFailedException, CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParseContext, type PegParser, cacheExpressionParses } from '../../src/local/dynalite-expressions.ts';
import { type Emulators, startEmulators } from '../../src/local/emulators.ts';
import { localClients } from '../../src/local/runtime.ts';

const fromDynalite = createRequire(import.meta.resolve('dynalite'));
const db = fromDynalite('./db/index.js') as { compare: unknown };
const reserved = new Set(['STATUS', 'NAME', 'DATA']);

/** A copy of one of dynalite's parsers of its own (they require nothing), so a cached and a plain one run side by side. */
function freshParser(name: 'update' | 'condition' | 'projection'): PegParser {
  const module = { exports: {} as PegParser };
  new Function('module', 'exports', readFileSync(fromDynalite.resolve(`./db/${name}Parser.js`), 'utf8'))(module, module.exports);
  return module.exports;
}

/** What dynalite's validation hands its parsers for a request (validations/index.js). */
function contextFor(names: Record<string, string> | undefined, vals: Record<string, Record<string, unknown>>, o: { key?: boolean } = {}): ParseContext {
  return {
    attrNames: names,
    attrVals: vals,
    unusedAttrNames: Object.fromEntries(Object.keys(names ?? {}).map((k) => [k, true])),
    unusedAttrVals: Object.fromEntries(Object.keys(vals).map((k) => [k, true])),
    isReserved: (n: string) => reserved.has(n.toUpperCase()),
    compare: db.compare,
    ...(o.key ? { isKeyCondition: true } : {}),
  };
}

/** Parses like dynalite's `parse` (a thrown syntax error as its text). */
function run(parser: PegParser, expression: string, context: ParseContext): unknown {
  try {
    return parser.parse(expression, { context });
  } catch (err) {
    return `thrown: ${(err as Error).message}`;
  }
}

describe('dynalite’s expressions parsed once per shape', () => {
  const plain = { update: freshParser('update'), condition: freshParser('condition'), projection: freshParser('projection') };
  const kept = { update: freshParser('update'), condition: freshParser('condition'), projection: freshParser('projection') };
  const { parses } = cacheExpressionParses(Object.values(kept));

  // Requests as the pipeline's store sends them and as other callers could: [parser, expression, names, two sets of values].
  const cases: Array<[keyof typeof plain, string, Record<string, string> | undefined, Record<string, Record<string, unknown>>, Record<string, Record<string, unknown>>]> = [
    ['update', 'SET jobId = :jobId, #s = :enriched, noteCount = :n, enrichment = :e REMOVE pendingPk, pendingSk', { '#s': 'status' },
      { ':jobId': { S: 'j1' }, ':enriched': { S: 'ENRICHED' }, ':n': { N: '3' }, ':e': { M: { cause: { S: 'WATER' } } } },
      { ':jobId': { S: 'j2' }, ':enriched': { S: 'ENRICHED' }, ':n': { N: '7' }, ':e': { M: { cause: { S: 'FIRE' }, parts: { L: [{ S: 'roof' }] } } } }],
    ['condition', 'attribute_not_exists(#s) OR #s = :enriched', { '#s': 'status' }, { ':enriched': { S: 'ENRICHED' } }, { ':enriched': { S: 'DECIDED' } }],
    ['update', 'ADD shardsClosed :sid, enriched :e SET n = if_not_exists(n, :z) + :one, l = list_append(l, :l)', undefined,
      { ':sid': { SS: ['1'] }, ':e': { N: '4' }, ':z': { N: '0' }, ':one': { N: '1' }, ':l': { L: [{ S: 'a' }] } },
      { ':sid': { SS: ['2', '3'] }, ':e': { N: '9' }, ':z': { N: '0' }, ':one': { N: '1' }, ':l': { L: [] } }],
    ['condition', 'attribute_exists(pk) AND NOT contains(shardsClosed, :id) AND size(#d) < :max AND #s IN (:a, :b)', { '#d': 'data', '#s': 'status' },
      { ':id': { S: '1' }, ':max': { N: '10' }, ':a': { S: 'x' }, ':b': { S: 'y' } },
      { ':id': { S: '2' }, ':max': { N: '99' }, ':a': { S: 'p' }, ':b': { S: 'q' } }],
    ['projection', '#s, enrichment.summary, notes[0]', { '#s': 'status' }, {}, {}],
  ];

  it('gives each request a tree equal to an uncached parse, holding that request’s own values, and marks the same names and values used', () => {
    for (const [name, expression, names, first, second] of cases) {
      for (const vals of [first, second, first]) {
        const a = contextFor(names, vals);
        const b = contextFor(names, vals);
        const want = run(plain[name], expression, a);
        const got = run(kept[name], expression, b);
        expect(typeof want).toBe('object');
        expect(got).toEqual(want);
        expect(b.unusedAttrNames).toEqual(a.unusedAttrNames);
        expect(b.unusedAttrVals).toEqual(a.unusedAttrVals);
        // The very value objects of this request, as dynalite's own parse carries them.
        const held = JSON.stringify(got);
        for (const v of Object.values(vals)) expect(held).toContain(JSON.stringify(v));
      }
    }
  });

  it('parses a shape once: many requests of one expression with other values reach the parser once', () => {
    const before = parses();
    for (let i = 0; i < 50; i++) {
      const c = contextFor({ '#s': 'status' }, { ':d': { S: 'DECIDED' }, ':dec': { M: { outcome: { S: i % 2 ? 'yes' : 'no' } } }, ':at': { S: `t${i}` } });
      const t = kept.update.parse('SET #s = :d, decision = :dec, updatedAt = :at', { context: c }) as { sections: Array<{ val: unknown }> };
      expect(t.sections[1]!.val).toBe(c.attrVals![':dec']);
      expect(t.sections[2]!.val).toEqual({ S: `t${i}` });
    }
    expect(parses() - before).toBe(1);
    // Another shape of the same expression (a value of another type) is parsed on its own.
    kept.update.parse('SET #s = :d, decision = :dec, updatedAt = :at', { context: contextFor({ '#s': 'status' }, { ':d': { S: 'DECIDED' }, ':dec': { S: 'no' }, ':at': { S: 't' } }) });
    expect(parses() - before).toBe(2);
  });

  it('marks a value used by a kept expression when another expression of the same request used it first', () => {
    // First request: its update and its condition both use :e (the update marks it, the condition finds it marked).
    const one = contextFor({ '#s': 'status' }, { ':e': { S: 'ENRICHED' }, ':at': { S: 't1' } });
    run(kept.update, 'SET #s = :e, updatedAt = :at', one);
    run(kept.condition, '#s = :e', one);
    expect(one.unusedAttrVals).toEqual({});
    // Second request: the same condition (kept) beside an update without :e — the condition still uses it.
    const two = contextFor({ '#s': 'status' }, { ':e': { S: 'ENRICHED' }, ':at': { S: 't2' } });
    run(kept.update, 'SET updatedAt = :at', two);
    run(kept.condition, '#s = :e', two);
    expect(two.unusedAttrVals).toEqual({});
    expect(two.unusedAttrNames).toEqual({});
    // And a value no expression uses stays unused (dynalite refuses the request), kept or not.
    const three = contextFor(undefined, { ':at': { S: 't3' }, ':extra': { S: 'x' } });
    run(kept.update, 'SET updatedAt = :at', three);
    expect(three.unusedAttrVals).toEqual({ ':extra': true });
  });

  it('refuses as the uncached parser does where a value’s type or content decides: types, BETWEEN, attribute_type, syntax', () => {
    const refusals: Array<[keyof typeof plain, string, Record<string, Record<string, unknown>>]> = [
      ['update', 'ADD n :v', { ':v': { N: '1' } }],
      ['update', 'ADD n :v', { ':v': { S: 'one' } }],
      ['update', 'SET l = list_append(l, :v)', { ':v': { L: [] } }],
      ['update', 'SET l = list_append(l, :v)', { ':v': { N: '2' } }],
      ['condition', 'n BETWEEN :lo AND :hi', { ':lo': { N: '1' }, ':hi': { N: '5' } }],
      ['condition', 'n BETWEEN :lo AND :hi', { ':lo': { N: '9' }, ':hi': { N: '5' } }],
      ['condition', 'attribute_type(n, :t)', { ':t': { S: 'N' } }],
      ['condition', 'attribute_type(n, :t)', { ':t': { S: 'NOPE' } }],
      ['condition', 'n = = :v', { ':v': { N: '1' } }],
      ['update', 'SET n = :missing', { ':v': { N: '1' } }],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [name, expression, vals] of refusals) {
        const want = run(plain[name], expression, contextFor(undefined, vals));
        expect(run(kept[name], expression, contextFor(undefined, vals))).toEqual(want);
      }
    }
    // Each refusal was the uncached parser's text (not a tree), each time.
    expect(run(kept.update, 'ADD n :v', contextFor(undefined, { ':v': { S: 'one' } }))).toMatch(/Incorrect operand type/);
    expect(run(kept.condition, 'n BETWEEN :lo AND :hi', contextFor(undefined, { ':lo': { N: '9' }, ':hi': { N: '5' } }))).toMatch(/upper bound/);
    expect(run(kept.condition, 'n = = :v', contextFor(undefined, { ':v': { N: '1' } }))).toMatch(/^thrown: /);
  });

  describe('through the real SDK over loopback', () => {
    let emu: Emulators;
    let ddb: ReturnType<typeof localClients>['dynamodb'];
    beforeAll(async () => {
      emu = await startEmulators();
      ddb = localClients(emu.endpoints).dynamodb;
      await ddb.send(new CreateTableCommand({ TableName: 'groups', KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }));
      while ((await ddb.send(new DescribeTableCommand({ TableName: 'groups' }))).Table?.TableStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 10));
    });
    afterAll(async () => {
      ddb?.destroy();
      await emu?.stop();
    });

    it('applies each request’s own values and conditions, request after request of one shape', async () => {
      for (let i = 0; i < 20; i++) await ddb.send(new PutItemCommand({ TableName: 'groups', Item: { pk: { S: 'job' }, sk: { S: `g${i}` }, status: { S: i % 2 ? 'ENRICHED' : 'DECIDED' } } }));
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i++) {
        try {
          await ddb.send(new UpdateItemCommand({
            TableName: 'groups',
            Key: { pk: { S: 'job' }, sk: { S: `g${i}` } },
            UpdateExpression: 'SET #s = :decided, decision = :d, n = :n',
            ConditionExpression: '#s = :enriched',
            ExpressionAttributeNames: { '#s': 'status' },
            ExpressionAttributeValues: { ':decided': { S: 'DECIDED' }, ':enriched': { S: 'ENRICHED' }, ':d': { M: { outcome: { S: `o${i}` } } }, ':n': { N: String(i) } },
          }));
          outcomes.push('applied');
        } catch (err) {
          expect(err).toBeInstanceOf(ConditionalCheckFailedException);
          outcomes.push('refused');
        }
      }
      expect(outcomes).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'applied' : 'refused')));
      for (let i = 1; i < 20; i += 2) {
        const item = (await ddb.send(new GetItemCommand({ TableName: 'groups', Key: { pk: { S: 'job' }, sk: { S: `g${i}` } } }))).Item!;
        expect(item).toMatchObject({ status: { S: 'DECIDED' }, decision: { M: { outcome: { S: `o${i}` } } }, n: { N: String(i) } });
      }
      // A key condition of the same shape with other values reads other items.
      for (const [prefix, want] of [['g1', 11], ['g2', 1]] as const) {
        const r = await ddb.send(new QueryCommand({ TableName: 'groups', KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': { S: 'job' }, ':p': { S: prefix } } }));
        expect(r.Count).toBe(want);
      }
      // An unused value is refused as DynamoDB refuses it, after the same expression was kept.
      await expect(ddb.send(new UpdateItemCommand({ TableName: 'groups', Key: { pk: { S: 'job' }, sk: { S: 'g1' } }, UpdateExpression: 'SET n = :n', ExpressionAttributeValues: { ':n': { N: '1' }, ':x': { N: '2' } } }))).rejects.toThrow(/unused in expressions/);
    });
  });
});
