/** The topics λ (weekly EventBridge schedule): middy with Powertools; dependencies from the environment; the work is in src/pipeline. */
import type { ScheduledEvent } from 'aws-lambda';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { topicNamerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { type ScheduledHandler, createTopicsHandler } from '../../src/lambda/scheduled.ts';

const inst = instrumentation('topics');
let built: ScheduledHandler | undefined;

// Built on first use, so importing the module needs no environment.
export const handler = withPowertools<ScheduledEvent, unknown>((event, context) => (built ??= createTopicsHandler(depsFromEnv('topics', inst), topicNamerFromEnv))(event, context), inst, 'topics');
