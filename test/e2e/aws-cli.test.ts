// Under test: `sluice dev` as a user drives it from the AWS CLI — a multipart `aws s3 cp` into the drop
// bucket is ingested and processed, `sluice status` (attached to the running dev) sees the job end, and
// SIGTERM shuts dev down cleanly. `.ci/run` installs the AWS CLI when it is missing.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const hasAws = spawnSync('aws', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!hasAws && !process.env.CI)('the AWS CLI against sluice dev', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-awscli-'));
  const state = join(dir, 'state');
  let dev: ChildProcess;
  let info: { endpoints: { s3: string }; buckets: { drop: string; results: string } };
  let devStderr = '';

  beforeAll(async () => {
    dev = spawn(process.execPath, ['bin/sluice.mjs', 'dev', '--json', '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--state', state], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stderr!.on('data', (d) => {
      devStderr += d;
    });
    const firstLine = await new Promise<string>((resolve, reject) => {
      createInterface({ input: dev.stdout! }).once('line', resolve);
      dev.once('exit', (code) => reject(new Error(`sluice dev exited ${code}: ${devStderr}`)));
    });
    info = JSON.parse(firstLine);
  });
  afterAll(() => {
    if (dev && dev.exitCode === null) dev.kill('SIGKILL');
  });

  const sluice = (...args: string[]) => spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', state], { encoding: 'utf8', timeout: 60_000 });

  it('ingests a file uploaded in parts by `aws s3 cp` and reports it through `sluice status`', async () => {
    // The sample plus one 6 MB row (a note over the profile's 200,000-character limit): two parts of 5 MiB+.
    const sample = readFileSync('samples/claims-notes.csv');
    const file = join(dir, 'big claims (aws).csv');
    writeFileSync(file, Buffer.concat([sample, Buffer.from(`CLM-HUGE,1,${'water damage to the roof '.repeat(250_000)},15,2025-01-02,adj.kim,2025-01-01,north\r\n`)]));
    const config = join(dir, 'aws-config');
    writeFileSync(config, '[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n  addressing_style = path\n');
    const key = 'incoming/claims/big claims (aws).csv';
    execFileSync('aws', ['--endpoint-url', info.endpoints.s3, 's3', 'cp', file, `s3://${info.buckets.drop}/${key}`, '--only-show-errors'], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') },
      stdio: 'pipe',
    });

    let job: { jobId: string; status: string; key: string; etag: string; counts: Record<string, number> } | undefined;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const r = sluice('status', '--json');
      expect(r.status).toBe(0);
      job = JSON.parse(r.stdout).jobs.find((j: { key: string }) => j.key === key);
      if (job && ['COMPLETE', 'COMPLETE_WITH_ERRORS', 'FAILED'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(job?.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job!.etag).toMatch(/-2$/); // the CLI uploaded it in two parts
    expect(job!.counts).toMatchObject({ rows: 395, rejected: 8, duplicates: 5, groups: 100, decided: 100, failed: 0 });

    const results = JSON.parse(sluice('results', job!.jobId, '--json', '--out', join(dir, 'out')).stdout);
    const rejects = readFileSync(results.rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rejects.find((r: { line: number }) => r.line === 396)).toMatchObject({ field: 'note', reason: expect.stringContaining('longer than 200000') });
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
    dev.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(devStderr).toContain('sluice dev: stopping');
  });
});
