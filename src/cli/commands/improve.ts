/**
 * `sluice improve BENCHMARK`: improve the benchmark's profile against it — learn from the train split, accept on
 * validation, report test — in this process with the offline provider, and the offline or the LLM proposer. The improved version is
 * written to a folder for a person to review; nothing is activated.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EXIT, benchmarkNamed, type StackFlags, UsageError, act, numberIn, stackOptions, wholeNumber, withStack } from '../shared.ts';

interface ImproveFlags extends StackFlags {
  runs?: boolean;
  target?: number;
  maxLoops: number;
  seed: number;
  proposer: 'offline' | 'llm';
  budgetCalls: number;
  out?: string;
  html?: string;
  json?: boolean;
}

export function improveCommand(): Command {
  const cmd = new Command('improve')
    .description("improve a benchmark's profile: failures of the train split clustered, edits proposed and kept only past the validation gate, test reported at the end")
    .argument('<benchmark>', 'a benchmark under benchmarks/')
    .addOption(new Option('--target <accuracy>', 'stop once the train decision accuracy reaches it (0-1)').argParser(numberIn(0)))
    .addOption(new Option('--max-loops <n>', 'at most n loops').default(3).argParser(wholeNumber(1, 20)))
    .addOption(new Option('--seed <n>', 'the split seed').default(1).argParser(wholeNumber(0)))
    .addOption(new Option('--proposer <kind>', 'who proposes edits: phrases mined from the failures, or the LLM (OPENAI_API_KEY; OPENAI_BASE_URL may be `sluice simulate`)').choices(['offline', 'llm']).default('offline'))
    .addOption(new Option('--budget-calls <n>', "the LLM proposer's calls at most; the loop stops when they are spent").default(20).argParser(wholeNumber(1)))
    .option('--out <dir>', 'where the improved profile folder is written (default sluice-out/improve/PROFILE)')
    .option('--html <file>', 'also write the report as an HTML page (score per loop, every edit with its gain, the profile diff)')
    .option('--runs', "the benchmark's stored improvement runs, newest first")
    .option('--json', 'the report as one JSON object on stdout');
  return stackOptions(cmd).action(act(run));
}

async function run(name: string, flags: ImproveFlags): Promise<number> {
  const { llmSettingsFromEnv } = await import('../../llm/llm-config.ts');
  const settings = flags.proposer === 'llm' ? llmSettingsFromEnv(process.env) : undefined;
  if (flags.proposer === 'llm' && !settings) throw new UsageError('--proposer llm needs OPENAI_API_KEY (and OPENAI_BASE_URL for `sluice simulate`)');
  if (flags.target !== undefined && flags.target > 1) throw new UsageError('--target is an accuracy between 0 and 1');
  const { loadProfile, loadPrompt } = await import('../../profiles/profile.ts');
  const { createOfflineProvider } = await import('../../domain/enrich/offline-provider.ts');
  const { improve } = await import('../../improve/loop.ts');
  const { proposeOffline } = await import('../../improve/offline-proposer.ts');
  const { createLlmProposer } = await import('../../improve/llm-proposer.ts');
  const llm = settings ? createLlmProposer(settings, { calls: flags.budgetCalls }) : undefined;
  const benchmark = await benchmarkNamed(name);
  if (flags.runs) {
    return withStack(flags, false, async (rt) => {
      const runs = await rt.scoreStore.listImproveRuns(benchmark.name, 50);
      if (flags.json) process.stdout.write(`${JSON.stringify(runs)}\n`);
      else if (!runs.length) process.stdout.write(`no stored improvement runs of ${benchmark.name} yet\n`);
      else {
        const p = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : 'n/a');
        for (const r of runs) {
          const start = r.start as Record<string, Record<string, number>>;
          const final = r.final as Record<string, Record<string, number>>;
          const f = String(r.field);
          process.stdout.write(`${r.runId}  ${r.startedAt}  ${String(r.proposer)}  ${f} test ${p(start.test?.[f])} → ${p(final.test?.[f])}  ${(r.edits as unknown[]).length} edits  ${r.improved ? `wrote ${String(r.written)}` : 'nothing kept'}\n`);
        }
      }
      return EXIT.ok;
    });
  }
  const profile = loadProfile(benchmark.config.profile);
  const read = (file: string) => JSON.parse(readFileSync(join(profile.folder, file), 'utf8')) as Record<string, unknown>;
  const data = { profile: read('profile.json'), rules: read(String(read('profile.json').rules)), prompt: loadPrompt(profile, profile.enrichment.promptVersion) };
  const startedAt = new Date();
  const report = await improve({
    benchmark,
    data,
    folder: profile.folder,
    provider: createOfflineProvider(),
    propose: async (c) => (llm ? llm.propose({ data: c.data, categories: c.categories, train: c.train.items }) : proposeOffline(c.data, c.categories, c.train.items)),
    ...(llm ? { budgetSpent: () => llm.exhausted } : {}),
    maxLoops: flags.maxLoops,
    seed: flags.seed,
    ...(flags.target !== undefined ? { target: flags.target } : {}),
    onProgress: (m) => process.stderr.write(`improve ${name}: ${m}\n`),
  });
  let written: string | undefined;
  if (report.improved) {
    written = resolve(flags.out ?? join('sluice-out', 'improve', profile.name));
    mkdirSync(join(written, 'prompts'), { recursive: true });
    writeFileSync(join(written, 'profile.json'), `${JSON.stringify(report.data.profile, null, 2)}\n`);
    writeFileSync(join(written, String(report.data.profile.rules ?? 'rules.json')), `${JSON.stringify(report.data.rules, null, 2)}\n`);
    writeFileSync(join(written, 'prompts', `${profile.enrichment.promptVersion}.md`), report.data.prompt);
  }
  // The run is stored (loops, every edit tried, the figures) for `sluice improve --runs`; the versions' data is not.
  const { data: _final, ...stored } = report;
  const { newRunId } = await import('../../scoring/score-steps.ts');
  const runId = newRunId(startedAt);
  await withStack(flags, false, (rt) => rt.scoreStore.putImproveRun({ runId, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), proposer: flags.proposer, written: written ?? null, ...stored }));
  if (flags.html) {
    const { renderImproveHtml } = await import('../../improve/html-report.ts');
    writeFileSync(flags.html, renderImproveHtml(report, data));
  }
  if (flags.json) {
    const { data: _data, ...rest } = report;
    process.stdout.write(`${JSON.stringify({ runId, ...rest, proposer: flags.proposer, ...(llm ? { proposerCalls: llm.calls } : {}), written: written ?? null })}\n`);
    return EXIT.ok;
  }
  const pct = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;
  const f = report.field;
  const lines = [
    `sluice improve ${name}: profile ${report.profile}, splits train ${report.splits.train.length} / validation ${report.splits.validation.length} / test ${report.splits.test.length} (seed ${report.seed})`,
    ...report.loops.map((l) => `  loop ${l.loop}: train ${pct(l.train[f])}, validation ${pct(l.validation[f])} ${f}; ${l.categories.length} failure categories; ${l.tried.length} edits tried, ${l.tried.filter((t) => t.status === 'kept').length} kept, ${l.accepted.length} accepted`),
    ...report.loops.flatMap((l) => l.tried.filter((t) => t.status === 'kept').map((t) => `    kept (loop ${l.loop}) ${t.description}: ${t.reason}`)),
    `  stopped: ${{ target: 'the target was reached', maxLoops: 'the loop limit', nothingKept: 'no edit passed the gate', budget: `the proposer's budget was spent (${llm?.calls ?? 0} calls)` }[report.stopped]}`,
    `  ${f}: train ${pct(report.start.train[f])} → ${pct(report.final.train[f])}, validation ${pct(report.start.validation[f])} → ${pct(report.final.validation[f])}, test ${pct(report.start.test[f])} → ${pct(report.final.test[f])} (gain ${pct(report.testGain.gain)}, 95% interval ${pct(report.testGain.low)} to ${pct(report.testGain.high)})`,
    written ? `  the improved profile: ${written} (review it; copy it over ${profile.folder} to use it)` : '  nothing passed the gate: the profile stays as it is',
    ...(flags.html ? [`  report: ${flags.html}`] : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
