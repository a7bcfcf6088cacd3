/** The reconcile λ (EventBridge schedule): wires its dependencies from the environment; the work is in src/pipeline. */
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { type ScheduledHandler, createReconcileHandler } from '../../src/lambda/scheduled.ts';

let built: ScheduledHandler | undefined;

// Built on first use, so importing the module needs no environment.
export const handler: ScheduledHandler = (event, context) => (built ??= createReconcileHandler(depsFromEnv('reconcile')))(event, context);
