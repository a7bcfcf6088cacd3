/**
 * The one description of sluice's topology: functions, their triggers, queues with their DLQs,
 * the status table, the buckets, schedules and state machines.
 *
 * The local runtime (`src/local/`) reads it to create emulated resources and event-source pollers;
 * the CDK stack (`lib/`) reads it to synthesize the same resources. Nothing here is repeated elsewhere.
 */

/** DynamoDB, S3 and SQS actions a handler may call (IAM action names without the service prefix). */
export type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query' | 'BatchWriteItem' | 'BatchGetItem';
/** `ListBucket` lists keys under a prefix (a documents manifest's folders); it is granted on the bucket, the others on its objects. */
export type ObjectAction = 'GetObject' | 'PutObject' | 'AbortMultipartUpload' | 'ListBucket';

/**
 * Exactly what a function's handler calls. The CDK stack grants these and nothing more; the local runtime
 * refuses any other call the way IAM would (`src/topology/permissions.ts`), so the two cannot drift.
 */
export interface FunctionAccess {
  table?: { actions: TableAction[]; indexes?: string[] };
  buckets?: Partial<Record<BucketName, ObjectAction[]>>;
  sendsTo?: QueueName[];
  /** Reads the depth of these queues' DLQs (GetQueueAttributes). */
  readsDlqDepth?: QueueName[];
  /** Moves a message that can never succeed straight to this queue's DLQ (SendMessage), with its reason. */
  sendsToDlq?: QueueName[];
  /** Publishes alerts to the stage's alert topic (SNS). */
  publishesAlerts?: boolean;
}

export interface FunctionSpec {
  /** Path of the handler module, relative to the repository root. */
  entry: string;
  /** Exported handler name in that module. */
  handlerExport: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** The queue whose event-source mapping invokes this function, if any. */
  trigger?: { queue: QueueName; batchSize: number; batchingWindowSeconds: number; maxConcurrency: number };
  access: FunctionAccess;
  description: string;
  /** Calls the LLM provider: gets the stage's reserved concurrency, model and the OpenAI key's secret. */
  callsLlm?: boolean;
}

export interface QueueSpec {
  /** Lambda's rule of thumb: at least 6× the consuming function's timeout. Checked by `validateTopology`. */
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
  retentionDays: number;
  dlqRetentionDays: number;
}

export interface BucketSpec {
  description: string;
  versioned: boolean;
  /** Key prefixes whose objects expire after the stage's `rejectsExpireDays`. */
  expiringPrefixes?: string[];
}

export interface TableSpec {
  partitionKey: string;
  sortKey: string;
  indexes: Record<string, { partitionKey: string; sortKey: string }>;
}

export interface ScheduleSpec {
  expression: string;
  target: FunctionName;
}

export interface StateMachineSpec {
  /** The ASL file (JSONPath), relative to the repository root: deployed as is and run locally as is. */
  definitionFile: string;
  /** Each `${Placeholder}` in the definition → the function whose ARN replaces it. */
  functions: Record<string, TaskFunctionName>;
  description: string;
}

/** Functions an SQS event source invokes. */
export type QueueFunctionName = 'ingest' | 'chunk' | 'enrich' | 'decide';
/** Functions an EventBridge schedule invokes. */
export type ScheduledFunctionName = 'backfill' | 'metrics' | 'topics' | 'reconcile';
/** Functions a state machine's Task states invoke. */
export type TaskFunctionName = 'score' | 'improve';
export type FunctionName = QueueFunctionName | ScheduledFunctionName | TaskFunctionName;
export type QueueName = 'ingest' | 'chunks' | 'enrich' | 'decide';
export type BucketName = 'drop' | 'results' | 'config';

export interface Topology {
  functions: Record<FunctionName, FunctionSpec>;
  queues: Record<QueueName, QueueSpec>;
  buckets: Record<BucketName, BucketSpec>;
  table: TableSpec;
  /** Prefix of the drop bucket whose ObjectCreated events feed the ingest queue. */
  dropPrefix: string;
  schedules: Record<string, ScheduleSpec>;
  stateMachines: Record<StateMachineName, StateMachineSpec>;
}

export type StateMachineName = 'score' | 'improve';

export const topology: Topology = {
  functions: {
    ingest: {
      entry: 'functions/ingest/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 300,
      memoryMb: 1024,
      trigger: { queue: 'ingest', batchSize: 1, batchingWindowSeconds: 0, maxConcurrency: 2 },
      access: {
        // The job item alone (status and lease): no ledger read.
        table: { actions: ['GetItem', 'PutItem', 'UpdateItem'] },
        buckets: { drop: ['GetObject'], config: ['GetObject'] },
        sendsTo: ['chunks'],
        sendsToDlq: ['ingest'],
      },
      description: 'Plans a dropped file: one pass cuts it into chunks at row boundaries, one message per chunk',
    },
    chunk: {
      entry: 'functions/chunk/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 300,
      memoryMb: 1024,
      trigger: { queue: 'chunks', batchSize: 1, batchingWindowSeconds: 0, maxConcurrency: 4 },
      // A chunk: parse, validate, clean, partition by group. A partition: de-duplicate, group, store, fan out;
      // the last partition writes the rejects file and, for a job with nothing to enrich, its results.
      access: {
        table: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'Query'] },
        // ListBucket: a documents manifest's groups name their documents by key prefix.
        buckets: { drop: ['GetObject', 'ListBucket'], config: ['GetObject'], results: ['GetObject', 'PutObject', 'AbortMultipartUpload'] },
        sendsTo: ['chunks', 'enrich'],
        sendsToDlq: ['chunks'],
      },
      description: "Ingests a file's chunks in parallel, then de-duplicates and groups each partition of its records",
    },
    enrich: {
      entry: 'functions/enrich/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 120,
      memoryMb: 1024,
      trigger: { queue: 'enrich', batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 12 },
      // The enrich step that fails a job's last group finalizes it, so it writes results too.
      access: {
        // GetItem and PutItem: the LLM answer cache and the shared circuit breaker; BatchGetItem: a batch's groups.
        table: { actions: ['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem', 'Query'] },
        // drop: a documents profile's documents, one per message (`src/pipeline/documents.ts`).
        buckets: { drop: ['GetObject'], config: ['GetObject'], results: ['GetObject', 'PutObject', 'AbortMultipartUpload'] },
        sendsTo: ['decide'],
        sendsToDlq: ['enrich'],
      },
      callsLlm: true,
      description: "Enriches groups of records, ten to a message (the outputs its profile declares), or a documents profile's documents, one to a message, rolling each group up when its last document settles",
    },
    decide: {
      entry: 'functions/decide/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 120,
      memoryMb: 512,
      trigger: { queue: 'decide', batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 2 },
      access: {
        // BatchGetItem: a batch's groups read in one call.
        table: { actions: ['GetItem', 'BatchGetItem', 'UpdateItem', 'Query'] },
        // GetObject: a large job's results are joined from their staged segments.
        buckets: { config: ['GetObject'], results: ['GetObject', 'PutObject', 'AbortMultipartUpload'] },
        sendsToDlq: ['decide'],
      },
      description: "Runs the profile's rules over groups with evidence, ten to a message; the last group finalizes the job",
    },
    backfill: {
      entry: 'functions/backfill/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 900,
      memoryMb: 1024,
      // Pages the sparse pending index; GetItem/PutItem also serve the LLM cache and breaker.
      access: {
        table: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'Query'], indexes: ['pending'] },
        buckets: { config: ['GetObject'], results: ['GetObject', 'PutObject', 'AbortMultipartUpload'] },
      },
      callsLlm: true,
      description: 'Finishes pending enrichment stages oldest first (fast mode, LLM unavailable), re-decides, rewrites results',
    },
    reconcile: {
      entry: 'functions/reconcile/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 300,
      memoryMb: 512,
      // Unfinished jobs (pending index), their ledger and groups; finalizing writes the results files. A stalled
      // documents job: its groups (results GetObject) and their stored documents; a group to roll up goes to enrich.
      access: {
        table: { actions: ['GetItem', 'UpdateItem', 'Query'], indexes: ['pending'] },
        buckets: { config: ['GetObject'], results: ['GetObject', 'PutObject', 'AbortMultipartUpload'] },
        sendsTo: ['enrich'],
      },
      description: 'Finds unfinished jobs: finalizes settled ones nobody finalized, replays the counts of stalled ones, sends again the roll-ups documents jobs missed',
    },
    metrics: {
      entry: 'functions/metrics/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 300,
      memoryMb: 512,
      // Jobs of the day (byKind), the backlog (pending), each job's groups, the latest topic run; alerts are stored and published.
      access: {
        table: { actions: ['GetItem', 'Query', 'PutItem'], indexes: ['byKind', 'pending'] },
        buckets: { config: ['GetObject'] },
        readsDlqDepth: ['ingest', 'chunks', 'enrich', 'decide'],
        publishesAlerts: true,
      },
      description: "Daily metrics per profile (counts, coverage, backlog, DLQs, LLM use, latencies) and the profiles' quality gates",
    },
    topics: {
      entry: 'functions/topics/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 900,
      memoryMb: 2048,
      // Jobs since the last run (byKind), their groups, the run items; the assignments go to S3.
      access: {
        table: { actions: ['GetItem', 'PutItem', 'Query'], indexes: ['byKind'] },
        buckets: { config: ['GetObject'], results: ['PutObject', 'AbortMultipartUpload'] },
      },
      // The LLM names the topics when a key is set.
      callsLlm: true,
      description: 'Weekly topic discovery over the enriched summaries (TF-IDF + k-means), when enough are new',
    },
    score: {
      entry: 'functions/score/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 120,
      memoryMb: 1024,
      // Score runs and their items; GetItem/PutItem/UpdateItem also serve the shared breaker.
      access: { table: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'Query'] }, buckets: { config: ['GetObject'] } },
      callsLlm: true,
      description: "The scoring state machine's Task states: prepare, predict, compare, judge, report",
    },
    improve: {
      entry: 'functions/improve/handler.ts',
      handlerExport: 'handler',
      timeoutSeconds: 600,
      memoryMb: 1024,
      // Improvement runs (listing, status, task token) and the active pointer it promotes; the run's state,
      // candidates and the versions it pushes are objects in the config bucket.
      access: { table: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'Query'] }, buckets: { config: ['GetObject', 'PutObject'] } },
      callsLlm: true,
      description: "The improve state machine's Task states: prepare, propose, try a candidate, settle, finish, promote, await approval",
    },
  },
  queues: {
    ingest: { visibilityTimeoutSeconds: 1800, maxReceiveCount: 3, retentionDays: 4, dlqRetentionDays: 14 },
    chunks: { visibilityTimeoutSeconds: 1800, maxReceiveCount: 3, retentionDays: 4, dlqRetentionDays: 14 },
    enrich: { visibilityTimeoutSeconds: 720, maxReceiveCount: 5, retentionDays: 4, dlqRetentionDays: 14 },
    decide: { visibilityTimeoutSeconds: 720, maxReceiveCount: 5, retentionDays: 4, dlqRetentionDays: 14 },
  },
  buckets: {
    drop: { description: 'Files dropped under incoming/<profile>/', versioned: true },
    results: { description: 'Results, rejects and summaries per job', versioned: false, expiringPrefixes: ['rejects/', 'staging/'] },
    // Content-addressed, so a version is never overwritten with other bytes; the active one is in the table.
    config: { description: 'Profile and benchmark versions (profiles/<name>/<version>.json, benchmarks/…)', versioned: false },
  },
  table: {
    partitionKey: 'pk',
    sortKey: 'sk',
    indexes: {
      // Listings (jobs newest first) without a scan.
      byKind: { partitionKey: 'kindPk', sortKey: 'kindSk' },
      // Sparse: only items with pending work carry these attributes; oldest first.
      pending: { partitionKey: 'pendingPk', sortKey: 'pendingSk' },
    },
  },
  dropPrefix: 'incoming/',
  schedules: {
    backfill: { expression: 'rate(1 hour)', target: 'backfill' },
    reconcile: { expression: 'rate(5 minutes)', target: 'reconcile' },
    metrics: { expression: 'rate(1 day)', target: 'metrics' },
    topics: { expression: 'rate(7 days)', target: 'topics' },
  },
  stateMachines: {
    score: {
      definitionFile: 'statemachines/score.asl.json',
      functions: { ScoreFunctionArn: 'score' },
      description: 'Scores the pipeline against a labelled benchmark: predict (Map), compare (Map), judge in batches, report',
    },
    improve: {
      definitionFile: 'statemachines/improve.asl.json',
      functions: { ImproveFunctionArn: 'improve' },
      description: "Improves a profile against its benchmark: propose edits from train failures, try them on validation (Map), keep past the gate, loop; promote or await approval",
    },
  },
};

/** Physical names carry the stage so several stages can live in one account. */
export function resourceName(stage: string, logical: string): string {
  return `sluice-${stage}-${logical}`;
}

/** The environment variable through which a function learns a queue's URL. */
export function queueUrlEnv(queue: QueueName): string {
  return `QUEUE_URL_${queue.toUpperCase()}`;
}

/** The environment variable through which a function learns a DLQ's URL. */
export function dlqUrlEnv(queue: QueueName): string {
  return `DLQ_URL_${queue.toUpperCase()}`;
}

export const ALERT_TOPIC_ENV = 'ALERT_TOPIC_ARN';

/** The environment variable through which a function learns a bucket's name. */
export function bucketEnv(bucket: BucketName): string {
  return `BUCKET_${bucket.toUpperCase()}`;
}

export const TABLE_ENV = 'TABLE_NAME';

/**
 * Checks the invariants every consumer relies on.
 * @throws Error naming each broken invariant.
 */
export function validateTopology(t: Topology, options: { visibilityRule?: boolean } = {}): void {
  const problems: string[] = [];
  for (const [name, fn] of Object.entries(t.functions)) {
    if (!fn.trigger) continue;
    const q = t.queues[fn.trigger.queue];
    if (!q) {
      problems.push(`function ${name} is triggered by unknown queue ${fn.trigger.queue}`);
      continue;
    }
    if (options.visibilityRule !== false && q.visibilityTimeoutSeconds < 6 * fn.timeoutSeconds) {
      problems.push(
        `queue ${fn.trigger.queue}: visibility timeout ${q.visibilityTimeoutSeconds}s < 6 × ${name} timeout ${fn.timeoutSeconds}s`,
      );
    }
    if (fn.trigger.batchSize < 1 || fn.trigger.batchSize > 10_000) problems.push(`function ${name}: batch size out of range`);
    if (fn.trigger.maxConcurrency < 2) problems.push(`function ${name}: SQS maximum concurrency must be ≥ 2`);
  }
  if (problems.length) throw new Error(`invalid topology:\n  ${problems.join('\n  ')}`);
}

/** Returns a deep copy of the topology with some settings replaced (tests, local tuning). */
export function withOverrides(
  base: Topology,
  overrides: {
    queues?: Partial<Record<QueueName, Partial<QueueSpec>>>;
    triggers?: Partial<Record<FunctionName, Partial<NonNullable<FunctionSpec['trigger']>>>>;
  },
): Topology {
  const t: Topology = structuredClone(base);
  for (const [name, o] of Object.entries(overrides.queues ?? {})) Object.assign(t.queues[name as QueueName], o);
  for (const [name, o] of Object.entries(overrides.triggers ?? {})) {
    const fn = t.functions[name as FunctionName];
    if (fn.trigger) Object.assign(fn.trigger, o);
  }
  return t;
}
