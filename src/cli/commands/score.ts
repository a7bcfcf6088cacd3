/** `sluice score BENCHMARK`: score the pipeline on a labelled benchmark (the scoring state machine). */
import { Command, Option } from 'commander';
import { EXIT, benchmarkNamed, type StackFlags, UsageError, act, llmFor, offlineOption, stackOptions, wholeNumber, withStack } from '../shared.ts';

interface ScoreFlags extends StackFlags {
  json?: boolean;
  html?: string;
  sequential?: boolean;
  concurrency?: number;
  calibrate?: number;
  runs?: boolean;
}

export function scoreCommand(): Command {
  const cmd = new Command('score')
    .description('score the pipeline on a labelled benchmark with the scoring state machine (or list its stored runs)')
    .argument('<benchmark>', 'a benchmark under benchmarks/')
    .option('--json', 'the report as one JSON object on stdout')
    .option('--html <file>', 'also write the report as an HTML page')
    .option('--sequential', 'one item at a time (the baseline)')
    .addOption(new Option('--concurrency <n>', "the Map's MaxConcurrency").argParser(wholeNumber(1, 40)))
    .addOption(new Option('--calibrate <n>', 'also grade n items against their labels to calibrate the judge').argParser(wholeNumber(1, 1000)))
    .option('--runs', "the benchmark's stored runs, newest first");
  return offlineOption(stackOptions(cmd)).action(act(score));
}

async function score(name: string, flags: ScoreFlags): Promise<number> {
  if (flags.sequential && flags.concurrency) throw new UsageError('--sequential and --concurrency exclude each other');
  const benchmark = await benchmarkNamed(name);
  if (flags.runs) {
    return withStack(flags, false, async (rt) => {
      const runs = await rt.scoreStore.listRuns(benchmark.name, 50);
      if (flags.json) process.stdout.write(`${JSON.stringify(runs)}\n`);
      else if (!runs.length) process.stdout.write(`no stored runs of ${benchmark.name} yet\n`);
      else {
        for (const r of runs) {
          const a = (r.accuracy ?? {}) as Record<string, number | null>;
          const t = (r.totals ?? {}) as Record<string, number>;
          const p = (v: number | null | undefined) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : 'n/a');
          process.stdout.write(`${r.runId}  ${r.startedAt}  ${String(r.provider)}/${String(r.promptVersion)}  ${Object.keys(benchmark.config.fields).map((f) => `${f} ${p(a[f])}`).join('  ')}  scored ${t.scored}/${t.items} failed ${t.failed} skipped ${t.skipped}\n`);
        }
      }
      return EXIT.ok;
    });
  }
  const { scoreBenchmark } = await import('../score.ts');
  return withStack(flags, false, (rt, dev) => {
    // Scoring runs in this process, attached to `sluice dev` or not: this shell's LLM settings predict and judge.
    const llm = llmFor(flags);
    if (dev && !flags.json) process.stderr.write(`attached to the running \`sluice dev\` (pid ${dev.pid}); scoring here with ${llm ? `openai (${llm.model} at ${llm.baseURL ?? 'api.openai.com'})` : 'the offline provider'}\n`);
    return scoreBenchmark(rt, benchmark, {
      sequential: Boolean(flags.sequential),
      maxConcurrency: flags.concurrency,
      calibrate: flags.calibrate,
      html: flags.html,
      json: Boolean(flags.json),
      progress: !flags.json,
    });
  });
}
