/** `sluice logs`: the handlers' structured log lines of the local state, filtered, optionally followed. */
import { Command, Option } from 'commander';
import { topology } from '../../topology/topology.ts';
import { LEVELS, type Level, logPath, readLog } from '../logs.ts';
import { stateDir } from '../local-stack.ts';
import { EXIT, act } from '../shared.ts';

interface LogsFlags {
  follow?: boolean;
  function?: string;
  job?: string;
  level?: Level;
  metrics?: boolean;
  state?: string;
}

export function logsCommand(): Command {
  return new Command('logs')
    .description("the handlers' JSON log lines (from `sluice dev` and `sluice run`), filtered; ids, counts and timings only, never note text")
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .addOption(new Option('--function <name>', 'one function').choices(Object.keys(topology.functions)))
    .option('--job <id>', "one job's lines")
    .addOption(new Option('--level <level>', 'this level and above').choices([...LEVELS]))
    .option('--metrics', 'include the EMF metric lines')
    .option('--state <dir>', 'local state folder (default .sluice, or $SLUICE_STATE_DIR)')
    .action(act(logs));
}

async function logs(flags: LogsFlags): Promise<number> {
  const path = logPath(stateDir(flags.state));
  const print = (line: string) => process.stdout.write(`${line}\n`);
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  if (flags.follow) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  let at = await readLog(path, flags, print);
  if (!flags.follow) return EXIT.ok;
  while (!stop) {
    await new Promise((r) => setTimeout(r, 250));
    at = await readLog(path, flags, print, at);
  }
  return EXIT.ok;
}
