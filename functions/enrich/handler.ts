/** The enrich λ: wires its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { providerFromEnv } from '../../src/lambda/llm-from-env.ts';
import { type SqsHandler, createEnrichHandler } from '../../src/lambda/sqs-steps.ts';

let built: Promise<SqsHandler> | undefined;

export const handler: SqsHandler = async (event, context) =>
  (await (built ??= providerFromEnv().then((provider) => createEnrichHandler(depsFromEnv('enrich', provider)))))(event, context);
