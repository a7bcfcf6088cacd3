// Under test: the CDK app per stage — generated from the same topology the local runtime runs (so they
// cannot drift), least-privilege roles equal to each function's access, cdk-nag clean, stage errors clear.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/app.ts';
import { stageConfig, stageTopology } from '../../lib/stage-config.ts';
import { jobIdFor } from '../../src/domain/job.ts';
import { startLocalRuntime } from '../../src/local/runtime.ts';
import { eventProblems } from '../../src/lambda/event-schemas.ts';
import { profileBackfillSchema, profileSchedules } from '../../src/profiles/profile.ts';
import { permissionsOf } from '../../src/topology/permissions.ts';
import { type FunctionName, type QueueName, type Topology, resourceName, topology, withOverrides } from '../../src/topology/topology.ts';

const context = JSON.parse(readFileSync('cdk.json', 'utf8')).context;
const STAGES = Object.keys(context['sluice:stages']);

/** Synthesizes one stage without bundling (assets are not what these tests look at). */
function synth(stage: string, base: Topology = topology, extraContext: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'sluice-cdk-'));
  const app = new App({ outdir, context: { ...context, ...extraContext, stage, 'aws:cdk:bundling-stacks': [] } });
  const { stack } = buildApp(app, base);
  let nag: unknown = null;
  try {
    app.synth();
  } catch (err) {
    const report = join(outdir, 'validation-report.json');
    nag = existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : (err as Error).message;
  }
  return { stack, template: Template.fromStack(stack), nag };
}

const ref = (t: Template, type: string, props: Record<string, unknown>) => {
  const found = Object.keys(t.findResources(type, { Properties: props }));
  expect(found, `${type} with ${JSON.stringify(props)}`).toHaveLength(1);
  return found[0]!;
};

describe.each(STAGES)('stage %s', (stage) => {
  const config = stageConfig(context['sluice:stages'], stage);
  const expected = stageTopology(topology, config);
  const { template: t, nag } = synth(stage);

  it('has no unacknowledged cdk-nag finding (AwsSolutions and Serverless packs)', () => {
    expect(nag).toBeNull();
  });

  it('holds a function per topology function with its memory, timeout, runtime and architecture', () => {
    for (const [name, fn] of Object.entries(expected.functions)) {
      t.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: resourceName(stage, name),
        MemorySize: fn.memoryMb,
        Timeout: fn.timeoutSeconds,
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: config.tracing ? { Mode: 'Active' } : Match.absent(),
        ReservedConcurrentExecutions: (fn.callsLlm ? config.functions[name as FunctionName]?.reservedConcurrency : undefined) ?? Match.absent(),
        // The Powertools tracer follows the stage: on in Lambda by default, it must be told when X-Ray is off.
        Environment: { Variables: Match.objectLike({ POWERTOOLS_TRACE_ENABLED: String(config.tracing) }) },
      });
    }
  });

  it('holds each queue with its DLQ, visibility timeout and maxReceiveCount, and each event source with its batching and concurrency', () => {
    for (const [name, q] of Object.entries(expected.queues) as Array<[QueueName, Topology['queues'][QueueName]]>) {
      const dlq = ref(t, 'AWS::SQS::Queue', { QueueName: resourceName(stage, `${name}-dlq`) });
      const queue = ref(t, 'AWS::SQS::Queue', {
        QueueName: resourceName(stage, name),
        VisibilityTimeout: q.visibilityTimeoutSeconds,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: q.maxReceiveCount },
        SqsManagedSseEnabled: true,
      });
      const consumer = Object.entries(expected.functions).find(([, f]) => f.trigger?.queue === name);
      const trigger = consumer![1].trigger!;
      t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
        BatchSize: trigger.batchSize,
        MaximumBatchingWindowInSeconds: trigger.batchingWindowSeconds || Match.absent(),
        ScalingConfig: { MaximumConcurrency: trigger.maxConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      // Lambda's rule, checked on the synthesized numbers too.
      expect(q.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(6 * consumer![1].timeoutSeconds);
    }
  });

  it('gives each function a role that allows exactly its topology access (plus its logs, its queue and tracing)', () => {
    for (const [name, fn] of Object.entries(expected.functions)) {
      const role = ref(t, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp(` ${name}: `) });
      expect(t.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp(` ${name}: `) } })[role]!.Properties.ManagedPolicyArns).toBeUndefined();
      const policies = Object.values(t.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }));
      const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement) as Array<{ Action: string | string[] }>;
      const granted = statements.flatMap((s) => [s.Action].flat()).sort();
      const expected = [
        ...permissionsOf(fn.access).map((p) => p.action),
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        ...(fn.trigger ? ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'] : []),
        ...(config.tracing ? ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'] : []),
        ...(fn.callsLlm ? ['secretsmanager:GetSecretValue'] : []),
        ...(fn.access.publishesAlerts ? ['kms:Decrypt', 'kms:GenerateDataKey'] : []),
      ].sort();
      expect(granted, name).toEqual(expected);
      expect(granted.some((a) => a.includes('*'))).toBe(false);
    }
  });

  it('holds each topology schedule with the stage’s expression and state, targeting its function with a DLQ', () => {
    expect(Object.keys(expected.schedules).length).toBeGreaterThan(0);
    for (const [name, schedule] of Object.entries(expected.schedules)) {
      const fn = ref(t, 'AWS::Lambda::Function', { FunctionName: resourceName(stage, schedule.target) });
      t.hasResourceProperties('AWS::Events::Rule', {
        Name: resourceName(stage, name),
        ScheduleExpression: schedule.expression,
        State: config.schedules[name]?.enabled === false ? 'DISABLED' : 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn, 'Arn'] }, DeadLetterConfig: Match.anyValue() })],
      });
    }
  });

  it("holds each profile's own backfill schedule: its cron() rule, the backfill function, the Scheduled Event shape with what to backfill as detail", () => {
    const own = profileSchedules();
    expect(own.map((p) => p.id)).toEqual(expect.arrayContaining(['social-facebook-nightly', 'social-instagram-nightly']));
    const fn = ref(t, 'AWS::Lambda::Function', { FunctionName: resourceName(stage, 'backfill') });
    for (const p of own) {
      const rules = t.findResources('AWS::Events::Rule', { Properties: { Name: resourceName(stage, p.id) } });
      type Join = { 'Fn::Join': [string, Array<string | object>] };
      const [rule] = Object.values(rules) as Array<{ Properties: { ScheduleExpression: string; Targets: Array<{ Arn: unknown; DeadLetterConfig?: unknown; InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: Join } }> } }>;
      expect(rule, p.id).toBeDefined();
      expect(rule!.Properties.ScheduleExpression).toBe(p.expression);
      const [target] = rule!.Properties.Targets;
      expect(target!.Arn).toEqual({ 'Fn::GetAtt': [fn, 'Arn'] });
      expect(target!.DeadLetterConfig).toBeDefined();
      expect(Object.values(target!.InputTransformer.InputPathsMap).sort()).toEqual(['$.id', '$.time']);
      // The template, account and region and the event's id and time filled in, is the event the backfill handler's parser takes.
      const text = target!.InputTransformer.InputTemplate['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '123456789012')).join('');
      const event = JSON.parse(text.replace(/<(id|time)>/g, (_m, k: string) => (k === 'time' ? '"2026-12-04T02:00:00Z"' : '"e-1"')));
      expect(eventProblems('backfill', event)).toBeUndefined();
      expect(profileBackfillSchema.parse(event.detail)).toEqual(p.backfill);
      expect(event).toMatchObject({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: p.backfill });
    }
  });

  it('keeps buckets private, encrypted and TLS-only, versions the drop bucket, expires rejects, and notifies the ingest queue for incoming/', () => {
    const buckets = t.findResources('AWS::S3::Bucket');
    for (const b of Object.values(buckets)) {
      expect(b.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      expect(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    }
    expect(Object.values(t.findResources('AWS::S3::BucketPolicy')).filter((p) => JSON.stringify(p).includes('"aws:SecureTransport":"false"'))).toHaveLength(Object.keys(buckets).length);
    t.hasResourceProperties('AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'rejects/', ExpirationInDays: config.rejectsExpireDays })]) },
    });
    t.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [Match.objectLike({ Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: topology.dropPrefix }] } } })],
      },
    });
    const retain = config.retainData ? 'Retain' : 'Delete';
    t.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: retain, Properties: Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: config.pointInTimeRecovery } }) });
  });

  it('holds the config bucket of profile versions: its name an output, read by exactly the functions that load profiles, each told how long to trust the active version', () => {
    const outputs = t.findOutputs('ConfigBucketName');
    expect(Object.keys(outputs)).toHaveLength(1);
    const bucketId = (Object.values(outputs)[0]!.Value as { Ref: string }).Ref;
    expect(t.findResources('AWS::S3::Bucket')[bucketId]).toBeDefined();
    const readers = Object.entries(expected.functions).filter(([, fn]) => fn.access.buckets?.config).map(([name]) => name).sort();
    // Every function that runs profile data reads the active version (scoring included); none may write one.
    expect(readers).toEqual(['backfill', 'chunk', 'decide', 'enrich', 'improve', 'ingest', 'metrics', 'reconcile', 'score', 'topics']);
    for (const [name, fn] of Object.entries(expected.functions)) {
      const lambda = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: resourceName(stage, name) } }))[0]!;
      const env = lambda.Properties.Environment.Variables as Record<string, unknown>;
      if (fn.access.buckets?.config) {
        expect(env.BUCKET_CONFIG, name).toEqual({ Ref: bucketId });
        expect(env.SLUICE_PROFILE_TTL_SECONDS, name).toBe(String(config.profileCacheSeconds));
        // Only the improve function writes there (the versions it pushes and its run's state).
        expect(fn.access.buckets.config, name).toEqual(name === 'improve' ? ['GetObject', 'PutObject'] : ['GetObject']);
      } else expect(env.BUCKET_CONFIG, name).toBeUndefined();
    }
  });

  it('holds the status table with the topology keys and indexes', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: resourceName(stage, 'status'),
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: topology.table.partitionKey, KeyType: 'HASH' },
        { AttributeName: topology.table.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: Object.entries(topology.table.indexes).map(([IndexName, i]) =>
        Match.objectLike({ IndexName, KeySchema: [{ AttributeName: i.partitionKey, KeyType: 'HASH' }, { AttributeName: i.sortKey, KeyType: 'RANGE' }] }),
      ),
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('alarms on every DLQ and every function’s errors, to the encrypted alarm topic', () => {
    const topic = ref(t, 'AWS::SNS::Topic', { TopicName: resourceName(stage, 'alarms') });
    for (const q of Object.keys(expected.queues)) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: resourceName(stage, `${q}-dlq-messages`),
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: config.alarms.dlqVisibleMessages,
        AlarmActions: [{ Ref: topic }],
      });
    }
    for (const fn of Object.keys(expected.functions)) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: resourceName(stage, `${fn}-errors`), MetricName: 'Errors', Threshold: config.alarms.functionErrors, AlarmActions: [{ Ref: topic }] });
    }
    t.hasResourceProperties('AWS::SNS::Topic', { TopicName: resourceName(stage, 'alarms'), KmsMasterKeyId: Match.anyValue() });
  });

  it('alarms on every dead-letter queue in the template (redrive and rule targets alike), to the alarm topic', () => {
    // Every queue something dead-letters into, read from the template: no list to keep in step with the stack.
    const arnOf = (ref: unknown) => (ref as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt']?.[0];
    const queues = t.findResources('AWS::SQS::Queue');
    const redriven = Object.values(queues).map((q) => arnOf(q.Properties?.RedrivePolicy?.deadLetterTargetArn));
    const ruleDlqs = Object.values(t.findResources('AWS::Events::Rule')).flatMap((r) =>
      (r.Properties.Targets as Array<{ DeadLetterConfig?: { Arn: unknown } }>).map((target) => arnOf(target.DeadLetterConfig?.Arn)),
    );
    const dlqs = new Set([...redriven, ...ruleDlqs].filter((id): id is string => id !== undefined));
    expect([...dlqs].every((id) => id in queues)).toBe(true);
    // The pipeline queues' DLQs and the schedules' one at least.
    expect(dlqs.size).toBeGreaterThanOrEqual(Object.keys(expected.queues).length + 1);

    const topic = ref(t, 'AWS::SNS::Topic', { TopicName: resourceName(stage, 'alarms') });
    for (const dlq of dlqs) {
      const alarms = t.findResources('AWS::CloudWatch::Alarm', {
        Properties: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
          // ≥ 1 visible message, i.e. > 0
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Threshold: config.alarms.dlqVisibleMessages,
          AlarmActions: [{ Ref: topic }],
        },
      });
      expect(Object.keys(alarms), `alarm on ${dlq}`).toHaveLength(1);
    }
  });

  it('deploys each state machine from its ASL file byte for byte, the placeholders bound to the topology functions, logged and allowed to invoke them', () => {
    for (const [name, spec] of Object.entries(expected.stateMachines)) {
      const machines = Object.values(t.findResources('AWS::StepFunctions::StateMachine', { Properties: { StateMachineName: resourceName(stage, name) } }));
      expect(machines).toHaveLength(1);
      const props = machines[0]!.Properties;
      expect(props.DefinitionString).toBe(readFileSync(spec.definitionFile, 'utf8'));
      const placeholders = new Set([...String(props.DefinitionString).matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]));
      expect([...placeholders].sort()).toEqual(Object.keys(spec.functions).sort());
      for (const [placeholder, fn] of Object.entries(spec.functions)) {
        const fnId = ref(t, 'AWS::Lambda::Function', { FunctionName: resourceName(stage, fn) });
        expect(props.DefinitionSubstitutions[placeholder]).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
        // A Task state may not outlive the function it invokes.
        // (A state waiting for a task token waits for a person, not the function: its timeout is the wait's.)
        const states = Object.values((JSON.parse(String(props.DefinitionString)) as { States: Record<string, unknown> }).States);
        const timeouts = [...JSON.stringify(states.filter((st) => (st as { Resource?: string }).Resource !== 'arn:aws:states:::lambda:invoke.waitForTaskToken')).matchAll(/"TimeoutSeconds":(\d+)/g)].map((m) => Number(m[1]));
        expect(Math.max(...timeouts)).toBeLessThanOrEqual(expected.functions[fn].timeoutSeconds);
      }
      expect(props.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
      expect(props.TracingConfiguration?.Enabled ?? false).toBe(config.tracing);
      const role = props.RoleArn['Fn::GetAtt'][0];
      const actions = Object.values(t.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }))
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .flatMap((st: { Action: string | string[] }) => [st.Action].flat());
      expect(actions).toContain('lambda:InvokeFunction');
    }
  });

  it('ships source maps, and turns on --enable-source-maps, only where the stage says so', () => {
    const fns = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: Match.stringLikeRegexp(`^${resourceName(stage, '')}`) } }));
    expect(fns).toHaveLength(Object.keys(expected.functions).length);
    for (const fn of fns) expect(fn.Properties.Environment.Variables.NODE_OPTIONS, fn.Properties.FunctionName).toBe(config.sourceMaps ? '--enable-source-maps' : undefined);
  });

  it('reads the OpenAI key from the secret the operator creates: none in the template, its name an output, read access to that name only', () => {
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    t.hasOutput('OpenAiSecretName', { Value: config.openAiSecretName });
    const secretArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:secret:${config.openAiSecretName}-??????`]] };
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const reads = statements.filter((st) => [st.Action].flat().some((a) => a.startsWith('secretsmanager:')));
    expect(reads).toHaveLength(Object.values(expected.functions).filter((f) => f.callsLlm).length);
    for (const st of reads) expect(st).toMatchObject({ Action: 'secretsmanager:GetSecretValue', Resource: secretArn });
  });

  it('passes the OpenAI key by secret name only, never as a value', () => {
    const env = Object.values(t.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Environment?.Variables ?? {});
    const llm = env.filter((v) => v.OPENAI_SECRET_NAME);
    expect(llm).toHaveLength(Object.values(expected.functions).filter((f) => f.callsLlm).length);
    expect(llm[0]).toMatchObject({ OPENAI_SECRET_NAME: config.openAiSecretName, SLUICE_MODEL: config.model });
    expect(JSON.stringify(env)).not.toMatch(/OPENAI_API_KEY|sk-/);
  });
});

describe('stages and drift', () => {
  it('refuses a stage cdk.json does not define, listing the ones it does', () => {
    expect(() => synth('qa')).toThrow(`unknown stage "qa": cdk.json defines ${STAGES.sort().join(', ')}`);
  });

  it('names each invalid stage setting', () => {
    const stages = { ...context['sluice:stages'], dev: { ...context['sluice:stages'].dev, logRetentionDays: 8, alarms: {} } };
    expect(() => synth('dev', topology, { 'sluice:stages': stages })).toThrow(/logRetentionDays: one of .*\n.*alarms\.dlqVisibleMessages/);
  });

  it('refuses a stage whose function timeout breaks the 6× visibility rule', () => {
    const stages = { ...context['sluice:stages'], dev: { ...context['sluice:stages'].dev, functions: { decide: { timeoutSeconds: 200 } } } };
    expect(() => synth('dev', topology, { 'sluice:stages': stages })).toThrow('queue decide: visibility timeout 720s < 6 × decide timeout 200s');
  });

  it('synthesizes every schedule in the topology, disabled where the stage says so', () => {
    const withSchedule: Topology = { ...structuredClone(topology), schedules: { ...topology.schedules, nightly: { expression: 'cron(0 3 * * ? *)', target: 'decide' } } };
    const enabled = synth('dev', withSchedule).template;
    enabled.hasResourceProperties('AWS::Events::Rule', { Name: 'sluice-dev-nightly', ScheduleExpression: 'cron(0 3 * * ? *)', State: 'ENABLED' });
    const stages = { ...context['sluice:stages'], dev: { ...context['sluice:stages'].dev, schedules: { ...context['sluice:stages'].dev.schedules, nightly: { enabled: false, expression: 'rate(6 hours)' } } } };
    const disabled = synth('dev', withSchedule, { 'sluice:stages': stages }).template;
    disabled.hasResourceProperties('AWS::Events::Rule', { Name: 'sluice-dev-nightly', ScheduleExpression: 'rate(6 hours)', State: 'DISABLED' });
  });

  it('the local runtime executes the very definition the template deploys', async () => {
    const { template } = synth('dev');
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine', { Properties: { StateMachineName: resourceName('dev', 'score') } }));
    const rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT' });
    try {
      const summary = (await rt.execute('score', { benchmark: 'claims-v1' })) as { totals: { items: number; scored: number } };
      expect(summary.totals.scored).toBe(summary.totals.items);
      expect(await rt.stateMachineSource('score')).toBe(machine!.Properties.DefinitionString);
    } finally {
      await rt.stop();
    }
  });

  it('a batch size changed in the topology changes both the template and the local runtime', async () => {
    const changed = withOverrides(topology, { triggers: { enrich: { batchSize: 7 } } });
    const { template } = synth('dev', changed);
    const dev = stageTopology(changed, stageConfig(context['sluice:stages'], 'dev'));
    expect(dev.functions.enrich.trigger!.batchSize).toBe(7);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 7, ScalingConfig: { MaximumConcurrency: dev.functions.enrich.trigger!.maxConcurrency } });

    const batches: number[] = [];
    const rt = await startLocalRuntime({
      topology: changed,
      logLevel: 'SILENT',
      wrapHandler: (fn, h) => (fn === 'enrich' ? async (event, ctx) => (batches.push(event.Records.length), h(event, ctx)) : h),
    });
    try {
      // 90 claims: nine messages of ten groups, more than one batch of seven.
      const rows = Array.from({ length: 90 }, (_, i) => `C-${i},1,The roof was damaged by hail and water came through the ceiling of the bedroom.,15`);
      const Key = 'incoming/claims/batch.csv';
      const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key, Body: ['CLAIMNO,NOTEID,FN_TEXT,LOBCD', ...rows].join('\n') }));
      const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, Key, put.ETag!), { timeoutMs: 60_000 });
      expect(job.counts.decided).toBe(90);
      expect(Math.max(...batches)).toBe(7);
    } finally {
      await rt.stop();
    }
  });
});
