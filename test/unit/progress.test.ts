// Under test: the progress `sluice run` writes when stderr is not a terminal (src/cli/progress.ts): a line per change
// at most every 2 s, at once when the status changes or the job ends; a documents job's documents settled of its total.
import { describe, expect, it } from 'vitest';
import { type Job, JobStatus } from '../../src/domain/job.ts';
import { progressView, stallGuard } from '../../src/cli/progress.ts';

const job = (status: JobStatus, decided: number, documents?: number): Job => ({
  jobId: 'j-1',
  bucket: 'drop',
  key: 'incoming/deals/deals.jsonl',
  etag: 'e',
  size: 1,
  profile: 'deals',
  mode: 'full',
  status,
  counts: { rows: 3, accepted: 3, rejected: 0, duplicates: 0, groups: 3, enriched: 0, pending: 0, decided, failed: 0 },
  timings: { receivedAt: '2026-12-04T00:00:00.000Z' },
  ...(documents === undefined ? {} : { documents }),
});

describe('the progress lines', () => {
  it("show a documents job's documents settled, and the job's final counts when it ends", () => {
    const lines: string[] = [];
    const view = progressView({ isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream);
    view.update(job(JobStatus.PROCESSING, 0, 19), 4);
    view.update(job(JobStatus.PROCESSING, 1, 19), 9); // within 2 s of the last line, same status: not written
    view.update(job(JobStatus.COMPLETE, 3, 19), 12);
    view.update(job(JobStatus.COMPLETE, 3, 19), 19); // the job has ended: its final counts are written at once
    expect(lines).toEqual([
      'processing: rows 3, documents 4/19, groups 0/3 settled\n',
      'complete: rows 3, documents 12/19, groups 3/3 settled\n',
      'complete: rows 3, documents 19/19, groups 3/3 settled\n',
    ]);
  });

  it('leave documents out for a records job', () => {
    const lines: string[] = [];
    progressView({ isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream).update(job(JobStatus.PROCESSING, 2));
    expect(lines).toEqual(['processing: rows 3, groups 2/3 settled\n']);
  });
});

describe('the stall guard of sluice run', () => {
  it('ends the following once a job has not moved for its wait, and waits again after every change', () => {
    let now = 0;
    const check = stallGuard('j-1', 10 * 60_000, () => now);
    check(job(JobStatus.PROCESSING, 0));
    now = 9 * 60_000;
    check(job(JobStatus.PROCESSING, 0)); // 9 minutes without a change: still followed
    now = 10 * 60_000 + 1;
    check(job(JobStatus.PROCESSING, 1)); // a group settled: the wait starts again
    now = 20 * 60_000;
    check(job(JobStatus.PROCESSING, 1));
    now = 20 * 60_000 + 2;
    expect(() => check(job(JobStatus.PROCESSING, 1))).toThrow('job j-1 has not moved for 10 minutes (status PROCESSING); it stays in the state folder: sluice status j-1');
  });

  it('counts a job not found yet as a state of its own', () => {
    let now = 0;
    const check = stallGuard('j-2', 1000, () => now);
    check(undefined);
    now = 2000;
    check(job(JobStatus.INGESTING, 0)); // it appeared: moved
    now = 2500;
    expect(() => check(job(JobStatus.INGESTING, 0))).not.toThrow();
  });
});
