/** The enrich λ: middy with Powertools around the step; its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { providerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { type SqsHandler, createEnrichHandler } from '../../src/lambda/sqs-steps.ts';

const inst = instrumentation('enrich');
let built: Promise<SqsHandler> | undefined;

export const handler = withPowertools<Parameters<SqsHandler>[0], Awaited<ReturnType<SqsHandler>>>(
  async (event, context) => (await (built ??= providerFromEnv().then((provider) => createEnrichHandler(depsFromEnv('enrich', inst, provider)))))(event, context),
  inst,
  'enrich',
);
