/**
 * The SQS side of each function: Powertools batch processing (only failed messages come back as
 * batchItemFailures), the message's receive count against the queue's maxReceiveCount from the topology,
 * and the step to run per message.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type IngestOutcome, ingestObject } from '../pipeline/ingest-object.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { decideStep, enrichStep, groupRefSchema, recordStepFailure } from '../pipeline/process-group.ts';
import { parseS3Notification } from '../domain/s3-event.ts';
import { type FunctionName, type Topology, topology as defaultTopology } from '../topology/topology.ts';
import { jobIdFor } from '../domain/job.ts';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

function isLastAttempt(record: SQSRecord, fn: FunctionName, topology: Topology): boolean {
  const queue = topology.functions[fn].trigger?.queue;
  const max = queue ? topology.queues[queue].maxReceiveCount : 1;
  return Number(record.attributes?.ApproximateReceiveCount ?? '1') >= max;
}

function batchHandler(deps: PipelineDeps, recordHandler: (record: SQSRecord) => Promise<unknown>): SqsHandler {
  // A processor per invocation: it holds the batch's state, and the local runtime (like a handler reused
  // by any host that runs invocations concurrently) would otherwise mix the failures of parallel batches.
  return async (event, context) => {
    try {
      const response = await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context });
      deps.metrics?.add('BatchItemFailures', response.batchItemFailures.length);
      return response;
    } finally {
      deps.metrics?.flush();
    }
  };
}

/** ingest λ: one S3 notification per message, possibly with several records. */
export function createIngestHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return batchHandler(deps, async (record) => {
    const { created, ignored } = parseS3Notification(record.body);
    if (ignored.length) deps.logger.info('S3 events ignored', { events: ignored });
    const outcomes: IngestOutcome[] = [];
    for (const object of created) {
      try {
        outcomes.push(await ingestObject(deps, { ...object, delivery: record.messageId }));
      } catch (err) {
        if (isLastAttempt(record, 'ingest', topology)) {
          const jobId = jobIdFor(object.bucket, object.key, object.etag);
          await deps.store.failJob(jobId, `ingest failed after its last attempt: ${(err as Error).message}`, deps.now().toISOString());
        }
        throw err;
      }
    }
    return outcomes;
  });
}

function groupStepHandler(deps: PipelineDeps, fn: 'enrich' | 'decide', topology: Topology): SqsHandler {
  const step = fn === 'enrich' ? enrichStep : decideStep;
  return batchHandler(deps, async (record) => {
    const ref = groupRefSchema.parse(JSON.parse(record.body));
    try {
      return await step(deps, ref);
    } catch (err) {
      await recordStepFailure(deps, ref, fn, err, isLastAttempt(record, fn, topology));
      throw err;
    }
  });
}

/** enrich λ: one group reference per message. */
export function createEnrichHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return groupStepHandler(deps, 'enrich', topology);
}

/** decide λ: one group reference per message. */
export function createDecideHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return groupStepHandler(deps, 'decide', topology);
}

/** Builds the real handler on first use, so importing a handler module needs no environment. */
export function lazy(build: () => SqsHandler): SqsHandler {
  let built: SqsHandler | undefined;
  return (event, context) => (built ??= build())(event, context);
}
