/**
 * The local runtime: the emulators, the resources the topology describes (table, buckets, queues with
 * their DLQs), S3 → SQS notifications for the drop prefix, and one event source per triggered function,
 * all running the same handlers as Lambda. No AWS account, no network beyond loopback.
 */
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, ScheduledEvent } from 'aws-lambda';
import { createStatusStore } from '../adapters/dynamodb-status-store.ts';
import { createVersionRegistry } from '../adapters/profile-registry.ts';
import { profileTtlMs } from '../lambda/deps-from-env.ts';
import { registryProfiles } from '../profiles/registry.ts';
import { registryBenchmarks } from '../scoring/benchmark-registry.ts';
import { createObjectStore } from '../adapters/s3-object-store.ts';
import { createDeadLetters, createWorkQueue } from '../adapters/sqs-work-queue.ts';
import { metricsSink } from '../adapters/emf-metrics.ts';
import { type Instrumentation, instrumentation, withPowertools } from '../lambda/powertools.ts';
import { dlqDepths } from '../adapters/sqs-dlq-depths.ts';
import type { EnrichmentProvider, Mode } from '../domain/enrich/enrich-group.ts';
import { type LlmSettings, buildProvider, buildScoringLlm } from '../llm/llm-config.ts';
import { createScoreStore } from '../adapters/dynamodb-score-store.ts';
import type { TaskHandler } from '../lambda/score-task.ts';
import type { Judge } from '../scoring/judge.ts';
import type { ScoreStore } from '../scoring/score-store.ts';
import type { LocalStateMachine } from './state-machines.ts';
import type { TopicNamer } from '../llm/topic-namer.ts';
import { type Job, TERMINAL_STATUSES } from '../domain/job.ts';
import { encodeS3Key } from '../domain/s3-event.ts';
import { type Chunking, DEFAULT_CHUNKING } from '../pipeline/ingest-chunks.ts';
import { type SqsHandler, createChunkHandler, createDecideHandler, createEnrichHandler, createIngestHandler } from '../lambda/sqs-steps.ts';
import type { ScheduledHandler } from '../lambda/scheduled.ts';
import { reconcileJobs } from '../pipeline/reconcile.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { StatusStore } from '../pipeline/ports.ts';
import {
  type BucketName,
  type FunctionName,
  type QueueFunctionName,
  type QueueName,
  type ScheduledFunctionName,
  type StateMachineName,
  type TaskFunctionName,
  type Topology,
  resourceName,
  topology as defaultTopology,
  validateTopology,
} from '../topology/topology.ts';
import type { S3Upload } from './emulators.ts';
import { type CallRecord, type ResourceOf, guardClient } from './local-iam.ts';
import { loopbackAuth } from './loopback-signer.ts';
import { type Resource, permissionsOf } from '../topology/permissions.ts';
import { profileSchedules } from '../profiles/profile.ts';
import { SqsEventSource, lambdaContext } from './event-source.ts';
import { crashPointFromEnv, newCrashCounterFile } from './crash-points.ts';
import { type Helper, startHelper } from './child-process.ts';
import { scheduledEvent, startSchedules } from './scheduler.ts';

export const LOCAL_REGION = 'us-east-1';
/** Locally, in-flight work of a runtime that died is visible again this soon after (extended while it runs). */
export const LOCAL_VISIBILITY_SECONDS = Number(process.env.SLUICE_LOCAL_VISIBILITY_SECONDS || 20);
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface LocalRuntimeOptions {
  /** On-disk state folder; in memory when absent. */
  stateDir?: string;
  topology?: Topology;
  stage?: string;
  /** Start the event sources (default true). `sluice invoke` and `status` run without them. */
  pollers?: boolean;
  /** A provider to use as is (tests); otherwise `llm` decides. */
  provider?: EnrichmentProvider;
  /** LLM settings (the OpenAI provider, cache and breaker); the offline provider when absent. Never read from env here. */
  llm?: LlmSettings;
  defaultMode?: Mode;
  /** Chunk and partition sizes of the ingest (tests cut small files into many chunks); else `SLUICE_CHUNK_BYTES`, else the defaults. */
  chunking?: Partial<Chunking>;
  /** Where handler logs go (JSON lines); stderr by default so stdout stays the CLI's. */
  logStream?: Writable;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Emulator ports (`aws`: S3); any free port for those absent. */
  ports?: { aws?: number; sqs?: number; dynamodb?: number };
  /** Wraps a handler (tests inject failures this way). */
  wrapHandler?: (fn: QueueFunctionName, handler: SqsHandler) => SqsHandler;
  /** Long-poll wait of the event sources, in seconds. */
  waitSeconds?: number;
  /** Tests shorten visibility timeouts to see retries quickly; this lifts the 6× function-timeout rule. */
  allowShortVisibility?: boolean;
  /** Sees every SDK call a handler makes, allowed or not (tests check the topology's access with it). */
  onAwsCall?: (call: CallRecord) => void;
  /** Fire the topology's schedules (sluice dev); `speed` compresses time (3600: hourly → every second). */
  schedules?: { speed: number };
  /** What scoring predicts and judges with (tests); otherwise `llm` decides (offline without it). */
  scoring?: { provider: EnrichmentProvider; judge: Judge };
  /**
   * The reconciler, run by the event-source runtime: once on start over every unfinished job (whatever a
   * dead runtime left), then every `everySeconds` (default 15; deployed it is the topology's schedule). With
   * handler processes, the passes after the start run in the first of them: a pass may finalize a job (read all
   * its groups, write its results), work for a process with a handler's heap limits and memory ceiling.
   * `onStart: false` skips the pass on start (a handler process's: the runtime that started it ran it).
   */
  reconcile?: { everySeconds?: number; stallMs?: number; onStart?: boolean } | false;
  /** The queue functions whose event sources this thread runs (default all). */
  functions?: QueueFunctionName[];
  /**
   * Queue functions whose event sources also run in processes of their own, one process per list, each
   * a runtime attached to these emulators (as more Lambda instances): the pipeline then uses every core.
   * A function run by n instances gets 1/n of its trigger's maxConcurrency on each, so the topology's cap holds.
   * Only plain-data options reach them (no `provider`, `wrapHandler`, `onAwsCall` or `logStream` object;
   * their logs come back to this runtime's log stream). The CLI uses `handlerLayout()`.
   */
  handlerProcesses?: QueueFunctionName[][];
  /**
   * A handler process whose RSS reaches this many MB takes no more messages, finishes the batches in hand and
   * exits, and a fresh one takes its place (default `HANDLER_PROCESS_MAX_RSS_MB`; 0: never).
   */
  handlerMaxRssMb?: number;
  /**
   * A handler process that has scanned a file of at least this many MiB to plan it retires after its batches in
   * hand, and a fresh one takes its place (default `HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB`; 0: never).
   */
  handlerRetireAfterScanMb?: number;
  /** Told the bytes a step scanned in one go (`PipelineDeps.scanned`; set by a handler process on its own runtime). */
  scanned?: (bytes: number) => void;
  /** The file counting crash-point passes, shared with the handler processes (set by the runtime on them). */
  crashCounterFile?: string;
  /** Event-source concurrency per function instead of its trigger's maxConcurrency (set by the runtime on handler processes). */
  concurrency?: Partial<Record<QueueFunctionName, number>>;
  /**
   * The emulators run in a process of their own (default), so they and the handlers use every core and
   * their memory is not this process's; `false` keeps them in this process.
   */
  emulatorProcess?: boolean;
  /** Use emulators already running (a `sluice dev` process) instead of starting them. */
  attach?: { s3: string; sqs: string; dynamodb: string };
}

export interface QueueNames {
  name: string;
  url: string;
  arn: string;
  dlqName: string;
  dlqUrl: string;
  dlqArn: string;
}

export interface LocalNames {
  table: string;
  buckets: Record<BucketName, string>;
  queues: Record<QueueName, QueueNames>;
}

export interface LocalRuntime {
  endpoints: { s3: string; sqs: string; dynamodb: string };
  names: LocalNames;
  clients: { s3: S3Client; sqs: SQSClient; dynamodb: DynamoDBClient };
  store: StatusStore;
  handlers: Record<QueueFunctionName, SqsHandler>;
  /** The handlers EventBridge schedules invoke (locally: `sluice invoke`, `sluice backfill`). */
  scheduled: Record<ScheduledFunctionName, ScheduledHandler>;
  /** The handlers state machines' Task states invoke. */
  tasks: Record<TaskFunctionName, TaskHandler>;
  /** What the score function predicts and judges with. */
  scoring: { provider: EnrichmentProvider; judge: Judge };
  /** Score runs and their items (the runtime's own client). */
  scoreStore: ScoreStore;
  /**
   * Runs a topology state machine to its end on aws-local-stepfunctions (the deployed ASL, as is).
   * `retryIntervalMs` replaces every Retry interval (tests); the ASL's own intervals otherwise.
   */
  execute(name: StateMachineName, input: unknown, options?: { retryIntervalMs?: number }): Promise<unknown>;
  /** The ASL text a state machine executes here (before its placeholders are substituted). */
  stateMachineSource(name: StateMachineName): Promise<string>;
  eventSources: Partial<Record<QueueFunctionName, SqsEventSource>>;
  /** Runs no more reconciler passes here and waits for the one under way (a handler process retiring). */
  stopReconciling(): Promise<void>;
  /**
   * The processes this runtime runs in: its own, the emulators' and the handler processes' (as they come up), and
   * the handler processes retired (at their memory ceiling, or after a scan), with their peak RSS (MB) and why.
   */
  pids(): { main: number; emulators?: number; handlers: number[]; retired: HandlerProcesses['retired'] };
  /** Dependencies for operator commands run in this process (backfill): the runtime's clients and provider. */
  operatorDeps(): PipelineDeps;
  /** The LLM topic namer when LLM settings were given. */
  topicNamer(): Promise<TopicNamer | undefined>;
  /** Runs one handler with one event, like a local Lambda invoke. */
  invoke(fn: QueueFunctionName, event: SQSEvent): Promise<SQSBatchResponse>;
  /** Runs a scheduled function with a Scheduled Event, like a local Lambda invoke. */
  invokeScheduled(fn: ScheduledFunctionName, event: ScheduledEvent): Promise<unknown>;
  waitForJob(jobId: string, options?: { timeoutMs?: number; onProgress?: (job: Job | undefined) => void; intervalMs?: number }): Promise<Job>;
  stop(): Promise<void>;
}

/**
 * What every local client shares: the region and credentials; no SigV4 (the emulators check no signature,
 * loopback-signer.ts); and the SDK's HTTP handler warning of a request queued for a socket only after a minute — a
 * handler process runs as many batches at once as the function's maxConcurrency (each Lambda instance would have a
 * client of its own), so a hundred groups' writes per batch queue for the client's 50 sockets to the single-threaded
 * emulator as expected; the SDK's default warning (after 3 s) printed to a user's terminal during `sluice run`.
 */
const loopback = () => ({ region: LOCAL_REGION, credentials: CREDENTIALS, requestHandler: { socketAcquisitionWarningTimeout: 60_000 }, ...(loopbackAuth() as object) });

export function localClients(endpoints: { s3: string; sqs: string; dynamodb: string }) {
  return {
    // Loopback has no wire to corrupt a body: no CRC32 of every request and response body on both sides (the
    // emulator still checks one a client sends, and computes every object's MD5 ETag), and no MD5 of every message
    // body sent and received checked against the emulator's (~0.2 ms of a handler's CPU per SendMessageBatch of ten).
    s3: new S3Client({ endpoint: endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', ...loopback() }),
    sqs: new SQSClient({ endpoint: endpoints.sqs, md5: false, ...loopback() }),
    dynamodb: new DynamoDBClient({ endpoint: endpoints.dynamodb, ...loopback() }),
  };
}

export function localNames(topology: Topology, stage: string): Omit<LocalNames, 'queues'> & { queueNames: Record<QueueName, string> } {
  return {
    table: resourceName(stage, 'status'),
    buckets: Object.fromEntries(Object.keys(topology.buckets).map((b) => [b, resourceName(stage, b)])) as Record<BucketName, string>,
    queueNames: Object.fromEntries(Object.keys(topology.queues).map((q) => [q, resourceName(stage, q)])) as Record<QueueName, string>,
  };
}


/**
 * Starts the local runtime.
 * @example const rt = await startLocalRuntime(); await rt.clients.s3.send(new PutObjectCommand(...)); await rt.waitForJob(id);
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const topology = options.topology ?? defaultTopology;
  validateTopology(topology, { visibilityRule: !options.allowShortVisibility });
  const stage = options.stage ?? 'local';
  const base = localNames(topology, stage);
  let notify: ((u: S3Upload) => void) | undefined;
  // What only some runtimes use is imported when first used: a handler process (attached, no state machines, no
  // schedules) then loads the queue handlers' modules alone, and starts in about half the time.
  const emulators = options.attach
    ? { endpoints: options.attach, stop: async () => undefined, pid: undefined }
    : await (options.emulatorProcess === false ? (await import('./emulators.ts')).startEmulators : (await import('./emulators.ts')).startEmulatorsInProcess)({
        stateDir: options.stateDir,
        awsPort: options.ports?.aws,
        sqsPort: options.ports?.sqs,
        dynamodbPort: options.ports?.dynamodb,
        onObjectCreated: (u) => notify?.(u),
      });
  const clients = localClients(emulators.endpoints);
  const stops: Array<() => Promise<void>> = [];
  try {
    await createTable(clients.dynamodb, base.table, topology);
    for (const bucket of Object.values(base.buckets)) await createBucket(clients.s3, bucket);
    const queues = {} as Record<QueueName, QueueNames>;
    for (const [q, spec] of Object.entries(topology.queues) as Array<[QueueName, Topology['queues'][QueueName]]>) {
      queues[q] = await createQueueWithDlq(clients.sqs, emulators.endpoints.sqs, base.queueNames[q], spec);
    }
    const names: LocalNames = { table: base.table, buckets: base.buckets, queues };
    const store = createStatusStore(clients.dynamodb, names.table);
    const logStream = options.logStream ?? process.stderr;
    const crashCounterFile = process.env.SLUICE_CRASH_AT ? (options.crashCounterFile ?? newCrashCounterFile(options.stateDir)) : undefined;
    const crashPoint = crashPointFromEnv(process.env.SLUICE_CRASH_AT, crashCounterFile, options.crashCounterFile !== undefined);
    const chunkBytesEnv = Number(process.env.SLUICE_CHUNK_BYTES) || undefined;
    const chunking: Chunking = { ...DEFAULT_CHUNKING, ...(chunkBytesEnv ? { chunkBytes: chunkBytesEnv, partitionBytes: chunkBytesEnv } : {}), ...options.chunking };
    // A chunk size asked for is every file's, unless a size for large files is asked for with it.
    if ((chunkBytesEnv || options.chunking?.chunkBytes) && !options.chunking?.large) delete chunking.large;
    // Each function gets clients of its own that allow only what its topology access allows (local IAM).
    const resourceOf = resourceResolver(names);
    const functionClients: Array<ReturnType<typeof localClients>> = [];
    const dlqOf = (service: string) => (topology.functions as Record<string, { access: { sendsToDlq?: QueueName[] } }>)[service]?.access.sendsToDlq?.[0];
    // Logs and EMF go to the log stream (nowhere when silenced), as a function's stdout goes to CloudWatch Logs.
    const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
    // As Lambda sets it for on-demand instances: Powertools then marks each instance's first invocation a cold start.
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE ??= 'on-demand';
    const instrument = (service: string): Instrumentation =>
      instrumentation(service, { stream: options.logLevel === 'SILENT' ? silent : logStream, logLevel: options.logLevel === 'SILENT' ? 'SILENT' : (options.logLevel ?? 'INFO') });
    const providers = new Map<string, PipelineDeps['provider']>();
    // The LLM in-flight cap is the runtime's, shared like a function's concurrency by the instances running enrich.
    const mainEnriches = !options.functions || options.functions.includes('enrich');
    const enrichLists = (options.pollers === false ? [] : (options.handlerProcesses ?? [])).filter((list) => list.includes('enrich'));
    const enrichInstances = Math.max(1, (mainEnriches ? 1 : 0) + enrichLists.length);
    const llmShareOf = (instance: number) => options.llm && { ...options.llm, maxInFlight: capShares(options.llm.maxInFlight, enrichInstances)[instance]! };
    const llmShared = llmShareOf(0);
    // One profile cache per function (as a container keeps one), reading the config bucket with the function's clients.
    const profilesOf = new Map<string, PipelineDeps['profiles']>();
    const depsOver = (c: ReturnType<typeof localClients>, service: FunctionName, inst: Instrumentation = instrument(service)): PipelineDeps => ({
      store: createStatusStore(c.dynamodb, names.table),
      objects: createObjectStore(c.s3),
      profiles: profilesOf.get(service) ?? profilesOf.set(service, registryProfiles(createVersionRegistry(c.s3, c.dynamodb, names.buckets.config, names.table), { ttlMs: profileTtlMs(process.env, 2) })).get(service)!,
      chunkQueue: createWorkQueue(c.sqs, queues.chunks.url),
      enrichQueue: createWorkQueue(c.sqs, queues.enrich.url),
      decideQueue: createWorkQueue(c.sqs, queues.decide.url),
      // One provider per function (its cache and breaker on the function's own client, whoever asks first: an
      // operator command in this process or the function), shared by the function's instances.
      provider: options.provider ?? providers.get(service) ?? providers.set(service, buildProvider(service === 'enrich' ? llmShared : options.llm, fnClients(service).dynamodb, names.table)).get(service)!,
      resultsBucket: names.buckets.results,
      dropPrefix: topology.dropPrefix,
      defaultMode: options.defaultMode ?? 'full',
      chunking,
      segmentGroups: Number(process.env.SLUICE_SEGMENT_GROUPS) || undefined,
      logger: inst.logger,
      now: () => new Date(),
      metrics: metricsSink(inst.metrics),
      crashPoint,
      scanned: options.scanned,
      deadLetters: dlqOf(service) ? createDeadLetters(c.sqs, queues[dlqOf(service)!].dlqUrl) : undefined,
    });
    const guardedClients = (fn: FunctionName) => {
      const own = localClients(emulators.endpoints);
      functionClients.push(own);
      const permissions = permissionsOf(topology.functions[fn].access);
      for (const service of ['dynamodb', 's3', 'sqs'] as const) {
        guardClient(own[service], service, fn, permissions, resourceOf, options.onAwsCall);
      }
      return own;
    };
    const clientsOf = new Map<FunctionName, ReturnType<typeof localClients>>();
    const fnClients = (fn: FunctionName) => clientsOf.get(fn) ?? clientsOf.set(fn, guardedClients(fn)).get(fn)!;
    const deps = (fn: FunctionName, inst?: Instrumentation): PipelineDeps => depsOver(fnClients(fn), fn, inst);
    const wrap = options.wrapHandler ?? ((_fn: QueueFunctionName, h: SqsHandler) => h);
    const factories: Record<QueueFunctionName, (d: PipelineDeps) => SqsHandler> = {
      ingest: (d) => createIngestHandler(d, topology),
      chunk: (d) => createChunkHandler(d, topology),
      enrich: (d) => createEnrichHandler(d, topology),
      decide: (d) => createDecideHandler(d, topology),
    };
    /** A new instance of a queue function (as Lambda starts one): its own Powertools, the middy chain of the bundle. */
    const instanceOf = (fn: QueueFunctionName): SqsHandler => {
      const inst = instrument(fn);
      return wrap(fn, withPowertools(factories[fn](deps(fn, inst)), inst, fn));
    };
    const handlers = Object.fromEntries((Object.keys(factories) as QueueFunctionName[]).map((fn) => [fn, instanceOf(fn)])) as Record<QueueFunctionName, SqsHandler>;
    const metricsSqs = fnClients('metrics').sqs; // the metrics function's own (guarded) SQS client
    const scheduledInst = Object.fromEntries((['backfill', 'reconcile', 'topics', 'metrics'] as const).map((fn) => [fn, instrument(fn)])) as Record<ScheduledFunctionName, Instrumentation>;
    const reconcileDeps = deps('reconcile', scheduledInst.reconcile);
    const metricsDeps = deps('metrics', scheduledInst.metrics);
    const namer = async () => (options.llm ? (await import('../llm/topic-namer.ts')).createTopicNamer(options.llm) : undefined);
    const raw: Record<ScheduledFunctionName, () => Promise<ScheduledHandler>> = {
      backfill: async () => (await import('../lambda/scheduled.ts')).createBackfillHandler(deps('backfill', scheduledInst.backfill)),
      reconcile: async () => (await import('../lambda/scheduled.ts')).createReconcileHandler(reconcileDeps, options.reconcile ? options.reconcile.stallMs : undefined),
      topics: async () => (await import('../lambda/scheduled.ts')).createTopicsHandler(deps('topics', scheduledInst.topics), namer),
      metrics: async () =>
        (await import('../lambda/scheduled.ts')).createMetricsHandler(metricsDeps, {
          dlqDepths: () => dlqDepths(metricsSqs, Object.fromEntries((topology.functions.metrics.access.readsDlqDepth ?? []).map((q) => [q, queues[q].dlqUrl]))),
          // No SNS locally: alerts are stored (computeMetrics) and logged here.
          alerts: { publish: async (alert) => metricsDeps.logger.warn('quality gate alert', { profile: alert.profile, gate: alert.gate, value: alert.value, threshold: alert.threshold }) },
        }),
    };
    const scheduled = Object.fromEntries(
      Object.entries(raw).map(([fn, build]) => {
        const handler = lazy(async () => withPowertools(await build(), scheduledInst[fn as ScheduledFunctionName], fn as ScheduledFunctionName));
        return [fn, async (event: ScheduledEvent, context: Context) => (await handler())(event, context)];
      }),
    ) as Record<ScheduledFunctionName, ScheduledHandler>;

    // The functions Step Functions Task states invoke, and the state machines run over them.
    const scoreClients = fnClients('score');
    const scoring = options.scoring ?? buildScoringLlm(options.llm, scoreClients.dynamodb, names.table);
    const scoreInst = instrument('score');
    const scoreRegistry = createVersionRegistry(scoreClients.s3, scoreClients.dynamodb, names.buckets.config, names.table);
    const scoreTask = lazy(async () =>
      withPowertools(
        (await import('../lambda/score-task.ts')).createScoreTaskHandler({ store: createScoreStore(scoreClients.dynamodb, names.table), profiles: registryProfiles(scoreRegistry, { ttlMs: profileTtlMs(process.env, 2) }), benchmark: registryBenchmarks(scoreRegistry, { ttlMs: profileTtlMs(process.env, 2) }), ...scoring, log: (message, data) => scoreInst.logger.info(message, data) }) as (event: unknown, context: Context) => Promise<unknown>,
        scoreInst,
        'score',
      ),
    );
    const improveClients = fnClients('improve');
    const improveInst = instrument('improve');
    const improveTask = lazy(async () =>
      withPowertools(
        (await import('../lambda/improve-task.ts')).buildImproveTask({ s3: improveClients.s3, dynamodb: improveClients.dynamodb, bucket: names.buckets.config, table: names.table, ...(options.llm ? { llm: options.llm } : {}), log: (message, data) => improveInst.logger.info(message, data) }) as (event: unknown, context: Context) => Promise<unknown>,
        improveInst,
        'improve',
      ),
    );
    const tasks: Record<TaskFunctionName, TaskHandler> = {
      // A Task state's invocation carries a Lambda context, as deployed.
      score: async (event, context) => (await scoreTask())(event, context ?? (lambdaContext(resourceName(stage, 'score'), topology.functions.score.timeoutSeconds) as Context)),
      improve: async (event, context) => (await improveTask())(event, context ?? (lambdaContext(resourceName(stage, 'improve'), topology.functions.improve.timeoutSeconds) as Context)),
    };
    // A `.waitForTaskToken` state waits here until its token is answered (`sluice improve approve`): locally the
    // answer is an item in the status table, as SendTaskSuccess is deployed.
    const tokenStore = createScoreStore(clients.dynamodb, names.table);
    const awaitTaskToken = async (token: string) => {
      for (;;) {
        const outcome = await tokenStore.getTaskOutcome(token);
        if (outcome) return outcome;
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    // Each state machine is built (its ASL read and validated) on its first execution.
    const machines = Object.fromEntries(
      Object.entries(topology.stateMachines).map(([name, spec]) => [name, lazy(async () => (await import('./state-machines.ts')).localStateMachine(spec, tasks, (fn) => resourceName(stage, fn)))]),
    ) as Record<StateMachineName, () => Promise<LocalStateMachine>>;

    // S3 → SQS notifications for the drop prefix, as the deployed bucket sends them.
    const pendingNotifications = new Set<Promise<unknown>>();
    let sequencer = BigInt(Date.now()) * 1000n;
    notify = (u) => {
      if (u.bucket !== names.buckets.drop || !u.key.startsWith(topology.dropPrefix)) return;
      sequencer += 1n;
      const body = JSON.stringify(s3Notification(u, sequencer.toString(16).toUpperCase().padStart(18, '0')));
      const p = clients.sqs.send(new SendMessageCommand({ QueueUrl: queues.ingest.url, MessageBody: body })).catch((err) => {
        logStream.write(`${JSON.stringify({ level: 'ERROR', message: 'S3 notification not delivered', error: String(err) })}\n`);
      });
      pendingNotifications.add(p);
      void p.finally(() => pendingNotifications.delete(p));
    };
    stops.push(async () => {
      notify = undefined;
      await Promise.allSettled([...pendingNotifications]);
    });

    const eventSources: Partial<Record<QueueFunctionName, SqsEventSource>> = {};
    const processLists = options.pollers === false ? [] : (options.handlerProcesses ?? []).filter((list) => list.length);
    const onMain = (fn: QueueFunctionName) => !options.functions || options.functions.includes(fn);
    // A function's maxConcurrency is shared by the instances running it here (this process and its handler processes).
    // Enriching offline, a batch is CPU work on its process's one thread (the NER): at most OFFLINE_ENRICH_BATCHES
    // at once per process, as more only take turns there with more of them in memory.
    const offline = !options.llm && !options.provider;
    const share = (fn: QueueFunctionName) => {
      const instances = (onMain(fn) ? 1 : 0) + processLists.filter((list) => list.includes(fn)).length;
      const cap = Math.max(1, Math.floor(topology.functions[fn].trigger!.maxConcurrency / instances));
      return fn === 'enrich' && offline ? Math.min(cap, OFFLINE_ENRICH_BATCHES) : cap;
    };
    const handlerProcesses: HandlerProcesses = { running: [], retired: [] };
    const reconciles = options.pollers !== false && options.reconcile !== false;
    // The handler process that runs the reconciler's scheduled passes (the first), once it is up.
    let reconcilerProcess: Helper | undefined;
    if (processLists.length) {
      // Not awaited: this process's event sources start now, and the handler processes join as they come up.
      const helpers = Promise.allSettled(
        processLists.map((functions, i) =>
          startHandlerProcess(
            handlerProcesses,
            {
              attach: emulators.endpoints,
              functions,
              concurrency: Object.fromEntries(functions.map((fn) => [fn, share(fn)])),
              stage: options.stage,
              llm: functions.includes('enrich') ? llmShareOf((mainEnriches ? 1 : 0) + enrichLists.indexOf(functions)) : options.llm,
              defaultMode: options.defaultMode,
              chunking,
              logLevel: options.logLevel,
              waitSeconds: options.waitSeconds,
              allowShortVisibility: options.allowShortVisibility,
              topology: options.topology,
              crashCounterFile,
              handlerMaxRssMb: options.handlerMaxRssMb ?? HANDLER_PROCESS_MAX_RSS_MB,
              handlerRetireAfterScanMb: options.handlerRetireAfterScanMb ?? HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB,
              // The reconciler's scheduled passes: in the first handler process (and in the one that replaces it).
              reconcile: reconciles && i === 0 ? { ...(options.reconcile || {}), onStart: false } : false,
            },
            logStream,
          ),
        ),
      );
      void helpers.then((started) => {
        if (started[0]?.status === 'fulfilled') reconcilerProcess = started[0].value;
        for (const t of started) if (t.status === 'rejected') logStream.write(`${JSON.stringify({ level: 'ERROR', message: 'a handler process did not start', error: errorText(t.reason) })}\n`);
      });
      stops.unshift(async () => {
        await Promise.all((await helpers).map((t) => (t.status === 'fulfilled' ? t.value.stop() : undefined)));
      });
    }
    if (options.pollers !== false) {
      for (const [fn, spec] of Object.entries(topology.functions) as Array<[QueueFunctionName, Topology['functions'][FunctionName]]>) {
        if (!spec.trigger || !onMain(fn)) continue;
        const q = queues[spec.trigger.queue];
        const source = new SqsEventSource({
          name: resourceName(stage, fn),
          sqs: clients.sqs,
          queueUrl: q.url,
          queueArn: q.arn,
          batchSize: spec.trigger.batchSize,
          batchingWindowSeconds: spec.trigger.batchingWindowSeconds,
          maxConcurrency: options.concurrency?.[fn] ?? share(fn),
          timeoutSeconds: spec.timeoutSeconds,
          // One instance per concurrent invocation, as Lambda runs them: each its own logger context and cold start.
          handler: () => instanceOf(fn),
          waitSeconds: options.waitSeconds ?? 1,
          visibilitySeconds: Math.min(LOCAL_VISIBILITY_SECONDS, topology.queues[spec.trigger.queue].visibilityTimeoutSeconds),
          onError: (err) => {
            if (options.logLevel !== 'SILENT') {
              logStream.write(`${JSON.stringify({ level: 'WARN', service: `sluice-${fn}`, message: 'invocation failed', error: errorText(err) })}\n`);
            }
          },
        });
        source.start();
        eventSources[fn] = source;
      }
      // Event sources stop before the emulators they poll.
      stops.unshift(async () => {
        await Promise.all(Object.values(eventSources).map((s) => s.stop()));
      });
    }

    let stopReconciling = async () => undefined as void;
    if (reconciles) {
      // What a runtime that died left unfinished is finished now, not at the next schedule.
      const reconcileContext = () => lambdaContext(resourceName(stage, 'reconcile'), topology.functions.reconcile.timeoutSeconds) as Context;
      // A runtime that owns its state folder knows every lease in it belonged to a process now gone.
      const onStart =
        options.reconcile && options.reconcile.onStart === false
          ? Promise.resolve()
          : reconcileJobs(reconcileDeps, { stallMs: 0, deadline: Date.now() + 60_000, takeOverLeases: !options.attach }).catch((err) => {
              logStream.write(`${JSON.stringify({ level: 'ERROR', service: 'sluice-reconcile', message: 'reconcile on start failed', error: errorText(err) })}\n`);
            });
      let passes: Promise<unknown> = onStart;
      // The scheduled passes run here unless the handler process that runs them is up (not yet, or not any more).
      const timer = setInterval(() => {
        if (reconcilerProcess && handlerProcesses.running.includes(reconcilerProcess.pid)) return;
        passes = passes.then(() => scheduled.reconcile(scheduledEvent(`arn:aws:events:${LOCAL_REGION}:000000000000:rule/${resourceName(stage, 'reconcile')}`, LOCAL_REGION, '000000000000'), reconcileContext())).catch((err) => {
          logStream.write(`${JSON.stringify({ level: 'ERROR', service: 'sluice-reconcile', message: 'reconcile failed', error: errorText(err) })}\n`);
        });
      }, ((options.reconcile && options.reconcile.everySeconds) || 15) * 1000);
      stopReconciling = async () => {
        clearInterval(timer);
        await passes;
      };
      stops.unshift(stopReconciling);
    }

    if (options.schedules) {
      const timers = startSchedules({
        region: LOCAL_REGION,
        account: '000000000000',
        speed: options.schedules.speed,
        schedules: [
          ...Object.entries(topology.schedules).map(([name, spec]) => ({ name, expression: spec.expression, target: spec.target, detail: {} })),
          ...profileSchedules().map((p) => ({ name: p.id, expression: p.expression, target: 'backfill' as const, detail: p.backfill })),
        ]
          .filter((spec) => spec.target in scheduled)
          .map((spec) => ({
            name: spec.name,
            expression: spec.expression,
            detail: spec.detail,
            ruleArn: `arn:aws:events:${LOCAL_REGION}:000000000000:rule/${resourceName(stage, spec.name)}`,
            fire: (event) => scheduled[spec.target as ScheduledFunctionName](event, lambdaContext(resourceName(stage, spec.target), topology.functions[spec.target].timeoutSeconds) as Context),
          })),
        onEvent: (message, data) => {
          if (options.logLevel !== 'SILENT') logStream.write(`${JSON.stringify({ level: 'INFO', service: 'sluice-scheduler', message, ...data })}\n`);
        },
      });
      stops.unshift(() => timers.stop());
    }

    return {
      endpoints: emulators.endpoints,
      names,
      clients,
      store,
      handlers,
      scheduled,
      tasks,
      scoring,
      scoreStore: createScoreStore(clients.dynamodb, names.table),
      async execute(name, input, o) {
        return (await machines[name]()).execute(input, { awaitTaskToken, ...o });
      },
      async stateMachineSource(name) {
        return (await machines[name]()).source;
      },
      eventSources,
      stopReconciling: () => stopReconciling(),
      pids: () => ({ main: process.pid, emulators: emulators.pid, handlers: [...handlerProcesses.running], retired: [...handlerProcesses.retired] }),
      topicNamer: namer,
      operatorDeps() {
        return depsOver(clients, 'backfill');
      },
      async invoke(fn, event) {
        const spec = topology.functions[fn];
        return (await handlers[fn](event, lambdaContext(resourceName(stage, fn), spec.timeoutSeconds) as Context)) ?? { batchItemFailures: [] };
      },
      async invokeScheduled(fn, event) {
        return scheduled[fn](event, lambdaContext(resourceName(stage, fn), topology.functions[fn].timeoutSeconds) as Context);
      },
      async waitForJob(jobId, o = {}) {
        const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
        // The status is polled (one small read); the job with its live counts, which sums the ledger's open shards
        // (thousands for a large job), is read for progress at most every second and ten times as long as it took.
        let progressAt = 0;
        for (;;) {
          const status = await store.getJobStatus(jobId);
          if (status && TERMINAL_STATUSES.has(status)) {
            const job = (await store.getJob(jobId))!;
            o.onProgress?.(job);
            return job;
          }
          if (o.onProgress && Date.now() >= progressAt) {
            const asked = Date.now();
            o.onProgress(await store.getJob(jobId));
            progressAt = Date.now() + Math.max(1000, 10 * (Date.now() - asked));
          }
          if (Date.now() > deadline) throw new Error(`job ${jobId} did not end within ${Math.round((o.timeoutMs ?? 600_000) / 1000)} s (status ${status ?? 'unknown'})`);
          await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
        }
      },
      async stop() {
        for (const s of stops) await s();
        for (const c of [clients, ...functionClients].flatMap((set) => Object.values(set))) c.destroy();
        await emulators.stop();
      },
    };
  } catch (err) {
    for (const c of Object.values(clients)) c.destroy();
    await emulators.stop();
    throw err;
  }
}

/** A value built on first use, once (concurrent first calls share the one build). */
function lazy<T>(build: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= build());
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Maps an SDK call's input to the topology resource it touches. */
function resourceResolver(names: LocalNames): ResourceOf {
  const bucketOf = new Map(Object.entries(names.buckets).map(([logical, name]) => [name, logical as BucketName]));
  const queueOf = new Map<string, Resource>(
    Object.entries(names.queues).flatMap(([logical, q]): Array<[string, Resource]> => [
      [q.url, { kind: 'queue', name: logical as QueueName }],
      [q.dlqUrl, { kind: 'dlq', name: logical as QueueName }],
    ]),
  );
  return (service, input) => {
    if (service === 'dynamodb') {
      const tables = input.RequestItems ? Object.keys(input.RequestItems as object) : [input.TableName];
      if (!tables.every((t) => t === names.table)) return undefined;
      return input.IndexName ? { kind: 'table', index: String(input.IndexName) } : { kind: 'table' };
    }
    if (service === 's3') {
      const bucket = bucketOf.get(String(input.Bucket));
      return bucket && { kind: 'bucket', name: bucket };
    }
    return queueOf.get(String(input.QueueUrl));
  };
}

/** The S3 event notification envelope for one created object, as S3 sends it to SQS. */
export function s3Notification(u: S3Upload, sequencer: string) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: LOCAL_REGION,
        eventTime: new Date().toISOString(),
        eventName: u.multipart ? 'ObjectCreated:CompleteMultipartUpload' : 'ObjectCreated:Put',
        userIdentity: { principalId: 'local' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': sequencer.slice(-16), 'x-amz-id-2': 'local' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'sluice-drop',
          bucket: { name: u.bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${u.bucket}` },
          object: { key: encodeS3Key(u.key), size: u.size, eTag: u.etag, sequencer },
        },
      },
    ],
  };
}

async function createTable(client: DynamoDBClient, name: string, topology: Topology): Promise<void> {
  const t = topology.table;
  const keys = new Set([t.partitionKey, t.sortKey, ...Object.values(t.indexes).flatMap((i) => [i.partitionKey, i.sortKey])]);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...keys].map((k) => ({ AttributeName: k, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: t.partitionKey, KeyType: 'HASH' },
          { AttributeName: t.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: Object.entries(t.indexes).map(([indexName, i]) => ({
          IndexName: indexName,
          KeySchema: [
            { AttributeName: i.partitionKey, KeyType: 'HASH' },
            { AttributeName: i.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  // As DynamoDB's, a new table (and its indexes) is CREATING for a moment — dynalite's until a timer fires — and
  // refuses item calls until ACTIVE: the runtime's first calls wait for it.
  for (let tries = 0; ; tries++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE' && (Table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE')) return;
    if (tries >= 1000) throw new Error(`the local table ${name} is still ${Table?.TableStatus} after 10 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function createBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

async function createQueueWithDlq(client: SQSClient, endpoint: string, name: string, spec: Topology['queues'][QueueName]): Promise<QueueNames> {
  const dlqName = `${name}-dlq`;
  // fauxqs answers with URLs on the host and port it first saw (sqs.<region>.localhost, a port of an earlier run):
  // the URLs given out are the endpoint's own, which any client reaches.
  const onEndpoint = (url: string) => `${endpoint}${new URL(url).pathname}`;
  const dlqUrl = onEndpoint(await ensureQueue(client, dlqName, { MessageRetentionPeriod: String(spec.dlqRetentionDays * 86400) }));
  const dlqArn = await queueArn(client, dlqUrl);
  const url = onEndpoint(await ensureQueue(client, name, {
    VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(spec.retentionDays * 86400),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: String(spec.maxReceiveCount) }),
  }));
  return { name, url, arn: await queueArn(client, url), dlqName, dlqUrl, dlqArn };
}

async function ensureQueue(client: SQSClient, name: string, attributes: Record<string, string>): Promise<string> {
  try {
    const r = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return r.QueueUrl!;
  } catch (err) {
    // The queue exists with other attributes (the topology changed): bring it in line.
    if ((err as Error).name !== 'QueueAlreadyExists' && !/already exists/i.test((err as Error).message)) throw err;
    const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: name }));
    await client.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    return QueueUrl!;
  }
}

async function queueArn(client: SQSClient, url: string): Promise<string> {
  const r = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return r.Attributes!.QueueArn!;
}

/**
 * Where `sluice run` and `sluice dev` run the handlers: one handler process per core, each running the ingest,
 * chunk, enrich and decide event sources as another Lambda instance would; the main process (the CLI, the
 * scheduler, the state machines) holds no records, no file scan and no NLP working set.
 * `SLUICE_HANDLER_PROCESSES` sets the count; 0 runs every handler in the main process. `SLUICE_HANDLER_MAX_RSS_MB`
 * sets the RSS at which a handler process is replaced (`HANDLER_PROCESS_MAX_RSS_MB`; 0: never), and
 * `SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB` the size of a scanned file after which it is (MiB, may be a fraction;
 * `HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB`; 0: never).
 * @example startLocalRuntime({ stateDir, ...handlerLayout() })
 * @throws Error when the first two are not whole numbers ≥ 0, or the last not a number ≥ 0.
 */
export function handlerLayout(env: NodeJS.ProcessEnv = process.env): Pick<LocalRuntimeOptions, 'functions' | 'handlerProcesses' | 'handlerMaxRssMb' | 'handlerRetireAfterScanMb'> {
  const number = (name: string, fallback: number, isWhole = true) => {
    const n = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
    if (!(isWhole ? Number.isInteger(n) : Number.isFinite(n)) || n < 0) throw new Error(`${name} must be a ${isWhole ? 'whole number' : 'number'} ≥ 0, not ${env[name]}`);
    return n;
  };
  const whole = (name: string, fallback: number) => number(name, fallback);
  const n = whole('SLUICE_HANDLER_PROCESSES', availableParallelism());
  if (n === 0) return { handlerProcesses: [] };
  // Every queue function runs in the handler processes, the ingest's plan too: in the main process (the user's
  // `sluice` process, with no V8 limits of its own) its scan of a 1 GiB file grew that process's peak by ~20 %.
  return {
    functions: [],
    handlerProcesses: Array.from({ length: n }, () => ['ingest', 'chunk', 'enrich', 'decide']),
    handlerMaxRssMb: whole('SLUICE_HANDLER_MAX_RSS_MB', HANDLER_PROCESS_MAX_RSS_MB),
    handlerRetireAfterScanMb: number('SLUICE_HANDLER_RETIRE_AFTER_SCAN_MB', HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB, false),
  };
}

/**
 * A cap split among n instances as evenly as whole numbers go: the first (cap mod n) take one more, so the shares
 * add up to the cap (at least 1 each).
 * @example capShares(32, 3) // [11, 11, 10]
 */
export function capShares(cap: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.max(1, Math.floor(cap / n) + (i < cap % n ? 1 : 0)));
}

/**
 * V8's limits for a handler process, as a Lambda instance has a memory size: with the default (~4 GB here) V8
 * grows its heap under the ingest's churn rather than collect, to ~550 MB RSS per process for ~120 MB live; with
 * these a 100 MiB ingest peaked at ~310 MB at the same speed (npm run bench:size, docs/benchmarks.md).
 */
export const HANDLER_PROCESS_FLAGS = ['--max-old-space-size=320', '--max-semi-space-size=16'];

/**
 * The RSS at which a handler process is replaced (`handlerMaxRssMb`). Over a long run its V8 heap and buffers
 * stay level but malloc keeps memory it freed (1 GiB ingest: heap 98-110 MB, buffers 30-77 MB, anonymous memory
 * rising in steps 179 -> 226 MB; heaptrack: malloc's live peak 87 MB in a 100 MiB run against 94 MB at 1 GiB,
 * while RSS differed by 46 MB), so a process's peak grew with how long it had run (274 -> 310 MB). Replaced as
 * Lambda recycles its instances (and as Celery's max-memory-per-child does it), the largest peak was 265 -> 281 MB
 * (medians of three, npm run bench:size -- --ingest-only --rounds 3; docs/benchmarks.md).
 */
export const HANDLER_PROCESS_MAX_RSS_MB = 265;

/**
 * The size of a scanned file after which the handler process that planned it is replaced (`handlerRetireAfterScanMb`).
 * The plan reads the whole file through its sockets in one invocation (~3 s at 1 GiB); malloc keeps ~60 MB of the
 * freed buffers after it, and that process alone then reached the memory ceiling and overshot it (a 1 GiB ingest's
 * largest peak 266-270 MB, 13 % over a 100 MiB one's). Replaced after its plan while the others take the chunks, the
 * largest peaks at 1 GiB were 240-254 MB in five runs at the same speed (npm run bench:size -- --ingest-only
 * --rounds 3, and side by side; docs/benchmarks.md). A 100 MiB plan (~0.3 s) keeps its process.
 */
export const HANDLER_PROCESS_RETIRE_AFTER_SCAN_MB = 256;

/**
 * Enrich batches a process runs at once with the offline provider (an LLM's batches wait on the network, and take
 * the function's share of maxConcurrency). 10,000 notes on disk (npm run bench:pipeline's pipeline-disk child), nine
 * pairs side by side: 2 at once faster than 6 (a handler process's share of 12) in eight, by 8 % on average; the
 * handler processes' collector took 1.7-1.8 s each at 6, against 0.4 s in the in-process loop (docs/benchmarks.md).
 */
export const OFFLINE_ENRICH_BATCHES = 2;

/** The handler processes' pids, and those retired (at their memory ceiling, or after a scan) with their peak RSS (MB). */
interface HandlerProcesses {
  running: number[];
  retired: Array<{ pid: number; peakRssMb?: number; reason: string }>;
}

/**
 * Starts a handler process (`handler-process.ts`) and waits until its event sources run. One that dies unasked
 * (killed, out of memory) is replaced, as Lambda starts a new instance; the messages it held come back after
 * their visibility timeout. One that retires at its memory ceiling (`handlerMaxRssMb`) is replaced as it starts
 * finishing its batches in hand. `processes` holds the pids of those running and the peaks of those retired.
 */
async function startHandlerProcess(processes: HandlerProcesses, options: LocalRuntimeOptions, logStream: Writable): Promise<Helper> {
  const log = (level: 'ERROR' | 'INFO', entry: object) => {
    if (level === 'ERROR' || options.logLevel === undefined || options.logLevel === 'INFO' || options.logLevel === 'DEBUG') logStream.write(`${JSON.stringify({ level, functions: options.functions, ...entry })}\n`);
  };
  const gone = (pid: number) => {
    if (processes.running.includes(pid)) processes.running.splice(processes.running.indexOf(pid), 1);
  };
  let stopped = false;
  let latest: Helper | undefined;
  let current: Promise<Helper>;
  // Retired ones still finishing their batches: the runtime's stop waits for them.
  const leaving = new Set<Promise<void>>();
  const replace = () => {
    current = startOrRetry();
    current.then(
      (next) => {
        if (stopped) void next.stop(); // the runtime stopped while it started
      },
      (err: Error) => log('ERROR', { message: 'a handler process did not start', error: err.message }),
    );
  };
  const start = async (): Promise<Helper> => {
    let pid = 0;
    const { helper } = await startHelper<object, { kind: 'log'; text: string }>(new URL('./handler-process.ts', import.meta.url), options, (m) => logStream.write(m.text), 'handler', {
      nodeFlags: HANDLER_PROCESS_FLAGS,
      onLost: (exit) => {
        gone(pid);
        if (stopped) return;
        log('ERROR', { message: 'a handler process died; starting another', pid, ...exit });
        replace();
      },
      onRetiring: (exited, reason) => {
        if (!stopped) {
          log('INFO', { message: 'a handler process retires; it finishes its batches and another starts', pid, reason });
          replace();
        }
        const leaves = exited.then(({ peakRssMb }) => {
          gone(pid);
          processes.retired.push({ pid, peakRssMb, reason });
        });
        leaving.add(leaves);
        void leaves.finally(() => leaving.delete(leaves));
      },
    });
    pid = helper.pid;
    processes.running.push(pid);
    latest = helper;
    return helper;
  };
  // One killed while it started is started again (twice at most); one whose own code failed is not.
  const startOrRetry = (attempt = 1): Promise<Helper> =>
    start().catch((err: Error & { signal?: string | null }) => {
      if (!err.signal || stopped || attempt > 2) throw err;
      log('ERROR', { message: 'a handler process was killed while it started; starting another', signal: err.signal });
      return startOrRetry(attempt + 1);
    });
  current = startOrRetry();
  try {
    await current;
  } catch (err) {
    throw new Error(`a handler process (${options.functions?.join(', ')}) did not start: ${(err as Error).message}`);
  }
  return {
    get pid() {
      return latest!.pid;
    },
    async stop() {
      stopped = true;
      const helper = await current.catch(() => undefined);
      const result = (await helper?.stop()) ?? {};
      await Promise.all([...leaving]);
      return result;
    },
  };
}
