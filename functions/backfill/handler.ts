/** The backfill λ (EventBridge schedule): middy with Powertools; dependencies from the environment; the work is in src/pipeline. */
import type { ScheduledEvent } from 'aws-lambda';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { providerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { type ScheduledHandler, createBackfillHandler } from '../../src/lambda/scheduled.ts';

const inst = instrumentation('backfill');
let built: Promise<ScheduledHandler> | undefined;

export const handler = withPowertools<ScheduledEvent, unknown>(
  async (event, context) => (await (built ??= providerFromEnv().then((provider) => createBackfillHandler(depsFromEnv('backfill', inst, provider)))))(event, context),
  inst,
  'backfill',
);
