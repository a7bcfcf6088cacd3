/** `sluice backfill`: finish the pending stages (fast mode, LLM unavailable), oldest first. */
import { Command, Option } from 'commander';
import { EXIT, type StackFlags, act, numberIn, offlineOption, stackOptions, wholeNumber, withStack } from '../shared.ts';

export function backfillCommand(): Command {
  const cmd = new Command('backfill')
    .description('finish the pending stages of groups (fast mode, or the LLM was unavailable), oldest first')
    .addOption(new Option('--limit <n>', 'at most n groups').argParser(wholeNumber(1)))
    .addOption(new Option('--max-seconds <s>', 'stop after s seconds (run again to continue)').default(15 * 60).argParser(numberIn(0.001)))
    .option('--json', 'one JSON object on stdout');
  return offlineOption(stackOptions(cmd)).action(
    act(async (flags: StackFlags & { limit?: number; maxSeconds: number; json?: boolean }) => {
      const { runBackfill } = await import('../../pipeline/backfill.ts');
      return withStack(flags, false, async (rt) => {
        const report = await runBackfill(rt.operatorDeps(), {
          limit: flags.limit ?? Number.MAX_SAFE_INTEGER,
          deadline: Date.now() + flags.maxSeconds * 1000,
          onProgress: (r) => {
            if (!flags.json && process.stderr.isTTY) process.stderr.write(`\rbackfill: ${r.done} done, ${r.stillPending} still pending, ${r.skipped} skipped, ${r.errors} errors`);
          },
        });
        if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else {
          if (process.stderr.isTTY) process.stderr.write('\n');
          process.stdout.write(
            `backfill: ${report.done} groups finished, ${report.stillPending} left pending (LLM unavailable), ${report.skipped} skipped, ${report.errors} errors; results rewritten for ${report.jobsRefreshed.length} job(s)${report.stoppedEarly ? '; stopped early, run again to continue' : ''}\n`,
          );
        }
        return EXIT.ok;
      });
    }),
  );
}
