/**
 * Per-stage configuration, from `cdk.json`'s `sluice:stages` context: what differs between dev and prod.
 * Applied over the topology (the one description) to give the stage's topology, which is validated
 * with the same rules the local runtime uses.
 */
import { profileSchedules } from '../src/profiles/profile.ts';
import * as z from 'zod';
import { type FunctionName, type QueueName, type Topology, validateTopology } from '../src/topology/topology.ts';

const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
const fnNames = ['ingest', 'chunk', 'enrich', 'decide', 'backfill', 'reconcile', 'metrics', 'topics', 'score', 'improve'] as const satisfies readonly FunctionName[];
const queueNames = ['ingest', 'chunks', 'enrich', 'decide'] as const satisfies readonly QueueName[];

const functionOverrides = z
  .object({
    memoryMb: z.number().int().min(128).max(10_240),
    timeoutSeconds: z.number().int().min(1).max(900),
    batchSize: z.number().int().min(1).max(10_000),
    batchingWindowSeconds: z.number().int().min(0).max(300),
    maxConcurrency: z.number().int().min(2).max(1000),
    /** Only for functions that call the LLM: caps concurrent executions across all invocations. */
    reservedConcurrency: z.number().int().min(1),
  })
  .partial()
  .strict();

export const stageConfigSchema = z
  .object({
    account: z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id').optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1').optional(),
    functions: z.partialRecord(z.enum(fnNames), functionOverrides).default({}),
    queues: z
      .partialRecord(z.enum(queueNames), z.object({ visibilityTimeoutSeconds: z.number().int().min(1), maxReceiveCount: z.number().int().min(1) }).partial().strict())
      .default({}),
    schedules: z.record(z.string(), z.object({ enabled: z.boolean(), expression: z.string().optional() }).strict()).default({}),
    /** Keep buckets and the table when the stack is deleted (prod), or delete them with it (dev). */
    retainData: z.boolean(),
    pointInTimeRecovery: z.boolean(),
    logRetentionDays: z.number().refine((d) => (RETENTION_DAYS as readonly number[]).includes(d), `one of ${RETENTION_DAYS.join(', ')}`),
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']),
    tracing: z.boolean(),
    /** Ship source maps beside the bundles with `--enable-source-maps` on (readable stack traces, slower cold starts). */
    sourceMaps: z.boolean(),
    rejectsExpireDays: z.number().int().min(1),
    alarms: z
      .object({
        dlqVisibleMessages: z.number().int().min(1),
        functionErrors: z.number().int().min(1),
        email: z.string().email().optional(),
      })
      .strict(),
    model: z.string().min(1),
    defaultMode: z.enum(['fast', 'full']),
    /** How long a function trusts the active profile version it read before reading it again (seconds). */
    profileCacheSeconds: z.number().int().min(0).max(3600).default(60),
    /** Secrets Manager name of the OpenAI API key (a plain string secret). Never in env or code. */
    openAiSecretName: z.string().min(1),
  })
  .strict();

export type StageConfig = z.infer<typeof stageConfigSchema>;

export class UnknownStageError extends Error {}

/**
 * The named stage's config from the CDK context.
 * @throws UnknownStageError listing the known stages; Error naming each invalid field.
 */
export function stageConfig(stages: unknown, stage: string): StageConfig {
  const all = (stages ?? {}) as Record<string, unknown>;
  if (!Object.hasOwn(all, stage)) {
    throw new UnknownStageError(`unknown stage "${stage}": cdk.json defines ${Object.keys(all).sort().join(', ') || 'no stages'} (use -c stage=<name>)`);
  }
  const parsed = stageConfigSchema.safeParse(all[stage]);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${['sluice:stages', stage, ...i.path].join('.')}: ${i.message}`);
    throw new Error(`invalid stage config in cdk.json:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

/** The topology as this stage runs it: the stage's memory, timeouts, batching and queue settings applied. */
export function stageTopology(base: Topology, cfg: StageConfig): Topology {
  const t: Topology = structuredClone(base);
  for (const [name, o] of Object.entries(cfg.functions) as Array<[FunctionName, z.infer<typeof functionOverrides>]>) {
    const fn = t.functions[name];
    if (o.memoryMb !== undefined) fn.memoryMb = o.memoryMb;
    if (o.timeoutSeconds !== undefined) fn.timeoutSeconds = o.timeoutSeconds;
    if (fn.trigger) {
      if (o.batchSize !== undefined) fn.trigger.batchSize = o.batchSize;
      if (o.batchingWindowSeconds !== undefined) fn.trigger.batchingWindowSeconds = o.batchingWindowSeconds;
      if (o.maxConcurrency !== undefined) fn.trigger.maxConcurrency = o.maxConcurrency;
    }
  }
  for (const [name, o] of Object.entries(cfg.queues) as Array<[QueueName, object]>) Object.assign(t.queues[name], o);
  for (const [name, o] of Object.entries(cfg.schedules)) {
    const schedule = t.schedules[name];
    const ofProfiles = profileSchedules().map((p) => p.id);
    if (!schedule && !ofProfiles.includes(name)) throw new Error(`cdk.json schedules.${name}: no such schedule in the topology or a profile (known: ${[...Object.keys(t.schedules), ...ofProfiles].join(', ') || 'none'})`);
    if (schedule && o.expression) schedule.expression = o.expression;
  }
  validateTopology(t);
  for (const [name, o] of Object.entries(cfg.functions) as Array<[FunctionName, z.infer<typeof functionOverrides>]>) {
    const fn = t.functions[name];
    if (o.reservedConcurrency === undefined) continue;
    if (!fn.callsLlm) throw new Error(`cdk.json functions.${name}.reservedConcurrency: only functions that call the LLM reserve concurrency`);
    if (fn.trigger && o.reservedConcurrency < fn.trigger.maxConcurrency) {
      throw new Error(`cdk.json functions.${name}: reservedConcurrency ${o.reservedConcurrency} < maxConcurrency ${fn.trigger.maxConcurrency} (the event source would be throttled)`);
    }
  }
  return t;
}
