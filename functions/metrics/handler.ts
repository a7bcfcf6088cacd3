/** The metrics λ (daily EventBridge schedule): middy with Powertools; dependencies from the environment; the work is in src/pipeline. */
import type { ScheduledEvent } from 'aws-lambda';
import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { dlqDepths } from '../../src/adapters/sqs-dlq-depths.ts';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { instrumentation, traced, withPowertools } from '../../src/lambda/powertools.ts';
import { type ScheduledHandler, createMetricsHandler } from '../../src/lambda/scheduled.ts';
import { ALERT_TOPIC_ENV, dlqUrlEnv, topology } from '../../src/topology/topology.ts';

const inst = instrumentation('metrics');
const sqs = traced(inst, new SQSClient({}));
const sns = traced(inst, new SNSClient({}));

// Built on first use, so importing the module needs no environment.
const build = () => createMetricsHandler(depsFromEnv('metrics', inst), {
  dlqDepths: () => dlqDepths(sqs, Object.fromEntries((topology.functions.metrics.access.readsDlqDepth ?? []).map((q) => [q, process.env[dlqUrlEnv(q)]]))),
  alerts: {
    async publish(alert) {
      const topic = process.env[ALERT_TOPIC_ENV];
      if (!topic) return;
      await sns.send(new PublishCommand({ TopicArn: topic, Subject: `sluice alert: ${alert.profile} ${alert.gate}`.slice(0, 100), Message: JSON.stringify(alert, null, 2) }));
    },
  },
});

let built: ScheduledHandler | undefined;
export const handler = withPowertools<ScheduledEvent, unknown>((event, context) => (built ??= build())(event, context), inst, 'metrics');
