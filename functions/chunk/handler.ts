/** The chunk λ: wires its dependencies from the environment; the work is in src/pipeline/ingest-chunks.ts. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { createChunkHandler, lazy } from '../../src/lambda/sqs-steps.ts';

export const handler = lazy(() => createChunkHandler(depsFromEnv('chunk')));
