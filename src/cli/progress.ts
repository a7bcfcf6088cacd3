/**
 * Job progress on stderr: bars on a terminal (cli-progress), plain lines otherwise.
 */
import cliProgress from 'cli-progress';
import { type Job, TERMINAL_STATUSES } from '../domain/job.ts';

export interface ProgressView {
  /** `documentsSettled`: a documents job's documents settled so far (its total is `job.documents`). */
  update(job: Job | undefined, documentsSettled?: number): void;
  stop(): void;
}

export function progressView(stream: NodeJS.WriteStream = process.stderr): ProgressView {
  if (stream.isTTY) return barsView(stream);
  return linesView(stream);
}

function barsView(stream: NodeJS.WriteStream): ProgressView {
  const multi = new cliProgress.MultiBar(
    { stream, clearOnComplete: false, hideCursor: true, format: ' {stage} |{bar}| {value}/{total} {unit} {status}', barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  const rows = multi.create(1, 0, { stage: 'ingest ', unit: 'rows', status: '' });
  const groups = multi.create(1, 0, { stage: 'decide ', unit: 'groups', status: '' });
  let documents: cliProgress.SingleBar | undefined;
  return {
    update(job, documentsSettled) {
      if (!job) return;
      const read = job.counts.rows || job.rowsRead || 0;
      rows.setTotal(Math.max(read, 1));
      rows.update(read, { status: job.status === 'INGESTING' ? 'reading' : '' });
      if (job.documents !== undefined) {
        documents ??= multi.create(1, 0, { stage: 'enrich ', unit: 'documents', status: '' });
        documents.setTotal(Math.max(job.documents, 1));
        documents.update(Math.min(documentsSettled ?? 0, job.documents));
      }
      groups.setTotal(Math.max(job.counts.groups, 1));
      groups.update(job.counts.decided + job.counts.failed, { status: job.status });
    },
    stop() {
      multi.stop();
    },
  };
}

function linesView(stream: NodeJS.WriteStream): ProgressView {
  let last = '';
  let lastAt = 0;
  return {
    update(job, documentsSettled) {
      if (!job) return;
      const c = job.counts;
      const documents = job.documents === undefined ? '' : `, documents ${Math.min(documentsSettled ?? 0, job.documents)}/${job.documents}`;
      const line = `${job.status.toLowerCase()}: rows ${c.rows || job.rowsRead || 0}${documents}, groups ${c.decided + c.failed}/${c.groups} settled`;
      const now = Date.now();
      // A changed line at most every 2 s, but at once when the status changes or the job has ended (its final counts).
      if (line !== last && (now - lastAt > 2000 || !last.startsWith(job.status.toLowerCase()) || TERMINAL_STATUSES.has(job.status))) {
        stream.write(`${line}\n`);
        last = line;
        lastAt = now;
      }
    },
    stop() {},
  };
}

/**
 * A follower's patience: `check(job)` throws once the job's status and counts have not changed for `stallMs`
 * (measured on `now`), saying where the job stays; any change starts the wait again.
 */
export function stallGuard(jobId: string, stallMs: number, now: () => number = Date.now): (job: Job | undefined) => void {
  let seen: string | undefined;
  let movedAt = now();
  return (job) => {
    const state = JSON.stringify([job?.status, job?.counts, job?.rowsRead]);
    if (state !== seen) [seen, movedAt] = [state, now()];
    else if (now() - movedAt > stallMs) {
      throw new Error(`job ${jobId} has not moved for ${Math.round(stallMs / 60_000)} minutes (status ${job?.status ?? 'unknown'}); it stays in the state folder: sluice status ${jobId}`);
    }
  };
}
