/** `sluice review [JOB]`: the entities a resolution left for a person (several matches, or too unsure to accept). */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { resultKeys } from '../../domain/job.ts';
import { EXIT, InputError, type StackFlags, act, stackOptions, withStack } from '../shared.ts';

interface ReviewLine {
  groupId: string;
  output: string;
  name: string;
  kind: string;
  confidence: number;
  reason: string;
  candidates: string[];
}

export function reviewCommand(): Command {
  const cmd = new Command('review')
    .description('list the entities left for review by entity resolution: a job, or the newest jobs')
    .argument('[job]', 'a job id (default: the 20 newest jobs)')
    .option('--json', 'one JSON line per entry on stdout');
  return stackOptions(cmd).action(
    act(async (jobId: string | undefined, flags: StackFlags & { json?: boolean }) =>
      withStack(flags, false, async (rt) => {
        const jobs = jobId ? [await rt.store.getJob(jobId)] : await rt.store.listJobs(20);
        if (jobId && !jobs[0]) throw new InputError(`no job ${jobId} (see \`sluice status\` for the list)`);
        let total = 0;
        for (const job of jobs) {
          if (!job) continue;
          const key = job.results?.review ?? resultKeys(job.jobId).review!;
          const body = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: key })).then((r) => r.Body?.transformToString(), () => undefined);
          const entries = (body ?? '').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ReviewLine);
          total += entries.length;
          for (const e of entries) {
            if (flags.json) process.stdout.write(`${JSON.stringify({ jobId: job.jobId, profile: job.profile, ...e })}\n`);
            else {
              const why = e.reason === 'multiple_matches' ? `could be ${e.candidates.join(' or ')}` : `confidence ${e.confidence.toFixed(2)}, not enough to accept`;
              process.stdout.write(`${job.jobId}  ${e.groupId}  ${e.output}  ${e.kind} "${e.name}": ${why}\n`);
            }
          }
        }
        if (!flags.json) process.stderr.write(`${total} entities to review in ${jobs.filter(Boolean).length} job(s)\n`);
        return EXIT.ok;
      }),
    ),
  );
}
