/**
 * Every handler the way the ecosystem writes it: `middy(handler)` with Powertools middlewares — the tracer
 * (`captureLambdaHandler`; the SDK clients and, through its fetch instrumentation, the OpenAI calls traced when
 * the stage turns tracing on), the logger (`injectLambdaContext`: the request id and cold start on every line)
 * and metrics (`logMetrics`: EMF after each invocation, with the cold-start metric). Deployed, logs and EMF go to
 * stdout (CloudWatch Logs); in the local runtime the same middlewares write to the runtime's log stream, through
 * the subclasses below, which override Powertools' documented output methods (`printLog`, `publishStoredMetrics`,
 * `singleMetric`) rather than reach into its private console.
 */
import type { Writable } from 'node:stream';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import type { FunctionName } from '../topology/topology.ts';
import { eventProblems, eventSchemaOf } from './event-schemas.ts';

export const NAMESPACE = 'sluice';

// The tracer's module loads aws-xray-sdk-core, whose cls-hooked turns on async_hooks destroy tracking for every
// promise of the process (an await ~12× slower, measured here; ~10 % of an ingest handler's CPU): it is imported only
// where the stage traces (the stack sets POWERTOOLS_TRACE_ENABLED on every function; the local runtime never).
const tracing = process.env.POWERTOOLS_TRACE_ENABLED === 'true';
const tracerModule = tracing ? await import('@aws-lambda-powertools/tracer') : undefined;

type LoggerOptions = ConstructorParameters<typeof Logger>[0];
type MetricsOptions = NonNullable<ConstructorParameters<typeof Metrics>[0]>;

/** A Powertools Logger whose lines go to a stream (the local runtime's log) instead of stdout. */
export class StreamLogger extends Logger {
  readonly #out: Writable;
  constructor(options: LoggerOptions, out: Writable) {
    super(options);
    this.#out = out;
  }
  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    this.#out.write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }
  protected override createLogger(options?: LoggerOptions): Logger {
    return new StreamLogger(options, this.#out);
  }
}

/** Powertools Metrics whose EMF lines go to a stream (the local runtime's log) instead of stdout. */
export class StreamMetrics extends Metrics {
  readonly #out: Writable;
  readonly #options: MetricsOptions;
  constructor(options: MetricsOptions, out: Writable) {
    super(options);
    this.#out = out;
    this.#options = options;
  }
  override publishStoredMetrics(): this {
    try {
      if (this.hasStoredMetrics()) this.#out.write(`${JSON.stringify(this.serializeMetrics())}\n`);
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }
  override singleMetric(): Metrics {
    return new StreamMetrics({ ...this.#options, singleMetric: true }, this.#out);
  }
}

/** One function instance's Powertools: its logger, metrics and, where the stage traces, its tracer. */
export interface Instrumentation {
  logger: Logger;
  metrics: Metrics;
  tracer?: Tracer;
}

/** The SDK client, traced by the instance's tracer when there is one. */
export function traced<C>(inst: Instrumentation, client: C): C {
  return inst.tracer ? inst.tracer.captureAWSv3Client(client) : client;
}

/**
 * The Powertools of one function instance: on stdout as Lambda has them, or on `local.stream` in the local
 * runtime (no tracing there: no X-Ray daemon).
 * @example const inst = instrumentation('enrich'); export const handler = withPowertools(raw, inst);
 */
export function instrumentation(fn: string, local?: { stream: Writable; logLevel?: NonNullable<LoggerOptions>['logLevel'] }): Instrumentation {
  const serviceName = `sluice-${fn}`;
  if (!local) return { logger: new Logger({ serviceName }), metrics: new Metrics({ namespace: NAMESPACE, serviceName }), ...(tracerModule ? { tracer: new tracerModule.Tracer({ serviceName }) } : {}) };
  return {
    logger: new StreamLogger({ serviceName, logLevel: local.logLevel ?? 'INFO' }, local.stream),
    metrics: new StreamMetrics({ namespace: NAMESPACE, serviceName }, local.stream),
  };
}

/** One line per invocation, with its duration (and the request id and cold start the logger adds), like Lambda's REPORT. */
function invocationLine(logger: Logger): middy.MiddlewareObj {
  const started = new WeakMap<object, number>();
  return {
    before: (request) => {
      started.set(request, Date.now());
    },
    after: (request) => {
      logger.info('invocation done', { ms: Date.now() - (started.get(request) ?? Date.now()) });
    },
  };
}

/**
 * Wraps function `fn`'s handler in middy with the tracer, logger and metrics middlewares of its instance, and
 * Powertools parser's schema of the event the topology gives it (`event-schemas.ts`): an event of another shape
 * is refused, naming what is wrong, before the handler runs.
 */
export function withPowertools<E, R>(handler: (event: E, context: Context) => Promise<R>, inst: Instrumentation, fn: FunctionName) {
  const base = middy(handler);
  const wrapped = (inst.tracer ? base.use(captureLambdaHandler(inst.tracer, { captureResponse: false })) : base)
    .use(injectLambdaContext(inst.logger, { resetKeys: true }))
    .use(logMetrics(inst.metrics, { captureColdStartMetric: true }))
    .use(invocationLine(inst.logger));
  const schema = eventSchemaOf(fn);
  if (!schema) return wrapped;
  // The parsed event replaces the raw one (the schemas keep every field sluice reads). The parser's own error
  // says only "Failed to parse schema": the one thrown instead names each field at fault.
  const refuse = (_error: unknown, event: unknown): never => {
    throw new Error(`${fn}: the event is ${eventProblems(fn, event) ?? 'not valid'}`);
  };
  return wrapped.use(parser({ schema, errorHandler: refuse }));
}
