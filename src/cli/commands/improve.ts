/**
 * `sluice improve BENCHMARK`: improve the benchmark's profile against it — learn from the train split, accept on
 * validation, report test — on the improve state machine (locally on aws-local-stepfunctions, the offline provider,
 * the offline or the LLM proposer). The improved version is pushed to the registry and activated on approval
 * (`approve RUN`) or with --auto-promote; --out also writes it as a folder to review. With --stage the run starts on
 * the deployed stage's state machine instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EXIT, InputError, benchmarkNamed, type StackFlags, UsageError, act, numberIn, stackOptions, wholeNumber, withStack } from '../shared.ts';
import type { ImproveReport } from '../../improve/loop.ts';
import type { ProfileData } from '../../profiles/profile.ts';

interface ImproveFlags extends StackFlags {
  stage?: string;
  configBucket?: string;
  runs?: boolean;
  target?: number;
  maxLoops: number;
  seed: number;
  proposer: 'offline' | 'llm';
  budgetCalls: number;
  budgetUsd?: number;
  autoPromote?: boolean;
  out?: string;
  html?: string;
  json?: boolean;
}

export function improveCommand(): Command {
  const cmd = new Command('improve')
    .description(
      "improve a benchmark's profile on the improve state machine: failures of the train split clustered, edits proposed and kept only past the validation gate, test reported at the end; the improved version is pushed and waits for `sluice improve approve RUN` (or `reject RUN`), or is activated with --auto-promote",
    )
    .argument('<benchmark>', 'a benchmark under benchmarks/ (or `approve` / `reject`)')
    .argument('[run]', 'with approve or reject: the run id')
    .addOption(new Option('--target <accuracy>', 'stop once the train decision accuracy reaches it (0-1)').argParser(numberIn(0)))
    .addOption(new Option('--max-loops <n>', 'at most n loops').default(3).argParser(wholeNumber(1, 20)))
    .addOption(new Option('--seed <n>', 'the split seed').default(1).argParser(wholeNumber(0)))
    .addOption(new Option('--proposer <kind>', 'who proposes edits: phrases mined from the failures, or the LLM (OPENAI_API_KEY; OPENAI_BASE_URL may be `sluice simulate`)').choices(['offline', 'llm']).default('offline'))
    .addOption(new Option('--budget-calls <n>', "the LLM proposer's calls at most; the loop stops when they are spent").default(20).argParser(wholeNumber(1)))
    .addOption(new Option('--budget-usd <usd>', "the LLM proposer's estimated spend at most (tokens at SLUICE_PRICE_PER_1K_PROMPT_TOKENS / _COMPLETION_TOKENS); the loop stops when it is reached").argParser(numberIn(0.000001)))
    .option('--auto-promote', 'activate the improved version at once (it passed the gate) instead of waiting for approval')
    .option('--out <dir>', 'also write the improved version as a profile folder (default: none)')
    .option('--html <file>', 'also write the report as an HTML page (score per loop, every edit with its gain, the profile diff)')
    .option('--runs', "the benchmark's stored improvement runs, newest first")
    .option('--stage <stage>', "start the run on a deployed stage's improve state machine (StartExecution, your AWS credentials); with approve or reject: a deployed stage's run (its table and config bucket; Step Functions is told with SendTaskSuccess)")
    .option('--config-bucket <name>', "with --stage: the stage's config bucket (the stack output ConfigBucketName; or $SLUICE_CONFIG_BUCKET)")
    .option('--json', 'the report as one JSON object on stdout');
  return stackOptions(cmd).action(act(run));
}

async function decide(decision: 'approved' | 'rejected', runId: string | undefined, flags: ImproveFlags): Promise<number> {
  if (!runId) throw new UsageError(`sluice improve ${decision === 'approved' ? 'approve' : 'reject'} needs the run id (see \`sluice improve BENCHMARK --runs\`)`);
  const { decideRun, ImproveInputError } = await import('../../improve/improve-task.ts');
  const { bundledVersion } = await import('../../profiles/registry.ts');
  const base = async (profile: string) => bundledVersion(profile) ?? '';
  const { withRegistry } = await import('./profile.ts');
  return withRegistry(flags, async (registry, clients) => {
    const { createScoreStore } = await import('../../adapters/dynamodb-score-store.ts');
    const runs = createScoreStore(clients.dynamodb, clients.table);
    let sendTaskOutcome: (token: string, outcome: Record<string, unknown>) => Promise<void>;
    if (flags.stage) {
      // Deployed, the execution waits in Step Functions: the decision is its task's output.
      const { SFNClient, SendTaskSuccessCommand } = await import('@aws-sdk/client-sfn');
      sendTaskOutcome = async (token, outcome) => {
        const sfn = new SFNClient({});
        try {
          await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(outcome) }));
        } finally {
          sfn.destroy(); // its sockets would keep the command from exiting
        }
      };
    } else {
      // Locally the waiting execution reads its token's outcome from the status table.
      sendTaskOutcome = (token, outcome) => runs.putTaskOutcome(token, outcome);
    }
    try {
      const r = await decideRun({ runs, registry, base, sendTaskOutcome }, runId, decision);
      if (flags.json) process.stdout.write(`${JSON.stringify({ runId, ...r })}\n`);
      else process.stdout.write(decision === 'approved' ? `run ${runId} approved: ${r.version} is active (was ${r.previous ?? 'the same'}); the next job uses it\n` : `run ${runId} rejected: nothing changed; ${r.version} stays in the registry, never active\n`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof ImproveInputError) throw new InputError(err.message);
      throw err;
    }
  });
}

/** The improve state machine's input, locally and deployed alike. */
function runInput(benchmark: string, runId: string, flags: ImproveFlags) {
  return { benchmark, runId, maxLoops: flags.maxLoops, seed: flags.seed, proposer: flags.proposer, budgetCalls: flags.budgetCalls, ...(flags.budgetUsd !== undefined ? { budgetUsd: flags.budgetUsd } : {}), autoPromote: Boolean(flags.autoPromote), ...(flags.target !== undefined ? { target: flags.target } : {}) };
}

/**
 * Starts a run on a deployed stage: an execution of its improve state machine (`sluice-<stage>-improve`, found by
 * name in the account and region of the AWS credentials) named by the run id. The benchmark is the stage's (its
 * registry's active version, else the bundled one): the execution refuses one it does not know.
 */
async function startDeployed(benchmark: string, flags: ImproveFlags): Promise<number> {
  if (flags.out || flags.html) throw new UsageError("--out and --html need a local run: a deployed run's report is stored in its stage's status table");
  const { SFNClient, StartExecutionCommand, paginateListStateMachines } = await import('@aws-sdk/client-sfn');
  const { resourceName } = await import('../../topology/topology.ts');
  const { newRunId } = await import('../../scoring/score-steps.ts');
  const name = resourceName(flags.stage!, 'improve');
  const sfn = new SFNClient({});
  try {
    let arn: string | undefined;
    for await (const page of paginateListStateMachines({ client: sfn }, {})) {
      arn = page.stateMachines?.find((m) => m.name === name)?.stateMachineArn;
      if (arn) break;
    }
    if (!arn) throw new InputError(`no state machine ${name} in this account and region: deploy the stage first (npx cdk deploy -c stage=${flags.stage})`);
    const runId = newRunId(new Date());
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: runId, input: JSON.stringify(runInput(benchmark, runId, flags)) }));
    if (flags.json) process.stdout.write(`${JSON.stringify({ runId, stage: flags.stage, executionArn: started.executionArn, startedAt: started.startDate?.toISOString() })}\n`);
    else {
      process.stdout.write(`run ${runId} started on ${flags.stage}: ${started.executionArn}\n`);
      process.stdout.write(
        flags.autoPromote
          ? 'it activates the improved version itself if one passes the gate\n'
          : `when it awaits approval: sluice improve approve ${runId} --stage ${flags.stage} --config-bucket BUCKET (or reject)\n`,
      );
    }
    return EXIT.ok;
  } finally {
    sfn.destroy(); // its sockets would keep the command from exiting
  }
}

async function run(name: string, runArg: string | undefined, flags: ImproveFlags): Promise<number> {
  if (name === 'approve' || name === 'reject') return decide(name === 'approve' ? 'approved' : 'rejected', runArg, flags);
  if (runArg) throw new UsageError(`unexpected argument ${runArg}`);
  if (flags.target !== undefined && flags.target > 1) throw new UsageError('--target is an accuracy between 0 and 1');
  if (flags.stage && !flags.runs) return startDeployed(name, flags);
  const { llmSettingsFromEnv } = await import('../../llm/llm-config.ts');
  const settings = flags.proposer === 'llm' ? llmSettingsFromEnv(process.env) : undefined;
  if (flags.proposer === 'llm' && !settings) throw new UsageError('--proposer llm needs OPENAI_API_KEY (and OPENAI_BASE_URL for `sluice simulate`)');
  const benchmark = await benchmarkNamed(name);
  if (flags.runs) {
    return withStack(flags, false, async (rt) => {
      const runs = await rt.scoreStore.listImproveRuns(benchmark.name, 50);
      if (flags.json) process.stdout.write(`${JSON.stringify(runs)}\n`);
      else if (!runs.length) process.stdout.write(`no stored improvement runs of ${benchmark.name} yet\n`);
      else {
        const p = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : 'n/a');
        for (const r of runs) {
          const start = (r.start ?? {}) as Record<string, Record<string, number>>;
          const final = (r.final ?? {}) as Record<string, Record<string, number>>;
          const f = String(r.field ?? 'decision');
          process.stdout.write(`${r.runId}  ${r.startedAt}  ${String(r.status)}  ${String(r.proposer)}  ${f} test ${p(start.test?.[f])} → ${p(final.test?.[f])}  ${((r.edits as unknown[] | undefined) ?? []).length} edits  ${r.candidate ? String(r.candidate) : 'no candidate'}\n`);
        }
      }
      return EXIT.ok;
    });
  }
  const { newRunId } = await import('../../scoring/score-steps.ts');
  const { ExecutionFailedError } = await import('../../local/state-machines.ts');
  const runId = newRunId(new Date());
  const input = runInput(benchmark.name, runId, flags);
  return withStack({ ...flags, ...(settings ? {} : { offline: true }) }, false, async (rt, dev) => {
    if (!flags.autoPromote && !dev) {
      throw new UsageError('without --auto-promote the run waits for `sluice improve approve RUN` from another terminal: start `sluice dev` first (commands attach to it), or pass --auto-promote');
    }
    let shown = 0;
    const timer = setInterval(() => {
      void rt.scoreStore.getImproveRun(runId).then((r) => {
        if (r?.status === 'AWAITING_APPROVAL' && shown === 0) {
          shown = 1;
          process.stderr.write(`improve ${name}: run ${runId} awaits approval: \`sluice improve approve ${runId}\` activates ${String(r.candidate)}, \`sluice improve reject ${runId}\` discards it\n`);
        }
      });
    }, 1000);
    try {
      await rt.execute('improve', input);
    } catch (err) {
      if (!(err instanceof ExecutionFailedError)) throw err;
      process.stderr.write(`sluice improve: the run ${runId} failed: ${err.error}: ${err.reason}\n`);
      return err.error === 'ImproveInputError' ? EXIT.usage : EXIT.failed;
    } finally {
      clearInterval(timer);
    }
    const stored = (await rt.scoreStore.getImproveRun(runId))!;
    const report = stored as unknown as ImproveReport & { status: string; candidate?: string; proposerCalls?: number; proposerCostUsd?: number };
    const { createVersionRegistry } = await import('../../adapters/profile-registry.ts');
    const registry = createVersionRegistry(rt.clients.s3, rt.clients.dynamodb, rt.names.buckets.config, rt.names.table);
    const { bundledData } = await import('../../profiles/registry.ts');
    const startData = ((await registry.getVersion('profile', report.profile, report.versions.start)) ?? bundledData(report.profile)) as ProfileData;
    const finalData = report.candidate ? ((await registry.getVersion('profile', report.profile, report.candidate)) as ProfileData) : startData;
    let written: string | undefined;
    if (report.improved && flags.out) {
      written = resolve(flags.out);
      mkdirSync(join(written, 'prompts'), { recursive: true });
      writeFileSync(join(written, 'profile.json'), `${JSON.stringify(finalData.profile, null, 2)}\n`);
      writeFileSync(join(written, String(finalData.profile.rules ?? 'rules.json')), `${JSON.stringify(finalData.rules, null, 2)}\n`);
      writeFileSync(join(written, 'prompts', `${String(finalData.profile.enrichment.promptVersion)}.md`), finalData.prompt);
    }
    if (flags.html) {
      const { renderImproveHtml } = await import('../../improve/html-report.ts');
      writeFileSync(flags.html, renderImproveHtml({ ...report, data: finalData }, startData));
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ ...stored, written: written ?? null })}\n`);
      return EXIT.ok;
    }
    const pct = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;
    const f = report.field;
    const lines = [
      `sluice improve ${name}: run ${runId} on the improve state machine, profile ${report.profile}, splits train ${report.splits.train.length} / validation ${report.splits.validation.length} / test ${report.splits.test.length} (seed ${report.seed})`,
      ...report.loops.map((l) => `  loop ${l.loop}: train ${pct(l.train[f])}, validation ${pct(l.validation[f])} ${f}; ${l.categories.length} failure categories; ${l.tried.length} edits tried, ${l.tried.filter((t) => t.status === 'kept').length} kept, ${l.accepted.length} accepted`),
      ...report.loops.flatMap((l) => l.tried.filter((t) => t.status === 'kept').map((t) => `    kept (loop ${l.loop}) ${t.description}: ${t.reason}`)),
      `  stopped: ${{ target: 'the target was reached', maxLoops: 'the loop limit', nothingKept: 'no edit passed the gate', budget: `the proposer's budget was spent (${report.proposerCalls ?? 0} calls, about $${(report.proposerCostUsd ?? 0).toFixed(4)})` }[report.stopped]}`,
      `  ${f}: train ${pct(report.start.train[f])} → ${pct(report.final.train[f])}, validation ${pct(report.start.validation[f])} → ${pct(report.final.validation[f])}, test ${pct(report.start.test[f])} → ${pct(report.final.test[f])} (gain ${pct(report.testGain.gain)}, 95% interval ${pct(report.testGain.low)} to ${pct(report.testGain.high)})`,
      report.improved ? `  ${report.status.toLowerCase()}: ${report.candidate}${report.status === 'PROMOTED' || report.status === 'APPROVED' ? ' is active; the next job uses it' : ' was not activated'}` : '  nothing passed the gate: the profile stays as it is',
      ...(written ? [`  the improved profile as a folder: ${written}`] : []),
      ...(flags.html ? [`  report: ${flags.html}`] : []),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  });
}
