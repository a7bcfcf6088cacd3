/** The reconcile λ (EventBridge schedule): middy with Powertools; dependencies from the environment; the work is in src/pipeline. */
import type { ScheduledEvent } from 'aws-lambda';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { instrumentation, withPowertools } from '../../src/lambda/powertools.ts';
import { type ScheduledHandler, createReconcileHandler } from '../../src/lambda/scheduled.ts';

const inst = instrumentation('reconcile');
let built: ScheduledHandler | undefined;

// Built on first use, so importing the module needs no environment.
export const handler = withPowertools<ScheduledEvent, unknown>((event, context) => (built ??= createReconcileHandler(depsFromEnv('reconcile', inst)))(event, context), inst, 'reconcile');
