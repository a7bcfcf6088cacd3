/**
 * The CDK app: one stack per stage, `npx cdk deploy -c stage=dev` (default dev) or `-c stage=prod`.
 * Stage settings live in cdk.json (`sluice:stages`); everything else comes from the topology module.
 * cdk-nag's AwsSolutions and Serverless packs check every synth (v3 API: CDK's Validations).
 */
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { SluiceStack } from '../lib/sluice-stack.ts';
import { UnknownStageError, stageConfig, stageTopology } from '../lib/stage-config.ts';
import { type Topology, topology } from '../src/topology/topology.ts';

/** Builds the app for the stage in the context; tests pass their own App and, to show drift is impossible, a topology. */
export function buildApp(app: App = new App(), base: Topology = topology): { app: App; stack: SluiceStack } {
  const stage = String(app.node.tryGetContext('stage') ?? 'dev');
  const config = stageConfig(app.node.tryGetContext('sluice:stages'), stage);
  const stack = new SluiceStack(app, `Sluice-${stage}`, {
    stage,
    config,
    topology: stageTopology(base, config),
    env: config.account || config.region ? { account: config.account, region: config.region } : undefined,
    description: `sluice (${stage}): dropped files → enriched, rule-checked results`,
  });
  Tags.of(stack).add('project', 'sluice');
  Tags.of(stack).add('stage', stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return { app, stack };
}

if (import.meta.main) {
  try {
    buildApp().app.synth();
  } catch (err) {
    if (!(err instanceof UnknownStageError || (err as Error).message.startsWith('invalid stage config'))) throw err;
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
