/**
 * The SQS side of each function: Powertools batch processing (only failed messages come back as
 * batchItemFailures), the message's receive count against the queue's maxReceiveCount from the topology,
 * and the step to run per message.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type IngestOutcome, ingestObject } from '../pipeline/ingest-object.ts';
import { type IngestPart, ingestPartSchema, ingestPartStep } from '../pipeline/ingest-chunks.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { type DocumentMessage, type DocumentOutcome, documentFailed, documentMessageSchema, documentSteps, isDocumentMessage } from '../pipeline/documents.ts';
import { withInvocationDeadline } from '../pipeline/finalize-job.ts';
import { UnknownJobError, decideGroups, enrichGroups, groupMessageSchema, recordStepFailure, unpackGroups } from '../pipeline/process-group.ts';
import { PermanentError, errorReason, isPermanent } from '../pipeline/errors.ts';
import type { GroupRef } from '../pipeline/ports.ts';
import { parseS3Notification } from '../domain/s3-event.ts';
import { type FunctionName, type Topology, topology as defaultTopology } from '../topology/topology.ts';
import { jobIdFor } from '../domain/job.ts';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

function isLastAttempt(record: SQSRecord, fn: FunctionName, topology: Topology): boolean {
  const queue = topology.functions[fn].trigger?.queue;
  const max = queue ? topology.queues[queue].maxReceiveCount : 1;
  return Number(record.attributes?.ApproximateReceiveCount ?? '1') >= max;
}

function batchHandler(deps: PipelineDeps, fn: FunctionName, recordHandler: (record: SQSRecord) => Promise<unknown>): SqsHandler {
  // Each failed record is logged with its own error (the batch processor's summary names none).
  const logged = async (record: SQSRecord) => {
    try {
      return await recordHandler(record);
    } catch (err) {
      deps.logger.warn('message failed; it will be retried', { function: fn, messageId: record.messageId, receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 1), error: errorReason(err) });
      throw err;
    }
  };
  // A processor per invocation: it holds the batch's state, and the local runtime (like a handler reused
  // by any host that runs invocations concurrently) would otherwise mix the failures of parallel batches.
  return async (event, context) => {
    const response = await processPartialResponse(event, logged, new BatchProcessor(EventType.SQS), { context });
    deps.metrics?.add('BatchItemFailures', response.batchItemFailures.length);
    return response;
  };
}

/**
 * A message no retry can help (not parseable, or for a job that does not exist) goes to the function's
 * DLQ at once with its reason, instead of being retried until its receive count runs out.
 */
async function deadLetter(deps: PipelineDeps, fn: FunctionName, record: SQSRecord, err: unknown): Promise<'dead-lettered'> {
  const reason = errorReason(err);
  if (!deps.deadLetters) throw err;
  await deps.deadLetters.send(record.body, reason, record.messageId);
  deps.logger.error('poison message moved to the DLQ', { function: fn, messageId: record.messageId, error: reason });
  deps.metrics?.add('MessagesDeadLettered', 1);
  return 'dead-lettered';
}

/** ingest λ: one S3 notification per message, possibly with several records. */
export function createIngestHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return batchHandler(deps, 'ingest', async (record) => {
    let parsed;
    try {
      parsed = parseS3Notification(record.body);
    } catch (err) {
      return deadLetter(deps, 'ingest', record, new PermanentError((err as Error).message));
    }
    const { created, ignored } = parsed;
    if (ignored.length) deps.logger.info('S3 events ignored', { events: ignored });
    const outcomes: IngestOutcome[] = [];
    for (const object of created) {
      try {
        outcomes.push(await ingestObject(deps, { ...object, delivery: record.messageId }));
      } catch (err) {
        const permanent = isPermanent(err);
        if (permanent || isLastAttempt(record, 'ingest', topology)) {
          const jobId = jobIdFor(object.bucket, object.key, object.etag);
          const why = permanent ? 'ingest failed' : 'ingest failed after its last attempt';
          await deps.store.failJob(jobId, `${why}: ${errorReason(err)}`, deps.now().toISOString());
          deps.logger.error(why, { jobId, error: errorReason(err) });
        }
        if (!permanent) throw err;
        outcomes.push({ kind: 'failed', jobId: jobIdFor(object.bucket, object.key, object.etag), reason: errorReason(err) });
      }
    }
    return outcomes;
  });
}

/** chunk λ: one chunk or partition of a file being ingested per message (`src/pipeline/ingest-chunks.ts`). */
export function createChunkHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return batchHandler(deps, 'chunk', async (record) => {
    let part: IngestPart;
    try {
      part = ingestPartSchema.parse(JSON.parse(record.body));
    } catch (err) {
      return deadLetter(deps, 'chunk', record, err);
    }
    try {
      return await ingestPartStep(deps, part);
    } catch (err) {
      if (err instanceof UnknownJobError) return deadLetter(deps, 'chunk', record, err);
      const permanent = isPermanent(err);
      if (permanent || isLastAttempt(record, 'chunk', topology)) {
        // Without this part the job's rows cannot all be accounted for: the job fails, with the reason.
        const what = part.kind === 'chunk' ? `chunk ${part.chunk + 1} of ${part.chunks}` : part.kind === 'partition' ? `partition ${part.partition + 1} of ${part.partitions}` : `the manifest ${part.key}`;
        const why = `ingest of ${what} failed${permanent ? '' : ' after its last attempt'}: ${errorReason(err)}`;
        await deps.store.failJob(part.jobId, why, deps.now().toISOString());
        deps.logger.error('ingest part failed', { jobId: part.jobId, part: what, error: errorReason(err) });
      }
      if (!permanent) throw err;
      return 'failed';
    }
  });
}

function groupStepHandler(deps: PipelineDeps, fn: 'enrich' | 'decide', topology: Topology): SqsHandler {
  const steps = fn === 'enrich' ? enrichGroups : decideGroups;
  return async (event, context) => {
    // Every group of every message is stepped together (one settle per batch); each message's result is then
    // its groups' results.
    const refs = new Map<string, GroupRef[]>();
    // A documents profile's messages (enrich only): one document, or a group without documents, each stepped on its own.
    const documents = new Map<string, DocumentMessage>();
    const unparsed = new Map<string, unknown>();
    for (const record of event.Records) {
      try {
        const body: unknown = JSON.parse(record.body);
        if (fn === 'enrich' && isDocumentMessage(body)) documents.set(record.messageId, documentMessageSchema.parse(body));
        else refs.set(record.messageId, unpackGroups(groupMessageSchema.parse(body)));
      } catch (err) {
        unparsed.set(record.messageId, err);
      }
    }
    const byReceive = (record: SQSRecord) => ({ redelivered: Number(record.attributes?.ApproximateReceiveCount ?? '1') > 1, lastReceive: isLastAttempt(record, 'enrich', topology) });
    const withDocuments = event.Records.filter((r) => documents.has(r.messageId));
    // A finalize the batch leads to stops a segment's time before the invocation's timeout; the reconciler goes on.
    const stepAll = () => Promise.all([steps(deps, [...refs.values()].flat()), documentSteps(deps, withDocuments.map((r) => ({ msg: documents.get(r.messageId)!, ...byReceive(r) })))]);
    const [results, documentResults] = typeof context?.getRemainingTimeInMillis === 'function' ? await withInvocationDeadline(Date.now() + context.getRemainingTimeInMillis(), stepAll) : await stepAll();
    const documentResultOf = new Map(withDocuments.map((r, i) => [r.messageId, documentResults[i]!]));
    const resultsOf = new Map<string, typeof results>();
    let at = 0;
    for (const [id, mine] of refs) {
      resultsOf.set(id, results.slice(at, at + mine.length));
      at += mine.length;
    }
    return batchHandler(deps, fn, async (record) => {
      if (unparsed.has(record.messageId)) return deadLetter(deps, fn, record, unparsed.get(record.messageId));
      const document = documents.get(record.messageId);
      if (document) return documentRecord(deps, record, document, documentResultOf.get(record.messageId)!, topology);
      const mine = refs.get(record.messageId)!;
      const outcomes = resultsOf.get(record.messageId)!;
      const unknown = outcomes.find((r) => r.status === 'rejected' && r.reason instanceof UnknownJobError);
      if (unknown) return deadLetter(deps, fn, record, (unknown as PromiseRejectedResult).reason);
      let retry: unknown;
      const tally: Record<string, number> = {};
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome.status === 'fulfilled') {
          tally[outcome.value] = (tally[outcome.value] ?? 0) + 1;
          continue;
        }
        const err: unknown = outcome.reason;
        const permanent = isPermanent(err);
        // A permanent error fails its group now, with its reason; a retryable one on the message's last receive.
        await recordStepFailure(deps, mine[i]!, fn, err, permanent || isLastAttempt(record, fn, topology));
        if (permanent) tally.failed = (tally.failed ?? 0) + 1;
        else retry ??= err;
      }
      // A retryable failure retries the whole message; its other groups are found done and only counted again.
      if (retry !== undefined) throw retry;
      return tally;
    })(event, context);
  };
}

/** One document's message, stepped with its batch: on a permanent error or its last receive the document (or its group) settles as failed. */
async function documentRecord(deps: PipelineDeps, record: SQSRecord, msg: DocumentMessage, result: PromiseSettledResult<DocumentOutcome>, topology: Topology): Promise<unknown> {
  if (result.status === 'fulfilled') return result.value;
  const err: unknown = result.reason;
  if (err instanceof UnknownJobError) return deadLetter(deps, 'enrich', record, err);
  const permanent = isPermanent(err);
  await documentFailed(deps, msg, err, permanent || isLastAttempt(record, 'enrich', topology));
  if (!permanent) throw err;
  return 'failed';
}

/** enrich λ: up to ten group references per message, a batch's groups stepped together. */
export function createEnrichHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return groupStepHandler(deps, 'enrich', topology);
}

/** decide λ: up to ten group references per message, a batch's groups stepped together. */
export function createDecideHandler(deps: PipelineDeps, topology: Topology = defaultTopology): SqsHandler {
  return groupStepHandler(deps, 'decide', topology);
}

/** Builds the real handler on first use, so importing a handler module needs no environment. */
export function lazy(build: () => SqsHandler): SqsHandler {
  let built: SqsHandler | undefined;
  return (event, context) => (built ??= build())(event, context);
}
