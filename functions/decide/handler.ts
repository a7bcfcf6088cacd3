/** The decide λ: wires its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { createDecideHandler, lazy } from '../../src/lambda/sqs-steps.ts';

export const handler = lazy(() => createDecideHandler(depsFromEnv('decide')));
