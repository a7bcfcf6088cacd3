/**
 * The sluice stack for one stage, generated from the topology (`src/topology/topology.ts`) with the
 * stage's config applied: buckets, the status table, a queue + DLQ and a function per stage, event
 * source mappings, S3 → SQS notifications, schedules, alarms to SNS, and least-privilege roles derived
 * from each function's `access` (the same description the local runtime enforces). The OpenAI key's
 * secret is the operator's: the stack reads it by name and creates none (docs/deploying.md).
 */
import { Duration, RemovalPolicy, Stack, type StackProps, CfnOutput, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { profileSchedules } from '../src/profiles/profile.ts';
import { type Permission, permissionsOf } from '../src/topology/permissions.ts';
import {
  type BucketName,
  type FunctionName,
  type QueueName,
  type StateMachineName,
  ALERT_TOPIC_ENV,
  TABLE_ENV,
  type Topology,
  bucketEnv,
  dlqUrlEnv,
  queueUrlEnv,
  resourceName,
} from '../src/topology/topology.ts';
import { REPO_ROOT, esbuildSettings, runtimeDataCommands, sourceMapSettings } from './bundling.ts';
import type { StageConfig } from './stage-config.ts';

export interface SluiceStackProps extends StackProps {
  stage: string;
  topology: Topology;
  config: StageConfig;
}

export class SluiceStack extends Stack {
  readonly functions = {} as Record<FunctionName, NodejsFunction>;
  readonly queues = {} as Record<QueueName, { queue: sqs.Queue; dlq: sqs.Queue }>;
  readonly buckets = {} as Record<BucketName, s3.Bucket>;
  readonly stateMachines = {} as Record<StateMachineName, sfn.StateMachine>;
  readonly table: dynamodb.Table;
  readonly alarmTopic: sns.Topic;

  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    const { stage, topology: t, config } = props;
    const removalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // --- storage ---
    const accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
      autoDeleteObjects: !config.retainData,
    });
    Validations.of(accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket itself; logging it into itself would loop.' });
    for (const [name, spec] of Object.entries(t.buckets) as Array<[BucketName, Topology['buckets'][BucketName]]>) {
      this.buckets[name] = new s3.Bucket(this, `${pascal(name)}Bucket`, {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        versioned: spec.versioned,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: `${name}/`,
        lifecycleRules: [
          ...(spec.expiringPrefixes ?? []).map((prefix) => ({ prefix, expiration: Duration.days(config.rejectsExpireDays) })),
          ...(spec.versioned ? [{ noncurrentVersionExpiration: Duration.days(30) }] : []),
        ],
        removalPolicy,
        autoDeleteObjects: !config.retainData,
      });
    }

    const tableSpec = t.table;
    this.table = new dynamodb.Table(this, 'StatusTable', {
      tableName: resourceName(stage, 'status'),
      partitionKey: { name: tableSpec.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: tableSpec.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: config.pointInTimeRecovery },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expiresAt',
      deletionProtection: config.retainData,
      removalPolicy,
    });
    for (const [indexName, index] of Object.entries(tableSpec.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      });
    }
    if (!config.pointInTimeRecovery) {
      Validations.of(this.table).acknowledge({ id: 'AwsSolutions-DDB3', reason: `Stage ${stage} holds re-creatable status only; point-in-time recovery is on where cdk.json says so (prod).` });
    }

    // --- alarm topic ---
    const alarmKey = new kms.Key(this, 'AlarmTopicKey', { enableKeyRotation: true, description: `sluice ${stage} alarm topic`, removalPolicy });
    alarmKey.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { topicName: resourceName(stage, 'alarms'), masterKey: alarmKey, enforceSSL: true });
    if (config.alarms.email) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
    const alarmAction = new cwActions.SnsAction(this.alarmTopic);

    /** Every dead-letter queue of the stack is made here, so none goes without its alarm. */
    const deadLetterQueue = (id: string, name: string, retentionDays: number, holds: string): sqs.Queue => {
      const dlq = new sqs.Queue(this, `${id}Dlq`, {
        queueName: resourceName(stage, `${name}-dlq`),
        retentionPeriod: Duration.days(retentionDays),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      acknowledgeDlq(dlq);
      dlq
        .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) })
        .createAlarm(this, `${id}DlqAlarm`, {
          alarmName: resourceName(stage, `${name}-dlq-messages`),
          alarmDescription: `Messages in the ${name} dead-letter queue: ${holds}`,
          threshold: config.alarms.dlqVisibleMessages,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        })
        .addAlarmAction(alarmAction);
      return dlq;
    };

    // --- queues ---
    for (const [name, spec] of Object.entries(t.queues) as Array<[QueueName, Topology['queues'][QueueName]]>) {
      const dlq = deadLetterQueue(pascal(name), name, spec.dlqRetentionDays, 'groups or files that failed every attempt');
      const queue = new sqs.Queue(this, `${pascal(name)}Queue`, {
        queueName: resourceName(stage, name),
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        retentionPeriod: Duration.days(spec.retentionDays),
        deadLetterQueue: { queue: dlq, maxReceiveCount: spec.maxReceiveCount },
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      this.queues[name] = { queue, dlq };
    }

    // S3 → SQS for the drop prefix, as the local runtime delivers it.
    this.buckets.drop.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.SqsDestination(this.queues.ingest.queue), { prefix: t.dropPrefix });

    // --- functions ---
    // The operator creates the secret (its value is theirs, not CloudFormation's); a function finding none runs offline.
    const openAiSecret = secretsmanager.Secret.fromSecretNameV2(this, 'OpenAiKey', config.openAiSecretName);
    const sourceMaps = sourceMapSettings(config.sourceMaps);
    for (const [name, spec] of Object.entries(t.functions) as Array<[FunctionName, Topology['functions'][FunctionName]]>) {
      const functionName = resourceName(stage, name);
      const logGroup = new logs.LogGroup(this, `${pascal(name)}Logs`, {
        logGroupName: `/aws/lambda/${functionName}`,
        retention: config.logRetentionDays as logs.RetentionDays,
        removalPolicy,
      });
      const role = new iam.Role(this, `${pascal(name)}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `sluice ${stage} ${name}: exactly what its handler calls (topology access)`,
      });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
      for (const statement of this.statementsFor(permissionsOf(spec.access))) role.addToPolicy(statement);

      const environment: Record<string, string> = {
        ...(sourceMaps.nodeOptions ? { NODE_OPTIONS: sourceMaps.nodeOptions } : {}),
        SLUICE_STAGE: stage,
        SLUICE_DEFAULT_MODE: config.defaultMode,
        POWERTOOLS_SERVICE_NAME: `sluice-${name}`,
        POWERTOOLS_LOG_LEVEL: config.logLevel,
        POWERTOOLS_METRICS_NAMESPACE: 'sluice',
        // Powertools tracer is on wherever it runs in Lambda unless told: it follows the stage's X-Ray setting.
        POWERTOOLS_TRACE_ENABLED: String(config.tracing),
      };
      if (spec.access.table) environment[TABLE_ENV] = this.table.tableName;
      for (const b of Object.keys(spec.access.buckets ?? {}) as BucketName[]) environment[bucketEnv(b)] = this.buckets[b].bucketName;
      if (spec.access.buckets?.config) environment.SLUICE_PROFILE_TTL_SECONDS = String(config.profileCacheSeconds);
      for (const q of spec.access.sendsTo ?? []) environment[queueUrlEnv(q)] = this.queues[q].queue.queueUrl;
      for (const q of [...(spec.access.readsDlqDepth ?? []), ...(spec.access.sendsToDlq ?? [])]) environment[dlqUrlEnv(q)] = this.queues[q].dlq.queueUrl;
      if (spec.access.publishesAlerts) {
        environment[ALERT_TOPIC_ENV] = this.alarmTopic.topicArn;
        // The alert topic is KMS-encrypted: a publisher needs its data key.
        role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [alarmKey.keyArn] }));
      }
      if (spec.callsLlm) {
        environment.SLUICE_MODEL = config.model;
        environment.OPENAI_SECRET_NAME = config.openAiSecretName;
        // Powertools parameters' getSecret calls GetSecretValue only. A secret's ARN ends in a random 6-character
        // suffix, which a name-only ARN lacks: without the wildcard the grant would match no secret at all.
        role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [`${openAiSecret.secretArn}-??????`] }));
      }

      const fn = new NodejsFunction(this, `${pascal(name)}Function`, {
        functionName,
        description: spec.description,
        entry: join(REPO_ROOT, spec.entry),
        handler: spec.handlerExport,
        projectRoot: REPO_ROOT,
        depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: spec.memoryMb,
        timeout: Duration.seconds(spec.timeoutSeconds),
        role,
        logGroup,
        tracing: config.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
        reservedConcurrentExecutions: spec.callsLlm ? config.functions[name]?.reservedConcurrency : undefined,
        environment,
        bundling: {
          format: OutputFormat.ESM,
          target: esbuildSettings.target,
          minify: esbuildSettings.minify,
          sourceMap: sourceMaps.sourcemap,
          sourcesContent: sourceMaps.sourcesContent,
          mainFields: esbuildSettings.mainFields,
          banner: esbuildSettings.banner,
          externalModules: esbuildSettings.external,
          logLevel: esbuildSettings.logLevel as LogLevel, // 'warning', the enum's value
          esbuildArgs: { '--log-override': Object.entries(esbuildSettings.logOverride).map(([id, level]) => `${id}=${level}`) },
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (_inputDir: string, outputDir: string) => runtimeDataCommands(outputDir),
          },
        },
      });
      if (spec.trigger) {
        const { queue } = this.queues[spec.trigger.queue];
        Validations.of(fn).acknowledge({
          id: 'Serverless-LambdaEventSourceMappingDestination',
          reason: "An SQS event source's failed messages go to the queue's redrive DLQ (alarmed); on-failure destinations are for stream and Kafka sources.",
        });
        fn.addEventSource(
          new SqsEventSource(queue, {
            batchSize: spec.trigger.batchSize,
            maxBatchingWindow: spec.trigger.batchingWindowSeconds ? Duration.seconds(spec.trigger.batchingWindowSeconds) : undefined,
            maxConcurrency: spec.trigger.maxConcurrency,
            reportBatchItemFailures: true,
          }),
        );
      }
      fn.metricErrors({ period: Duration.minutes(5) })
        .createAlarm(this, `${pascal(name)}ErrorsAlarm`, {
          alarmName: resourceName(stage, `${name}-errors`),
          alarmDescription: `Invocations of ${functionName} that failed (a batch that threw, a timeout, a crash)`,
          threshold: config.alarms.functionErrors,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        })
        .addAlarmAction(alarmAction);
      this.functions[name] = fn;
      this.acknowledgeFunctionFindings(name, fn, role, spec, config);
    }

    // --- schedules ---
    const scheduleDlq = deadLetterQueue('Schedule', 'schedules', 14, 'scheduled invocations EventBridge could not deliver after its retries');
    for (const [name, schedule] of Object.entries(t.schedules)) {
      new events.Rule(this, `${pascal(name)}Schedule`, {
        ruleName: resourceName(stage, name),
        description: `sluice ${stage}: ${name}`,
        schedule: events.Schedule.expression(schedule.expression),
        enabled: config.schedules[name]?.enabled ?? true,
        targets: [new eventTargets.LambdaFunction(this.functions[schedule.target], { deadLetterQueue: scheduleDlq, retryAttempts: 2, maxEventAge: Duration.hours(2) })],
      });
    }
    // Profiles' own backfill schedules: the Scheduled Event's shape, with what to backfill as its detail.
    for (const p of profileSchedules()) {
      new events.Rule(this, `${pascal(p.id)}Schedule`, {
        ruleName: resourceName(stage, p.id),
        description: `sluice ${stage}: ${p.description}`.slice(0, 512),
        schedule: events.Schedule.expression(config.schedules[p.id]?.expression ?? p.expression),
        enabled: config.schedules[p.id]?.enabled ?? true,
        targets: [
          new eventTargets.LambdaFunction(this.functions.backfill, {
            deadLetterQueue: scheduleDlq,
            retryAttempts: 2,
            maxEventAge: Duration.hours(2),
            event: events.RuleTargetInput.fromObject({
              version: '0',
              id: events.EventField.eventId,
              'detail-type': 'Scheduled Event',
              source: 'aws.events',
              account: this.account,
              time: events.EventField.time,
              region: this.region,
              resources: [],
              detail: p.backfill,
            }),
          }),
        ],
      });
    }

    // --- state machines: the ASL file as is, its function placeholders substituted ---
    for (const [name, spec] of Object.entries(t.stateMachines) as Array<[StateMachineName, Topology['stateMachines'][StateMachineName]]>) {
      const stateMachineName = resourceName(stage, name);
      const logGroup = new logs.LogGroup(this, `${pascal(name)}StateMachineLogs`, {
        logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
        retention: config.logRetentionDays as logs.RetentionDays,
        removalPolicy,
      });
      const machine = new sfn.StateMachine(this, `${pascal(name)}StateMachine`, {
        stateMachineName,
        comment: spec.description,
        // Inline, byte for byte the file the local runtime executes (a test compares them).
        definitionBody: sfn.DefinitionBody.fromString(readFileSync(join(REPO_ROOT, spec.definitionFile), 'utf8')),
        definitionSubstitutions: Object.fromEntries(Object.entries(spec.functions).map(([placeholder, fn]) => [placeholder, this.functions[fn].functionArn])),
        // Execution data stays out of the logs: states carry ids only, but the log is no place for inputs.
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
        tracingEnabled: config.tracing,
        timeout: Duration.hours(2),
      });
      for (const fn of new Set(Object.values(spec.functions))) {
        this.functions[fn].grantInvoke(machine);
        const fnId = this.getLogicalId(this.functions[fn].node.defaultChild as lambda.CfnFunction);
        Validations.of(machine).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${fnId}.Arn>:*]`,
          reason: `CDK's grantInvoke allows the function's versions and aliases (${fn}:*) besides the function itself; it is the one function the Task states name.`,
        });
      }
      if (!config.tracing) {
        Validations.of(machine).acknowledge({ id: 'AwsSolutions-SF2', reason: 'X-Ray tracing is off in this stage (cdk.json tracing: false); prod turns it on.' });
        Validations.of(machine).acknowledge({ id: 'Serverless-StepFunctionStateMachineXray', reason: 'X-Ray tracing is off in this stage (cdk.json tracing: false); prod turns it on.' });
      }
      this.stateMachines[name] = machine;
      new CfnOutput(this, `${pascal(name)}StateMachineArn`, { value: machine.stateMachineArn, description: spec.description });
    }

    // The S3 notification and auto-delete custom resources are CDK's own handlers.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: "Only CDK's own custom-resource handlers (bucket notifications, auto-delete objects) use the basic execution role; sluice's functions have their own least-privilege roles.",
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: "CDK's bucket-notification handler must call s3:PutBucketNotification on buckets it does not know at synth; X-Ray segment actions and Step Functions' log delivery (logs:CreateLogDelivery and kin) take no resource.",
    });
    Validations.of(this).acknowledge({ id: 'AwsSolutions-L1', reason: "CDK's own custom-resource handlers pin their runtime; sluice's functions use Node.js 24, the latest." });

    new CfnOutput(this, 'DropBucketName', { value: this.buckets.drop.bucketName, description: `Drop files under ${t.dropPrefix}<profile>/` });
    new CfnOutput(this, 'ResultsBucketName', { value: this.buckets.results.bucketName });
    new CfnOutput(this, 'ConfigBucketName', { value: this.buckets.config.bucketName, description: 'Profile and benchmark versions: sluice profile push NAME --stage STAGE --config-bucket <this>' });
    new CfnOutput(this, 'StatusTableName', { value: this.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'OpenAiSecretName', {
      value: config.openAiSecretName,
      description: 'The OpenAI key the LLM-calling functions read: create it in Secrets Manager (a plain string); without it they run offline',
    });
  }

  /** IAM statements for a set of permissions: one per resource, its actions sorted. */
  private statementsFor(permissions: Permission[]): iam.PolicyStatement[] {
    const byResource = new Map<string, { resources: string[]; actions: Set<string> }>();
    for (const p of permissions) {
      const resources = this.arnsOf(p);
      const key = resources.join(' ');
      const entry = byResource.get(key) ?? { resources, actions: new Set<string>() };
      entry.actions.add(p.action);
      byResource.set(key, entry);
    }
    return [...byResource.values()].map((e) => new iam.PolicyStatement({ actions: [...e.actions].sort(), resources: e.resources }));
  }

  private arnsOf(p: Permission): string[] {
    const r = p.resource;
    if (r.kind === 'table') return [r.index ? `${this.table.tableArn}/index/${r.index}` : this.table.tableArn];
    if (r.kind === 'bucket') return [p.action === 's3:ListBucket' ? this.buckets[r.name].bucketArn : this.buckets[r.name].arnForObjects('*')];
    if (r.kind === 'dlq') return [this.queues[r.name].dlq.queueArn];
    if (r.kind === 'alertTopic') return [this.alarmTopic.topicArn];
    return [this.queues[r.name].queue.queueArn];
  }

  private acknowledgeFunctionFindings(
    name: FunctionName,
    fn: NodejsFunction,
    role: iam.Role,
    spec: Topology['functions'][FunctionName],
    config: StageConfig,
  ): void {
    const stack = Stack.of(this);
    for (const b of Object.keys(spec.access.buckets ?? {}) as BucketName[]) {
      const bucketId = stack.getLogicalId(this.buckets[b].node.defaultChild as s3.CfnBucket);
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
        reason: `${name} reads or writes objects whose keys are only known at run time (job ids, dropped file names) in the ${b} bucket; the actions are listed exactly.`,
      });
    }
    if (spec.callsLlm) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${config.openAiSecretName}-??????]`,
        reason: 'Secrets Manager appends a random 6-character suffix to a secret ARN; the grant names the one secret.',
      });
    }
    if (!config.tracing) {
      Validations.of(fn).acknowledge({ id: 'Serverless-LambdaTracing', reason: 'X-Ray tracing is off in this stage (cdk.json tracing: false); prod turns it on.' });
    }
    Validations.of(fn).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: spec.trigger
        ? `${name} is invoked by an SQS event source mapping; failed messages go to the queue's own DLQ (redrive policy), not a function DLQ.`
        : `${name} is invoked synchronously (a schedule target with its own DLQ, or a state machine's Task states, which retry and catch its errors); a function DLQ serves asynchronous invocations only.`,
    });
    Validations.of(fn).acknowledge({
      id: 'Serverless-LambdaAsyncFailureDestination',
      reason: `${name} is not invoked asynchronously except by its schedule, whose target has a DLQ.`,
    });
  }
}

function acknowledgeDlq(dlq: sqs.Queue): void {
  Validations.of(dlq).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself a dead-letter queue.' });
  Validations.of(dlq).acknowledge({ id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is itself a dead-letter queue; its messages are alarmed and kept for inspection.' });
}

function pascal(s: string): string {
  return s.replace(/(^|[-_])(\w)/g, (_m, _d, c: string) => c.toUpperCase());
}
