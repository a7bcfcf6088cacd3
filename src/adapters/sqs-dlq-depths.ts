/** The number of visible messages in each DLQ (GetQueueAttributes), for the metrics. */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export async function dlqDepths(client: SQSClient, urls: Record<string, string | undefined>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [queue, url] of Object.entries(urls)) {
    if (!url) continue;
    const r = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    out[queue] = Number(r.Attributes?.ApproximateNumberOfMessages ?? 0);
  }
  return out;
}
