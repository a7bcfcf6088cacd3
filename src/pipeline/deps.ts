/** What every pipeline step is given: ports, names and a clock. Handlers and the local runtime build it. */
import type { EnrichmentProvider, Mode } from '../domain/enrich/enrich-group.ts';
import type { ProfileSource } from '../profiles/registry.ts';
import type { Chunking } from './ingest-chunks.ts';
import type { DeadLetters, ObjectStore, StatusStore, WorkQueue } from './ports.ts';

/** The part of Powertools' Logger the steps use; logs carry ids, counts and timings, never note text. */
export interface StepLogger {
  info(message: string, ...attributes: Array<Record<string, unknown>>): void;
  warn(message: string, ...attributes: Array<Record<string, unknown>>): void;
  error(message: string, ...attributes: Array<Record<string, unknown>>): void;
}

/** Where the steps count what they did (EMF through Powertools Metrics, published per invocation); optional. */
export interface MetricsSink {
  add(name: string, value: number, unit?: 'Count' | 'Milliseconds'): void;
}

export interface PipelineDeps {
  store: StatusStore;
  objects: ObjectStore;
  /** The ingest's own fan-out: chunk and partition messages (`src/pipeline/ingest-chunks.ts`). */
  chunkQueue: WorkQueue;
  enrichQueue: WorkQueue;
  decideQueue: WorkQueue;
  provider: EnrichmentProvider;
  /** The profiles: a job runs the version active when it was ingested, recorded on it (`src/profiles/registry.ts`). */
  profiles: ProfileSource;
  resultsBucket: string;
  dropPrefix: string;
  defaultMode: Mode;
  /** Chunk and partition sizes; DEFAULT_CHUNKING unless set (tests cut small files into many chunks). */
  chunking?: Chunking;
  /** Groups per staged segment of a large job's results; `SEGMENT_GROUPS` unless set (tests make it small). */
  segmentGroups?: number;
  logger: StepLogger;
  now: () => Date;
  metrics?: MetricsSink;
  /** The function's own DLQ, for messages that can never succeed (poison); absent for scheduled functions. */
  deadLetters?: DeadLetters;
  /**
   * Named points between two writes. The local runtime kills its own process at the one `SLUICE_CRASH_AT`
   * names (the crash matrix, `test/e2e/crash.test.ts`); absent everywhere else.
   */
  crashPoint?: (point: string) => void;
  /**
   * Told how many bytes a step has just read through in one go (the ingest's scan of a whole file to plan it). A
   * local handler process retires after its batches in hand once that passes its limit, as the buffers of a long
   * scan stay with its allocator; absent deployed, where Lambda recycles its instances on its own.
   */
  scanned?: (bytes: number) => void;
}
