/** The backfill λ (EventBridge schedule): wires its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { providerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { type ScheduledHandler, createBackfillHandler } from '../../src/lambda/scheduled.ts';

let built: Promise<ScheduledHandler> | undefined;

export const handler: ScheduledHandler = async (event, context) =>
  (await (built ??= providerFromEnv().then((provider) => createBackfillHandler(depsFromEnv('backfill', provider)))))(event, context);
