// Under test: daily metrics after real runs — the day's figures equal the jobs' counts exactly, stage coverage
// and the pending backlog reflect a fast-mode job, and a quality gate that does not hold raises a stored alert.
import { readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import type { CallRecord } from '../../src/local/local-iam.ts';
import { type MetricsReport, computeMetrics } from '../../src/pipeline/metrics.ts';
import { grantCheck } from '../helpers/factories.ts';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';

let rt: LocalRuntime;
const jobs: Job[] = [];
const calls: CallRecord[] = [];
const day = () => new Date().toISOString().slice(0, 10);

async function drop(key: string, body: Buffer | string, mode: 'fast' | 'full'): Promise<Job> {
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: body, Metadata: { 'sluice-mode': mode } }));
  return rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
}

const metrics = (now?: Date) => computeMetrics(rt.operatorDeps(), { day: day(), pricePer1kPromptTokens: 0.00015, dlqDepths: async () => ({ enrich: 0 }), now });

beforeAll(async () => {
  rt = await startLocalRuntime({ logLevel: 'SILENT', onAwsCall: (c) => calls.push(c) });
  jobs.push(await drop('incoming/claims/sample.csv', readFileSync('samples/claims-notes.csv'), 'full'));
  const { header, rows } = generateClaims({ seed: 61, claims: 20, notesPerClaim: 2, longNoteShare: 0, invalidRows: 2, duplicateRows: 1, conflictRows: 0 });
  jobs.push(await drop('incoming/claims/fast.csv', toCsv(header, rows), 'fast'));
});
afterAll(async () => {
  await rt?.stop();
});

describe('sluice metrics', () => {
  it('adds up exactly to the day’s job counts, with coverage and backlog from the fast-mode job', async () => {
    const report = await metrics();
    const claims = report.profiles.find((p) => p.profile === 'claims')!;
    expect(claims.jobs).toBe(2);
    for (const k of ['rows', 'accepted', 'rejected', 'duplicates', 'groups', 'decided', 'failed', 'pending'] as const) {
      expect(claims[k], k).toBe(jobs[0]!.counts[k] + jobs[1]!.counts[k]);
    }
    expect(claims.rows).toBe(claims.accepted + claims.rejected + claims.duplicates);
    expect(claims.coverage.sentiment).toBe(1);
    expect(claims.coverage.summary).toBeGreaterThan(0.5);
    expect(claims.coverage.summary).toBeLessThan(1);
    expect(report.backlog.size).toBe(jobs[1]!.counts.pending);
    expect(report.backlog.byKey.pending_lossDescription).toBe(jobs[1]!.counts.pending);
    expect(claims.latencyMs.enrich.p95).toBeGreaterThanOrEqual(claims.latencyMs.enrich.p50);
    expect(report.alerts).toEqual([]);
  });

  it('raises and stores an alert when a gate does not hold (the backlog older than 24 h)', async () => {
    const later = new Date(Date.now() + 25 * 3_600_000);
    const report = await metrics(later);
    expect(report.alerts.map((a) => a.gate)).toEqual(['backlog-age']);
    expect(report.alerts[0]!.message).toMatch(/backlog\.oldestAgeHours is 2[45](\.\d+)?, the gate backlog-age needs < 24/);
    const stored = await DynamoDBDocumentClient.from(rt.clients.dynamodb).send(
      new GetCommand({ TableName: rt.names.table, Key: { pk: `ALERT#${day()}`, sk: 'claims#backlog-age' } }),
    );
    expect(stored.Item).toMatchObject({ gate: 'backlog-age', metric: 'backlog.oldestAgeHours', threshold: 24 });
  });
});

describe('the daily metrics λ', () => {
  it('reports the day before its schedule time, alerts on an old backlog, and calls exactly what its access grants', async () => {
    const event = JSON.parse(readFileSync('events/metrics-scheduled.json', 'utf8'));
    const midnight = Date.parse(`${day()}T00:00:00Z`);
    // Fired just after tonight's midnight: today's metrics, equal to what `sluice metrics` gives now.
    const today = (await rt.invokeScheduled('metrics', { ...event, time: new Date(midnight + 86_400_000 + 60_000).toISOString() })) as MetricsReport;
    expect(today.day).toBe(day());
    expect(today.profiles.find((p) => p.profile === 'claims')!.rows).toBe(jobs[0]!.counts.rows + jobs[1]!.counts.rows);
    expect(today.dlq).toEqual({ ingest: 0, chunks: 0, enrich: 0, decide: 0 });
    // Fired three days on: the fast job's pending summaries are now more than 24 h old.
    const later = (await rt.invokeScheduled('metrics', { ...event, time: new Date(midnight + 3 * 86_400_000).toISOString() })) as MetricsReport;
    expect(later.alerts.map((a) => a.gate)).toEqual(['backlog-age']);

    // sns:Publish: there is no SNS locally; alerts are stored and logged here, published to the alert topic deployed.
    // The config bucket is read only once a profile version is pushed (failures.test.ts and profile-versions.test.ts push one).
    expect(grantCheck(calls, 'metrics', ['sns:Publish', 's3:GetObject on bucket config'])).toEqual({ denied: [], unused: [] });
  });
});
