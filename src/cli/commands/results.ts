/** `sluice results JOB`: copy a job's result files out of the local results bucket. */
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { JobStatus } from '../../domain/job.ts';
import { EXIT, InputError, type StackFlags, humanReport, jobReport, act, stackOptions, withStack } from '../shared.ts';

export function resultsCommand(): Command {
  const cmd = new Command('results')
    .description("copy a job's result files (JSONL, CSV, summary, rejects) out of the local results bucket")
    .argument('<job>', 'a job id (see `sluice status`)')
    .option('--out <dir>', 'where the files go (default sluice-out/JOB)')
    .option('--json', 'one JSON object on stdout');
  return stackOptions(cmd).action(act(async (jobId: string, flags: StackFlags & { out?: string; json?: boolean }) =>
    withStack(flags, false, async (rt) => {
      const job = await rt.store.getJob(jobId);
      if (!job) throw new InputError(`no job ${jobId} (see \`sluice status\` for the list)`);
      const report = await jobReport(rt, job, resolve(flags.out ?? join('sluice-out', jobId)));
      if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(humanReport(report, job));
      return job.status === JobStatus.FAILED ? EXIT.failed : EXIT.ok;
    })),
  );
}
