/**
 * Ingest step: one dropped object becomes one job. Streams the file row by row (never whole): validate,
 * clean, de-duplicate, group; stores accepted records, writes every rejected or duplicate row to the
 * rejects file with its line, record, field and reason, and fans out one reference per group.
 */
import { PassThrough } from 'node:stream';
import { Deduplicator } from '../domain/records/dedupe.ts';
import { type RawRow, UnreadableFileError, readRows } from '../domain/records/read-rows.ts';
import { mapHeaders, validateRecord } from '../domain/records/validate-record.ts';
import type { GroupNote, Mode } from '../domain/enrich/enrich-group.ts';
import { type Job, JobStatus, TERMINAL_STATUSES, emptyCounts, jobIdFor, profileFromKey, resultKeys } from '../domain/job.ts';
import { type Profile, UnknownProfileError, loadProfile } from '../profiles/profile.ts';
import { maybeFinalize } from './finalize-job.ts';
import type { PipelineDeps } from './deps.ts';
import { shardOf, shardSizes } from './ledger.ts';
import type { GroupRef, StoredObject } from './ports.ts';

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
  | { kind: 'ingested'; jobId: string; groups: number; rows: number };

export interface RejectLine {
  file: string;
  line: number;
  record: number;
  field: string | null;
  reason: string;
}

const RECORD_BATCH = 100;
/** An ingest's lease, renewed while it runs: a duplicate delivery sees it held and returns at once. */
const INGEST_LEASE_MS = 60_000;
/** DynamoDB's item limit is 400 KB, keys and attribute names included: leave room for them. */
const MAX_RECORD_BYTES = 380_000;
const PROGRESS_EVERY = 2000;

/**
 * Ingests one object.
 * @example await ingestObject(deps, { bucket: 'drop', key: 'incoming/claims/a.csv', etag, size })
 * @throws on infrastructure errors (the message is retried); bad input never throws.
 */
export async function ingestObject(deps: PipelineDeps, ref: ObjectRef): Promise<IngestOutcome> {
  const place = profileFromKey(ref.key, deps.dropPrefix);
  if (!place) return { kind: 'ignored', reason: `key is not under ${deps.dropPrefix}<profile>/` };
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
    profile = loadProfile(place.profile);
  } catch (err) {
    if (!(err instanceof UnknownProfileError)) throw err;
    await deps.store.failJob(jobId, `${ref.key}: ${err.message}`, deps.now().toISOString(), true);
    return { kind: 'failed', jobId, reason: err.message };
  }
  const object = await deps.objects.get(ref.bucket, ref.key);
  if (object.etag && object.etag !== ref.etag.replace(/"/g, '')) {
    object.body.destroy();
    const reason = 'the object changed after this event; its newer version is ingested as its own job';
    await deps.store.failJob(jobId, `${ref.key}: ${reason}`, deps.now().toISOString());
    return { kind: 'failed', jobId, reason };
  }
  const mode = parseMode(object.metadata['sluice-mode']) ?? deps.defaultMode;
  const startedAt = deps.now();
  const lease = { owner: ref.delivery ?? `${jobId}-${startedAt.getTime()}`, until: startedAt.getTime() + INGEST_LEASE_MS, now: startedAt.getTime() };
  const started = await deps.store.startIngest(jobId, startedAt.toISOString(), mode, lease);
  if (started !== 'started') {
    // Another delivery of the same object is ingesting it (or did): this one returns at once.
    object.body.destroy();
    const current = await deps.store.getJob(jobId);
    deps.logger.info('object is being ingested by another delivery', { jobId, status: current?.status });
    return { kind: 'duplicate', jobId, status: current?.status ?? JobStatus.PROCESSING };
  }
  deps.logger.info('ingest started', { jobId, profile: profile.name, mode, bytes: ref.size });
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

  const rejectsKey = resultKeys(jobId).rejects;
  const rejects = new PassThrough();
  const rejectsUpload = deps.objects.put(deps.resultsBucket, rejectsKey, rejects, 'application/x-ndjson');
  let counts;
  try {
    counts = await readAndStore(deps, jobId, ref.key, profile, object.body, rejects);
  } catch (err) {
    rejects.end();
    await rejectsUpload;
    if (!(err instanceof UnreadableFileError)) throw err;
    const reason = `${ref.key}: ${err.message}`;
    await deps.store.failJob(jobId, reason, deps.now().toISOString(), true);
    deps.logger.warn('file cannot be read', { jobId, reason: err.message });
    return { kind: 'failed', jobId, reason };
  }
  rejects.end();
  await rejectsUpload;

  await deps.store.recordIngestCounts(jobId, { ...counts.totals, groups: counts.groups.size });
  deps.crashPoint?.('ingest.stored');
  const refs: GroupRef[] = [...counts.groups].map(([groupId, noteCount], i) => ({ jobId, groupId, profile: profile.name, mode, noteCount, shard: shardOf(i) }));
  await deps.store.openLedger(jobId, shardSizes(refs.length));
  await deps.enrichQueue.sendAll(refs);
  deps.crashPoint?.('ingest.fanned-out');
  const after = await deps.store.finishIngest(jobId, deps.now().toISOString());
  deps.logger.info('ingest finished', { jobId, ...counts.totals, groups: counts.groups.size });
  deps.metrics?.add('RowsRead', counts.totals.rows);
  deps.metrics?.add('RowsRejected', counts.totals.rejected);
  deps.metrics?.add('RowsDuplicate', counts.totals.duplicates);
  deps.metrics?.add('GroupsFannedOut', counts.groups.size);
  await maybeFinalize(deps, after);
  return { kind: 'ingested', jobId, groups: counts.groups.size, rows: counts.totals.rows };
}

function parseMode(value: string | undefined): Mode | undefined {
  return value === 'fast' || value === 'full' ? value : undefined;
}

async function readAndStore(
  deps: PipelineDeps,
  jobId: string,
  file: string,
  profile: Profile,
  body: NodeJS.ReadableStream,
  rejects: PassThrough,
) {
  const totals = { rows: 0, accepted: 0, rejected: 0, duplicates: 0 };
  const groups = new Map<string, number>();
  const dedupe = new Deduplicator(profile.recordKey);
  const noteKeyFields = profile.recordKey.filter((f) => f !== profile.groupKey);
  let batch: Array<{ groupId: string; note: GroupNote }> = [];
  const writes = new Set<Promise<void>>();
  let writeError: unknown;

  const reject = async (line: RejectLine) => {
    if (!rejects.write(`${JSON.stringify(line)}\n`)) await new Promise((r) => rejects.once('drain', r));
  };
  const flush = async () => {
    if (!batch.length) return;
    const records = batch;
    batch = [];
    const p = deps.store.putRecords(jobId, records).catch((err) => {
      writeError ??= err;
    });
    writes.add(p);
    void p.finally(() => writes.delete(p));
    if (writes.size >= 4) await Promise.race(writes);
    if (writeError) throw writeError;
  };

  for await (const row of readRows(body as never, file) as AsyncGenerator<RawRow>) {
    if (row.kind === 'header') {
      const { missing } = mapHeaders(profile, row.headers);
      if (missing.length) {
        const accepted = missing.map((m) => {
          const column = profile.columns.find((c) => c.name === m)!;
          return `${m} (or ${column.aliases.join(', ')})`;
        });
        throw new UnreadableFileError(`the header lacks required column(s): ${accepted.join('; ')}`);
      }
      continue;
    }
    totals.rows += 1;
    if (totals.rows % PROGRESS_EVERY === 0) await deps.store.reportIngestProgress(jobId, totals.rows);
    if (row.kind === 'bad') {
      totals.rejected += 1;
      await reject({ file, line: row.line, record: row.record, field: null, reason: row.reason });
      continue;
    }
    const v = validateRecord(profile, row.fields);
    if (!v.ok) {
      totals.rejected += 1;
      await reject({ file, line: row.line, record: row.record, field: v.field, reason: v.reason });
      continue;
    }
    const verdict = dedupe.check(v.record, row.line);
    if (verdict.kind === 'duplicate') {
      totals.duplicates += 1;
      await reject({ file, line: row.line, record: row.record, field: null, reason: `duplicate of line ${verdict.firstLine}` });
      continue;
    }
    if (verdict.kind === 'conflict') {
      totals.rejected += 1;
      await reject({
        file,
        line: row.line,
        record: row.record,
        field: verdict.field,
        reason: `conflicts with line ${verdict.firstLine}: same ${profile.recordKey.join(' and ')}, different ${verdict.field}`,
      });
      continue;
    }
    const { [profile.textField]: text, ...values } = v.record.values;
    const groupId = values[profile.groupKey]!;
    const noteId = noteKeyFields.map((f) => values[f]).join('/') || String(row.line);
    const note = { noteId, text: text!, line: row.line, values, attributes: v.record.attributes };
    // The store refuses an item over 400 KB for good: such a row is rejected, never retried.
    const bytes = Buffer.byteLength(JSON.stringify(note));
    if (bytes > MAX_RECORD_BYTES) {
      totals.rejected += 1;
      await reject({ file, line: row.line, record: row.record, field: null, reason: `the record is ${Math.ceil(bytes / 1024)} KB; at most ${MAX_RECORD_BYTES / 1000} KB fit in one stored item` });
      continue;
    }
    totals.accepted += 1;
    batch.push({ groupId, note });
    groups.set(groupId, (groups.get(groupId) ?? 0) + 1);
    if (batch.length >= RECORD_BATCH) await flush();
  }
  await flush();
  await Promise.all(writes);
  if (writeError) throw writeError;
  return { totals, groups };
}

export function isTerminal(job: Job): boolean {
  return TERMINAL_STATUSES.has(job.status);
}
