/** `sluice run FILE`: drop a file into the local pipeline, follow it to its end, copy its results out. */
import { createReadStream, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Command, Option } from 'commander';
import { type Job, JobStatus, jobIdFor } from '../../domain/job.ts';
import { loadProfile } from '../../profiles/profile.ts';
import { topology } from '../../topology/topology.ts';
import { parseRowRange } from '../../domain/documents/manifest.ts';
import { dropDocuments, readDocumentFolder } from '../drop-documents.ts';
import { expectedEtag } from '../etag.ts';
import { progressView, stallGuard } from '../progress.ts';
import { recognizeProfile } from '../recognize.ts';
import { EXIT, InputError, PART_SIZE, type StackFlags, UsageError, humanReport, jobReport, offlineOption, act, stackOptions, withStack } from '../shared.ts';

interface RunFlags extends StackFlags {
  profile?: string;
  under?: string;
  mode: 'fast' | 'full';
  json?: boolean;
  out?: string;
  force?: boolean;
  rows?: string;
}

export function runCommand(): Command {
  const cmd = new Command('run')
    .description('run a file through the local pipeline to its end and copy its results out (followed as long as it moves: 10 minutes without progress end the command, not the job)')
    .argument('<file>', "a CSV or JSON file of records, or a documents profile's manifest or folder (one sub-folder of documents per group)")
    .option('--profile <name>', "the profile the records follow (default: the one whose required columns are in the file's header)")
    .option('--under <folder>', "a folder below the profile's in the drop key, which the profile may read columns from (e.g. social's platform: --under facebook)")
    .addOption(new Option('--mode <mode>', 'fast: the cheap stages now, the LLM later (backfill); full: everything now').choices(['fast', 'full']).default('full'))
    .option('--out <dir>', 'where the results are copied (default sluice-out/JOB)')
    .option('--force', 'a new job even if this file was run before (e.g. with another --mode or provider); for a folder, its groups run again')
    .option('--rows <range>', "a documents profile's manifest: only these data rows (1-100, 5, 20-)")
    .option('--json', 'one JSON object on stdout');
  return offlineOption(stackOptions(cmd)).action(act(run));
}

async function run(file: string, given: RunFlags): Promise<number> {
  let size: number;
  if (given.rows !== undefined) {
    try {
      parseRowRange(given.rows);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  let folder = false;
  try {
    const st = statSync(file);
    folder = st.isDirectory();
    if (!folder && !st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (folder) return runFolder(file, given);

  if (given.under !== undefined && !/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(given.under)) throw new UsageError(`--under: folder names of letters, digits, _ and - (joined by /), not "${given.under}"`);
  const flags = { ...given, profile: given.profile ?? (await recognizeProfile(file)) };
  try {
    loadProfile(flags.profile);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const json = Boolean(flags.json);
  const say = (line: string) => {
    if (!json) process.stderr.write(`${line}\n`);
  };
  if (!given.profile) say(`profile ${flags.profile}: its required columns are in the file's header (--profile to name another)`);
  return withStack(flags, true, async (rt, dev) => {
    if (dev) say(`attached to the running \`sluice dev\` (pid ${dev.pid}): its ${dev.provider ?? 'offline'} provider enriches this file, whatever this shell's OPENAI_* settings`);
    const bucket = rt.names.buckets.drop;
    // --force drops the file under a run folder of its own: another object, so another job.
    const name = flags.under ? `${flags.under}/${basename(file)}` : basename(file);
    const key = flags.force
      ? `${topology.dropPrefix}${flags.profile}/runs/${new Date().toISOString().replace(/[:.]/g, '-')}/${name}`
      : `${topology.dropPrefix}${flags.profile}/${name}`;
    const etag = await expectedEtag(file, size, PART_SIZE);
    let jobId = jobIdFor(bucket, key, etag);
    const existing = flags.force ? undefined : await rt.store.getJob(jobId);
    const stored = existing ? await rt.clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined) : undefined;
    if (existing && stored?.ETag?.replace(/"/g, '') === etag) {
      const differs = existing.mode !== flags.mode ? ` (it ran in ${existing.mode} mode, not ${flags.mode})` : '';
      say(`unchanged file: reporting job ${jobId}, run before${differs}; --force runs it again as a new job`);
    } else {
      const upload = await new Upload({
        client: rt.clients.s3,
        params: { Bucket: bucket, Key: key, Body: createReadStream(file), Metadata: { 'sluice-mode': flags.mode, ...(flags.rows ? { 'sluice-rows': flags.rows } : {}) } },
        partSize: PART_SIZE,
        queueSize: 2,
      }).done();
      jobId = jobIdFor(bucket, key, upload.ETag ?? etag);
      if (flags.force) say(`forced: a new job ${jobId} for s3://${bucket}/${key}`);
    }
    return follow(rt, jobId, flags);
  });
}

/** How long `sluice run` follows a job that does not move before it gives up on it. */
const STALL_MS = 10 * 60_000;

/** Follows a job to its end (progress on a terminal), copies its results out and reports it. */
async function follow(rt: Parameters<Parameters<typeof withStack>[2]>[0], jobId: string, flags: RunFlags): Promise<number> {
  const json = Boolean(flags.json);
  const view = json ? undefined : progressView();
  let job: Job;
  try {
    // A documents job's settled documents are counted by a query of its groups' sets: at most one a second.
    let settled = 0;
    let countedAt = 0;
    // A job is followed as long as it moves (a 1 GiB file runs for over an hour); one whose status and counts have
    // not changed for STALL_MS is left to the state folder with a message saying so.
    const moving = stallGuard(jobId, STALL_MS);
    const onProgress = (j: Job | undefined) => {
      moving(j);
      if (j?.documents !== undefined && Date.now() - countedAt >= 1000) {
        countedAt = Date.now();
        rt.store.countSettledDocuments(jobId).then(
          (n) => (settled = n),
          () => undefined,
        );
      }
      view?.update(j, settled);
    };
    job = await rt.waitForJob(jobId, { onProgress, timeoutMs: Number.POSITIVE_INFINITY, intervalMs: 200 });
    if (job.documents !== undefined) view?.update(job, await rt.store.countSettledDocuments(jobId));
  } finally {
    view?.stop();
  }
  const report = await jobReport(rt, job, resolve(flags.out ?? join('sluice-out', jobId)));
  if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(humanReport(report, job));
  if (job.status === JobStatus.FAILED) {
    if (json) process.stderr.write(`sluice: ${job.error ?? 'job failed'}\n`);
    return job.badInput ? EXIT.usage : EXIT.failed;
  }
  return EXIT.ok;
}

/**
 * `sluice run FOLDER --profile P`: a documents profile's groups, one sub-folder each, uploaded with the manifest
 * written for the user (`src/cli/drop-documents.ts`). The same folder run again is the same job unless --force.
 */
async function runFolder(dir: string, flags: RunFlags): Promise<number> {
  if (!flags.profile) throw new UsageError(`${dir} is a folder: name the documents profile its sub-folders follow (--profile deals)`);
  let profile;
  try {
    profile = loadProfile(flags.profile);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!profile.documents) throw new UsageError(`profile ${profile.name} reads records from a file, not documents from a folder: give it a CSV or JSON file`);
  let groups;
  try {
    groups = readDocumentFolder(dir, profile);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  if (!groups.length) throw new InputError(`${dir}: no sub-folders (one per ${profile.groupKey}, holding its documents)`);
  const say = (line: string) => {
    if (!flags.json) process.stderr.write(`${line}\n`);
  };
  const run = `${basename(resolve(dir)).replace(/[^\w.-]+/g, '_')}${flags.force ? `-${new Date().toISOString().replace(/[:.]/g, '-')}` : ''}`;
  return withStack(flags, true, async (rt) => {
    const bucket = rt.names.buckets.drop;
    const dropped = await dropDocuments(rt.clients.s3, bucket, { profile, run, groups, mode: flags.mode, ...(flags.rows ? { rows: flags.rows } : {}) });
    say(`${groups.length} ${profile.groupKey} folders, ${dropped.files} documents uploaded; manifest s3://${bucket}/${dropped.key}`);
    return follow(rt, jobIdFor(bucket, dropped.key, dropped.etag), flags);
  });
}
