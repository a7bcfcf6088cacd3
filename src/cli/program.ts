/**
 * The `sluice` command line on commander: one module per command under `commands/`, each with its own
 * `--help`; `--version`; a suggestion for a mistyped command or option. The README's CLI lines are checked
 * against these definitions by a test. Commander, because its per-command help, choices, option parsers and
 * suggestions are built in, it has no dependencies, and its typed API fits one module per command.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { backfillCommand } from './commands/backfill.ts';
import { completionCommand } from './commands/completion.ts';
import { devCommand } from './commands/dev.ts';
import { generateEventCommand } from './commands/generate-event.ts';
import { initCommand } from './commands/init.ts';
import { invokeCommand } from './commands/invoke.ts';
import { logsCommand } from './commands/logs.ts';
import { metricsCommand } from './commands/metrics.ts';
import { redriveCommand } from './commands/redrive.ts';
import { improveCommand } from './commands/improve.ts';
import { profileCommand } from './commands/profile.ts';
import { benchmarkCommand } from './commands/benchmark.ts';
import { resultsCommand } from './commands/results.ts';
import { reviewCommand } from './commands/review.ts';
import { runCommand } from './commands/run.ts';
import { scoreCommand } from './commands/score.ts';
import { simulateCommand } from './commands/simulate.ts';
import { statusCommand } from './commands/status.ts';
import { topicsCommand } from './commands/topics.ts';

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const FOOTER = `
Environment:
  OPENAI_API_KEY      enrichment calls OpenAI (or OPENAI_BASE_URL, e.g. \`sluice simulate\`); --offline ignores it
  SLUICE_STATE_DIR    the local state folder (default .sluice)
Exit codes: 0 done, 1 the job or run failed, 2 bad usage or an unreadable input.
Each command has its own help: sluice run --help`;

/** The whole command line; every command's action reports its exit code through `takeExitCode()`. */
export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('dropped files of free-text records → LLM-enriched, rule-checked, scored results')
    .version(VERSION, '-V, --version', 'the version')
    .showSuggestionAfterError()
    .addHelpText('after', FOOTER);
  for (const cmd of [
    runCommand(),
    statusCommand(),
    resultsCommand(),
    reviewCommand(),
    logsCommand(),
    devCommand(),
    invokeCommand(),
    generateEventCommand(),
    backfillCommand(),
    redriveCommand(),
    topicsCommand(),
    metricsCommand(),
    scoreCommand(),
    improveCommand(),
    profileCommand(),
    benchmarkCommand(),
    simulateCommand(),
    initCommand(),
  ]) {
    program.addCommand(cmd);
  }
  program.addCommand(completionCommand(program));
  // Errors come back as exceptions (main() sets the exit code), and the settings reach every command.
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const cmd of all(program)) cmd.exitOverride().showSuggestionAfterError();
  return program;
}
