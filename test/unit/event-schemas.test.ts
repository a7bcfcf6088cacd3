// Under test: the events each function takes, as Powertools parser's schemas describe them (an SQS batch for a
// queue's function, an EventBridge Scheduled Event for a schedule's), and the handlers' middy chain refusing an
// event of another shape before the handler runs.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { eventProblems, eventSchemaOf } from '../../src/lambda/event-schemas.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { type FunctionName, topology } from '../../src/topology/topology.ts';
import { sqsRecord } from '../helpers/factories.ts';

const sample = (file: string) => JSON.parse(readFileSync(`events/${file}`, 'utf8')) as Record<string, unknown>;
const context = { awsRequestId: 'req-1', functionName: 'sluice-test-enrich', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

describe('the event a function takes', () => {
  it('follows the topology: SQS for each queue-triggered function, a Scheduled Event for each scheduled one, none for the score task', () => {
    for (const [fn, spec] of Object.entries(topology.functions) as Array<[FunctionName, (typeof topology.functions)[FunctionName]]>) {
      const scheduled = Object.values(topology.schedules).some((s) => s.target === fn);
      expect(eventSchemaOf(fn) === undefined, fn).toBe(!spec.trigger && !scheduled);
    }
  });

  it('accepts every sample event in events/ for the function it is named after', () => {
    for (const file of readdirSync('events').filter((f) => f.endsWith('.json'))) {
      const fn = file.split('-')[0] as FunctionName;
      expect(eventProblems(fn, sample(file)), file).toBeUndefined();
    }
  });

  it('refuses an event of another kind or with a field missing, naming the path and what the function takes', () => {
    expect(eventProblems('enrich', sample('metrics-scheduled.json'))).toMatch(/^not an SQS event, which enrich takes:\n {2}- Records: /);
    const record = { ...sqsRecord({ jobId: 'j' }), eventSource: 'aws:sns' } as Record<string, unknown>;
    delete record.md5OfBody;
    const problems = eventProblems('decide', { Records: [record] })!;
    expect(problems).toContain('Records.0.md5OfBody');
    expect(problems).toContain('Records.0.eventSource');
    expect(eventProblems('ingest', { Records: [] })).toContain('Records');
    expect(eventProblems('backfill', { ...sample('backfill-scheduled.json'), 'detail-type': 'Object Created' })).toMatch(/^not an EventBridge Scheduled Event, which backfill takes:\n {2}- detail-type: /);
    expect(eventProblems('metrics', { ...sample('metrics-scheduled.json'), time: 'yesterday' })).toContain('- time: ');
    expect(eventProblems('score', { anything: true })).toBeUndefined();
  });
});

describe("a handler's middy chain", () => {
  const wrapped = (fn: FunctionName) => {
    const seen: unknown[] = [];
    const log = new PassThrough();
    const handler = withPowertools(async (event: unknown) => {
      seen.push(event);
      return { batchItemFailures: [] };
    }, instrumentation(fn, { stream: log }), fn);
    return { handler, seen };
  };

  it('hands the handler an SQS event with every field sluice reads', async () => {
    const { handler, seen } = wrapped('enrich');
    const record = sqsRecord({ jobId: 'j1', groups: ['g1'] }, 3, 'm-1');
    await handler({ Records: [record] }, context);
    expect(seen).toEqual([{ Records: [record] }]);
  });

  it('refuses an event that is not the one its function takes, before the handler runs', async () => {
    const { handler, seen } = wrapped('enrich');
    await expect(handler(sample('metrics-scheduled.json'), context)).rejects.toThrow(/^enrich: the event is not an SQS event, which enrich takes:\n {2}- Records: /);
    const { handler: scheduled, seen: seenScheduled } = wrapped('backfill');
    await expect(scheduled({ Records: [sqsRecord('x')] }, context)).rejects.toThrow(/^backfill: the event is not an EventBridge Scheduled Event, which backfill takes:\n {2}- version: [^]* more$/);
    expect([...seen, ...seenScheduled]).toEqual([]);
  });
});

describe('the tracer', () => {
  // Its module loads aws-xray-sdk-core, whose cls-hooked tracks every promise of the process: only a stage that
  // traces may pay for it. Each case runs in a fresh process (the decision is the module's, made once).
  const probe = (env: Record<string, string>) => {
    const script = [
      "const { instrumentation } = await import('./src/lambda/powertools.ts');",
      "const { createRequire } = await import('node:module');",
      'const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("aws-xray-sdk-core"));',
      "console.log(JSON.stringify({ tracer: instrumentation('enrich').tracer !== undefined, local: instrumentation('enrich', { stream: process.stdout }).tracer !== undefined, loaded }));",
    ].join('\n');
    const { POWERTOOLS_TRACE_ENABLED: _, ...rest } = process.env;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...rest, ...env }, encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').at(-1)!) as { tracer: boolean; local: boolean; loaded: boolean };
  };

  it('is loaded and used where the stage traces (POWERTOOLS_TRACE_ENABLED=true), never in the local runtime', () => {
    expect(probe({ POWERTOOLS_TRACE_ENABLED: 'true' })).toEqual({ tracer: true, local: false, loaded: true });
  });

  it('is not even loaded where the stage does not trace, nor where nothing says (the local runtime)', () => {
    expect(probe({ POWERTOOLS_TRACE_ENABLED: 'false' })).toEqual({ tracer: false, local: false, loaded: false });
    expect(probe({})).toEqual({ tracer: false, local: false, loaded: false });
  });
});
