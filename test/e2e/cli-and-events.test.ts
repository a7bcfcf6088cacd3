// Under test: the sample events in events/ invoked on the handlers (as `sluice invoke` does), and the `sluice` CLI as a user runs it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { runChunks } from '../helpers/factories.ts';

const event = (name: string) => JSON.parse(readFileSync(`events/${name}`, 'utf8')) as SQSEvent;

describe('events/ on the ingest handler', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT' });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('acknowledges s3:TestEvent and creates no job', async () => {
    const r = await rt.invoke('ingest', event('ingest-s3-test-event.json'));
    expect(r.batchItemFailures).toEqual([]);
    expect(await rt.store.listJobs(5)).toEqual([]);
  });

  it('handles several records in one notification, decoding `+` and percent-escapes and ignoring deletes', async () => {
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: 'sluice-local-drop', Key: 'incoming/claims/claims-notes.csv', Body: readFileSync('samples/claims-notes.csv') }));
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: 'sluice-local-drop', Key: 'incoming/claims/March notes (final).csv', Body: '' }));
    const r = await rt.invoke('ingest', event('ingest-s3-multi-record.json'));
    expect(r.batchItemFailures).toEqual([]);
    expect(await runChunks(rt)).toBe(3); // the sample: one chunk, then one partition; the empty file fails at its chunk
    const jobs = await rt.store.listJobs(5);
    expect(jobs.map((j) => j.key).sort()).toEqual(['incoming/claims/March notes (final).csv', 'incoming/claims/claims-notes.csv']);
    const empty = jobs.find((j) => j.key.startsWith('incoming/claims/March'))!;
    expect(empty).toMatchObject({ status: 'FAILED', badInput: true });
    const sample = jobs.find((j) => j.key === 'incoming/claims/claims-notes.csv')!;
    expect(sample.jobId).toBe(jobIdFor('sluice-local-drop', 'incoming/claims/claims-notes.csv', 'ce771076312fc1fd125bb91f20c7c3d2'));
    expect(sample.status).toBe('PROCESSING'); // no event sources here: the groups wait in the enrich queue
    // the same event again ingests nothing twice
    await rt.invoke('ingest', event('ingest-s3-put.json'));
    expect(await runChunks(rt)).toBe(0);
    expect((await rt.store.getJob(sample.jobId))!.timings.ingestEndedAt).toBe(sample.timings.ingestEndedAt);
  });
});

describe('the sluice CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const sluice = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', join(dir, 'state')], { encoding: 'utf8', timeout: 120_000 });

  it('run --json prints exactly one JSON object whose files exist, and a rerun reports the same job', () => {
    const r = sluice('run', 'samples/claims-notes.csv', '--json', '--out', join(dir, 'out'));
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(out).toMatchObject({ status: 'COMPLETE_WITH_ERRORS', profile: 'claims', mode: 'full' });
    expect(out.counts.rows).toBe(out.counts.accepted + out.counts.rejected + out.counts.duplicates);
    for (const path of [out.results.jsonl, out.results.csv, out.results.summary, out.rejects]) expect(existsSync(path)).toBe(true);
    expect(out.s3.jsonl).toMatch(/^s3:\/\/sluice-local-results\/results\//);
    const again = JSON.parse(sluice('run', 'samples/claims-notes.csv', '--json', '--out', join(dir, 'out2')).stdout);
    expect(again.jobId).toBe(out.jobId);
    const status = JSON.parse(sluice('status', '--json').stdout);
    expect(status.jobs).toHaveLength(1);
    expect(status.jobs[0]).toMatchObject({ jobId: out.jobId, bucket: 'sluice-local-drop', key: 'incoming/claims/claims-notes.csv' });
    // metrics --json: one JSON object whose day figures are the job's counts exactly
    const metrics = sluice('metrics', '--json');
    expect(metrics.status).toBe(0);
    const claims = JSON.parse(metrics.stdout).profiles.find((p: { profile: string }) => p.profile === 'claims');
    for (const k of ['rows', 'accepted', 'rejected', 'duplicates', 'groups', 'decided', 'failed', 'pending']) expect(claims[k], k).toBe(out.counts[k]);
  });

  it('exits 2 naming the file and the reason for a file that cannot be read, and the job still ends', () => {
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const r = sluice('run', empty, '--json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('empty.csv');
    expect(r.stderr).toContain('the file is empty');
    expect(JSON.parse(r.stdout).status).toBe('FAILED');
  });

  it('exits 2 on bad usage', () => {
    expect(sluice('run').status).toBe(2);
    expect(sluice('run', 'samples/claims-notes.csv', '--mode', 'slow').status).toBe(2);
    expect(sluice('run', join(dir, 'missing.csv')).stderr).toContain('missing.csv: cannot read (ENOENT)');
  });
});
