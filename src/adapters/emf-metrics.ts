/**
 * Operational metrics as CloudWatch EMF through Powertools Metrics (namespace `sluice`, a service dimension per
 * function). The steps add to it; the `logMetrics` middleware (src/lambda/powertools.ts) publishes once per
 * invocation — to stdout deployed, to the runtime's log locally.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricsSink } from '../pipeline/deps.ts';

export function metricsSink(metrics: Metrics): MetricsSink {
  return {
    add(name, value, unit = 'Count') {
      if (!value) return;
      metrics.addMetric(name, unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count, value);
    },
  };
}
