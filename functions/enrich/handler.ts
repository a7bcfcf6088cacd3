/** The enrich λ: wires its dependencies from the environment; the work is in src/pipeline. */
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { createEnrichHandler, lazy } from '../../src/lambda/sqs-steps.ts';

export const handler = lazy(() => createEnrichHandler(depsFromEnv('enrich', createOfflineProvider())));
