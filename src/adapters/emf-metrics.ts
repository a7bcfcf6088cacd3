/**
 * Operational metrics as CloudWatch EMF through Powertools Metrics (namespace `sluice`, a service
 * dimension per function). Deployed they go to the function's log; locally to the runtime's log stream.
 */
import { Console } from 'node:console';
import type { Writable } from 'node:stream';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricsSink } from '../pipeline/deps.ts';

export function emfMetrics(serviceName: string, stream?: Writable): MetricsSink {
  const metrics = new Metrics({ namespace: 'sluice', serviceName });
  if (stream) (metrics as unknown as { console: Console }).console = new Console({ stdout: stream, stderr: stream });
  return {
    add(name, value, unit = 'Count') {
      if (!value) return;
      metrics.addMetric(name, unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count, value);
    },
    flush() {
      // Powertools publishes on its own at 100 stored metrics; an empty publish would only warn.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}
