/** The topics λ (weekly EventBridge schedule): wires its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { topicNamerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { type ScheduledHandler, createTopicsHandler } from '../../src/lambda/scheduled.ts';

export const handler: ScheduledHandler = createTopicsHandler(depsFromEnv('topics'), topicNamerFromEnv);
