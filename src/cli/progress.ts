/**
 * Job progress on stderr: bars on a terminal (cli-progress), plain lines otherwise.
 */
import cliProgress from 'cli-progress';
import type { Job } from '../domain/job.ts';

export interface ProgressView {
  update(job: Job | undefined): void;
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
  return {
    update(job) {
      if (!job) return;
      const read = job.counts.rows || job.rowsRead || 0;
      rows.setTotal(Math.max(read, 1));
      rows.update(read, { status: job.status === 'INGESTING' ? 'reading' : '' });
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
    update(job) {
      if (!job) return;
      const c = job.counts;
      const line = `${job.status.toLowerCase()}: rows ${c.rows || job.rowsRead || 0}, groups ${c.decided + c.failed}/${c.groups} settled`;
      const now = Date.now();
      if (line !== last && (now - lastAt > 2000 || !last.startsWith(job.status.toLowerCase()))) {
        stream.write(`${line}\n`);
        last = line;
        lastAt = now;
      }
    },
    stop() {},
  };
}
