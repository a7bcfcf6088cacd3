/**
 * Ingest step (the plan): one dropped object becomes one job. One pass over the file cuts it into chunks
 * at row boundaries and sends one message per chunk to the `chunks` queue; the chunks are then read,
 * validated, de-duplicated and grouped in parallel (`ingest-chunks.ts`). A file of one chunk is not scanned.
 */
import type { Mode } from '../domain/enrich/enrich-group.ts';
import { isDocumentKey } from '../domain/documents/types.ts';
import { planChunks } from '../domain/records/plan-chunks.ts';
import { type FileFormat, UnreadableFileError, detectFormat } from '../domain/records/read-rows.ts';
import { type Job, JobStatus, TERMINAL_STATUSES, emptyCounts, jobIdFor, profileFromKey } from '../domain/job.ts';
import { type Profile, UnknownProfileError } from '../profiles/profile.ts';
import { UnknownVersionError } from '../profiles/registry.ts';
import type { PipelineDeps } from './deps.ts';
import { DEFAULT_CHUNKING, type ManifestMessage, chunkBytesFor, chunkMessages, partitionsFor } from './ingest-chunks.ts';
import type { StoredObject } from './ports.ts';

export interface ObjectRef {
  bucket: string;
  key: string;
  etag: string;
  size: number;
  /** The delivery that carries this object (the SQS message id): its redelivery may take over its ingest. */
  delivery?: string;
}

export type IngestOutcome =
  | { kind: 'ignored'; reason: string }
  | { kind: 'duplicate'; jobId: string; status: JobStatus }
  | { kind: 'failed'; jobId: string; reason: string }
  | { kind: 'planned'; jobId: string; chunks: number; partitions: number };

/** An ingest's lease, renewed while it plans: a duplicate delivery sees it held and returns at once. */
const INGEST_LEASE_MS = 60_000;

/**
 * Ingests one object.
 * @example await ingestObject(deps, { bucket: 'drop', key: 'incoming/tickets/a.csv', etag, size })
 * @throws on infrastructure errors (the message is retried); bad input never throws.
 */
export async function ingestObject(deps: PipelineDeps, ref: ObjectRef): Promise<IngestOutcome> {
  const place = profileFromKey(ref.key, deps.dropPrefix);
  if (!place) return { kind: 'ignored', reason: `key is not under ${deps.dropPrefix}<profile>/` };
  if (isDocumentKey(ref.key) && (await isDocumentsProfile(deps, place.profile))) {
    return { kind: 'ignored', reason: 'a document of a documents profile: it is read when a manifest names it' };
  }
  const jobId = jobIdFor(ref.bucket, ref.key, ref.etag);
  const now = deps.now().toISOString();
  const { created, job } = await deps.store.createJob({
    jobId,
    bucket: ref.bucket,
    key: ref.key,
    etag: ref.etag,
    size: ref.size,
    profile: place.profile,
    mode: deps.defaultMode,
    status: JobStatus.RECEIVED,
    counts: emptyCounts(),
    timings: { receivedAt: now },
  });
  if (!created && job.status !== JobStatus.RECEIVED && job.status !== JobStatus.INGESTING) {
    deps.logger.info('object already ingested', { jobId, status: job.status });
    return { kind: 'duplicate', jobId, status: job.status };
  }
  let profile: Profile;
  try {
    // A job runs one version from start to end: the one active when it started, recorded on it (a redelivery keeps it).
    profile = job.profileVersion ? await deps.profiles.at(place.profile, job.profileVersion) : await deps.profiles.active(place.profile);
  } catch (err) {
    if (!(err instanceof UnknownProfileError) && !(err instanceof UnknownVersionError)) throw err;
    await deps.store.failJob(jobId, `${ref.key}: ${err.message}`, deps.now().toISOString(), true);
    return { kind: 'failed', jobId, reason: err.message };
  }
  let object;
  try {
    object = await deps.objects.get(ref.bucket, ref.key);
  } catch (err) {
    // Deleted after its event (or an event for an object that never was): no retry brings it back.
    if ((err as Error).name !== 'NoSuchKey' && (err as Error).name !== 'NotFound') throw err;
    const reason = 'the object no longer exists (deleted after its event)';
    await deps.store.failJob(jobId, `${ref.key}: ${reason}`, deps.now().toISOString());
    return { kind: 'failed', jobId, reason };
  }
  if (object.etag && object.etag !== ref.etag.replace(/"/g, '')) {
    object.body.destroy();
    const reason = 'the object changed after this event; its newer version is ingested as its own job';
    await deps.store.failJob(jobId, `${ref.key}: ${reason}`, deps.now().toISOString());
    return { kind: 'failed', jobId, reason };
  }
  const mode = parseMode(object.metadata['sluice-mode']) ?? deps.defaultMode;
  const startedAt = deps.now();
  const lease = { owner: ref.delivery ?? `${jobId}-${startedAt.getTime()}`, until: startedAt.getTime() + INGEST_LEASE_MS, now: startedAt.getTime() };
  const started = await deps.store.startIngest(jobId, startedAt.toISOString(), mode, lease, profile.version);
  if (started.outcome !== 'started') {
    // Another delivery of the same object is ingesting it (or did): this one returns at once.
    object.body.destroy();
    deps.logger.info('object is being ingested by another delivery', { jobId, status: started.status });
    return { kind: 'duplicate', jobId, status: started.status };
  }
  deps.logger.info('ingest started', { jobId, profile: profile.name, mode, bytes: ref.size });
  // The lease is held while the file is planned (and lapses after): a redelivery then plans it again,
  // which sends the same chunk messages and changes nothing, as each chunk's work is idempotent.
  const renew = setInterval(() => {
    lease.until = deps.now().getTime() + INGEST_LEASE_MS;
    deps.store.renewIngest(jobId, lease).catch(() => undefined);
  }, INGEST_LEASE_MS / 4);
  try {
    return await ingestLeased(deps, ref, jobId, profile, object, mode);
  } finally {
    clearInterval(renew);
  }
}

async function ingestLeased(deps: PipelineDeps, ref: ObjectRef, jobId: string, profile: Profile, object: StoredObject, mode: Mode): Promise<IngestOutcome> {
  if (profile.documents) {
    // A manifest of groups and their documents: read, listed and fanned out per document by one manifest step.
    object.body.destroy();
    const rows = object.metadata['sluice-rows'];
    await deps.chunkQueue.sendAll([{ kind: 'manifest', jobId, bucket: ref.bucket, key: ref.key, etag: ref.etag, profile: profile.name, profileVersion: profile.version, mode, chunks: 1, partitions: 1, ...(rows ? { rows } : {}) } satisfies ManifestMessage]);
    deps.crashPoint?.('ingest.planned');
    deps.logger.info('ingest planned', { jobId, manifest: true });
    return { kind: 'planned', jobId, chunks: 1, partitions: 1 };
  }
  const chunking = deps.chunking ?? DEFAULT_CHUNKING;
  const size = object.size || ref.size;
  const partitions = partitionsFor(profile, size, chunking);
  let plan;
  let format: FileFormat;
  try {
    const { head, rest } = await peek(object.body, 4096);
    format = detectFormat(ref.key, head);
    plan = await planChunks(rest, format, size, chunkBytesFor(size, chunking));
  } catch (err) {
    object.body.destroy();
    if (!(err instanceof UnreadableFileError)) throw err;
    const reason = `${ref.key}: ${err.message}`;
    await deps.store.failJob(jobId, reason, deps.now().toISOString(), true);
    deps.logger.warn('file cannot be read', { jobId, reason: err.message });
    return { kind: 'failed', jobId, reason };
  }
  object.body.destroy();
  if (plan.scannedBytes) deps.scanned?.(plan.scannedBytes);
  const messages = chunkMessages({ jobId, bucket: ref.bucket, key: ref.key, etag: ref.etag, profile: profile.name, profileVersion: profile.version, mode }, format, plan.headerEnd, plan.chunks, partitions);
  await deps.chunkQueue.sendAll(messages);
  deps.crashPoint?.('ingest.planned');
  deps.logger.info('ingest planned', { jobId, chunks: messages.length, partitions, ...(plan.stoppedAt ? { serialFromLine: plan.stoppedAt.line } : {}) });
  deps.metrics?.add('ChunksPlanned', messages.length);
  return { kind: 'planned', jobId, chunks: messages.length, partitions };
}

async function isDocumentsProfile(deps: PipelineDeps, name: string): Promise<boolean> {
  try {
    return Boolean((await deps.profiles.active(name)).documents);
  } catch {
    return false;
  }
}

function parseMode(value: string | undefined): Mode | undefined {
  return value === 'fast' || value === 'full' ? value : undefined;
}

/** The first `bytes` of a stream, and the whole stream again (head included) to read on. */
async function peek(body: AsyncIterable<Buffer>, bytes: number): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const iterator = body[Symbol.asyncIterator]();
  const taken: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    taken.push(next.value);
    length += next.value.length;
  }
  const rest = (async function* () {
    yield* taken;
    if (done) return;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  })();
  return { head: Buffer.concat(taken), rest };
}

export function isTerminal(job: Job): boolean {
  return TERMINAL_STATUSES.has(job.status);
}
