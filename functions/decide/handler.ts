/** The decide λ: middy with Powertools around the step; its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { createDecideHandler, lazy } from '../../src/lambda/sqs-steps.ts';

const inst = instrumentation('decide');
// Dependencies are built on first use, so importing the module needs no environment.
export const handler = withPowertools(lazy(() => createDecideHandler(depsFromEnv('decide', inst))), inst, 'decide');
