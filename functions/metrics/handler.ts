/** The metrics λ (daily EventBridge schedule): wires its dependencies from the environment; the work is in src/pipeline. */
import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { depsFromEnv } from '../../src/lambda/deps-from-env.ts';
import { type ScheduledHandler, createMetricsHandler } from '../../src/lambda/scheduled.ts';
import { ALERT_TOPIC_ENV, dlqUrlEnv, topology } from '../../src/topology/topology.ts';

const sqs = new SQSClient({});
const sns = new SNSClient({});

// Built on first use, so importing the module needs no environment.
const build = () => createMetricsHandler(depsFromEnv('metrics'), {
  async dlqDepths() {
    const out: Record<string, number> = {};
    for (const q of topology.functions.metrics.access.readsDlqDepth ?? []) {
      const url = process.env[dlqUrlEnv(q)];
      if (!url) continue;
      const r = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }));
      out[q] = Number(r.Attributes?.ApproximateNumberOfMessages ?? 0);
    }
    return out;
  },
  alerts: {
    async publish(alert) {
      const topic = process.env[ALERT_TOPIC_ENV];
      if (!topic) return;
      await sns.send(new PublishCommand({ TopicArn: topic, Subject: `sluice alert: ${alert.profile} ${alert.gate}`.slice(0, 100), Message: JSON.stringify(alert, null, 2) }));
    },
  },
});

let built: ScheduledHandler | undefined;
export const handler: ScheduledHandler = (event, context) => (built ??= build())(event, context);
