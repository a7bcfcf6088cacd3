/** The topics λ (weekly EventBridge schedule): wires its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { topicNamerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { type ScheduledHandler, createTopicsHandler } from '../../src/lambda/scheduled.ts';

let built: ScheduledHandler | undefined;
// Built on first use, so importing the module needs no environment.
export const handler: ScheduledHandler = (event, context) => (built ??= createTopicsHandler(depsFromEnv('topics'), topicNamerFromEnv))(event, context);
