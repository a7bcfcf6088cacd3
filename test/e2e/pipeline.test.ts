// Under test: files dropped into the local runtime (dynalite, fauxqs and the disk S3 server on loopback) flowing ingest → enrich → decide, with status, rejects, results and idempotency.
import { readFileSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';

let rt: LocalRuntime;
const sample = readFileSync('samples/claims-notes.csv');

beforeAll(async () => {
  rt = await startLocalRuntime({ logLevel: 'SILENT', waitSeconds: 1 });
});
afterAll(async () => {
  await rt?.stop();
});

async function drop(key: string, body: Buffer | string): Promise<Job> {
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: body }));
  return rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
}

async function read(key: string): Promise<string> {
  const r = await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: key }));
  return r.Body!.transformToString();
}

describe('the bundled sample', () => {
  let job: Job;
  beforeAll(async () => {
    job = await drop('incoming/claims/claims-notes.csv', sample);
  });

  it('ends COMPLETE_WITH_ERRORS with every row accounted for and every group decided', () => {
    const c = job.counts;
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    const dataLines = sample.toString('latin1').split('\r\n').filter(Boolean).length - 1;
    expect(c.rows).toBeGreaterThanOrEqual(380);
    expect(c.rows).toBe(c.accepted + c.rejected + c.duplicates);
    expect(c.rows).toBeLessThanOrEqual(dataLines);
    expect(c.rejected).toBe(7);
    expect(c.duplicates).toBe(5);
    expect(c.groups).toBe(100);
    expect(c.decided + c.failed).toBe(c.groups);
    expect(c.failed).toBe(0);
  });

  it('writes each rejected or duplicate row with the line it is on, its field and reason', async () => {
    const rejects = (await read(job.results!.rejects)).trim().split('\n').map((l) => JSON.parse(l));
    expect(rejects).toHaveLength(job.counts.rejected + job.counts.duplicates);
    const physical = sample.toString('latin1').split('\r\n');
    for (const r of rejects) {
      expect(Object.keys(r).sort()).toEqual(['field', 'file', 'line', 'reason', 'record']);
      expect(r.file).toBe('incoming/claims/claims-notes.csv');
      expect(r.record).toBe(r.line - 1);
    }
    const utf8 = rejects.find((r) => r.reason === 'invalid UTF-8');
    expect(utf8.field).toBe('note');
    expect(physical[utf8.line - 1]).toContain(',X4,');
    const badDate = rejects.find((r) => r.reason.includes('2025-02-30'));
    expect(badDate.field).toBe('created_at');
    expect(physical[badDate.line - 1]).toContain('2025-02-30');
    const dup = rejects.find((r) => r.reason.startsWith('duplicate of line'));
    const first = Number(dup.reason.match(/\d+/)[0]);
    expect(physical[dup.line - 1]).toBe(physical[first - 1]);
  });

  it('gives each results line its group, the enrichment with its provider, and the decision with evidence', async () => {
    const lines = (await read(job.results!.jsonl)).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(100);
    expect(new Set(lines.map((l) => l.groupId)).size).toBe(100);
    for (const l of lines) {
      expect(l.enrichment.provider).toBe('offline');
      expect(['yes', 'no', 'not_applicable']).toContain(l.decision.outcome);
      expect(l.decision.evidence).toHaveLength(5);
      for (const rule of l.decision.evidence) for (const c of rule.conditions) expect(c).toHaveProperty('factValue');
    }
    const csv = await read(job.results!.csv);
    expect(csv.split('\n')[0]).toContain('group_id,status,decision,outcome');
  });

  it('makes one job of the same object dropped twice, and a new job of a changed file', async () => {
    const again = await drop('incoming/claims/claims-notes.csv', sample);
    expect(again.jobId).toBe(job.jobId);
    expect(again.timings.finishedAt).toBe(job.timings.finishedAt);
    const changed = await drop('incoming/claims/claims-notes.csv', Buffer.concat([sample, Buffer.from('CLM-999999,1,"Short but new note for a claim that was not in the earlier version of the file at all.",15,2025-05-01,adj.kim,2025-05-01,north\r\n')]));
    expect(changed.jobId).not.toBe(job.jobId);
    expect(changed.counts.groups).toBe(101);
    const jobs = await rt.store.listJobs(10);
    expect(jobs.filter((j) => j.key === 'incoming/claims/claims-notes.csv')).toHaveLength(2);
  });
});

describe('bad input', () => {
  it.each([
    ['an empty file', 'incoming/claims/empty.csv', '', 'the file is empty'],
    ['a header without the note column', 'incoming/claims/nohead.csv', 'CLAIMNO,NOTEID\nC1,1\n', 'lacks required column(s): note'],
    ['a file of blank lines', 'incoming/claims/blank.csv', '\r\n  \r\n\r\n', 'the file is empty'],
    ['a binary file', 'incoming/claims/blob.csv', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0]), 'binary'],
  ])('fails %s with the file and the reason, and the job still ends', async (_n, key, body, reason) => {
    const job = await drop(key, body);
    expect(job.status).toBe('FAILED');
    expect(job.badInput).toBe(true);
    expect(job.error).toContain(key);
    expect(job.error).toContain(reason);
  });

  it('completes a file with a NUL byte in one row: that row is in the rejects with its line and field, every other row accepted', async () => {
    // Prepare
    const text = 'Water leak from a burst pipe damaged the kitchen ceiling and the drywall; plumber attended the same day.';
    const csv = `CLAIMNO,NOTEID,FN_TEXT,LOBCD\r\nC-N1,1,${text},15\r\nC-N1,2,${text.replace('pipe', 'pi\u0000pe')},15\r\nC-N2,1,${text},15\r\n`;
    // Act
    const job = await drop('incoming/claims/nul.csv', csv);
    // Assess
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ rows: 3, accepted: 2, rejected: 1, duplicates: 0, groups: 2, decided: 2, failed: 0 });
    const rejects = (await read(job.results!.rejects)).trim().split('\n').map((l) => JSON.parse(l));
    expect(rejects).toEqual([{ file: 'incoming/claims/nul.csv', line: 3, record: 2, field: 'note', reason: 'control character U+0000 at position 27' }]);
  });

  it('keeps the line break inside a quoted note, and an unterminated quote rejects its row only: the rows after it are read', async () => {
    // Prepare: a two-line quoted note on lines 2-3; a quote opened on line 4 never closed; two good rows after it
    const first = 'Water leak from a burst pipe damaged the kitchen ceiling.';
    const second = 'Plumber attended the same day and the drywall was replaced.';
    const text = `${first} ${second}`;
    const csv = `CLAIMNO,NOTEID,FN_TEXT,LOBCD\nC-Q1,1,"${first}\n${second}",15\nC-Q1,2,"${text},15\nC-Q2,1,${text},15\nC-Q3,1,${text},15\n`;
    // Act
    const job = await drop('incoming/claims/quotes.csv', csv);
    // Assess: three rows accepted, the one with the open quote rejected by its line, and the note's two lines kept
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ rows: 4, accepted: 3, rejected: 1, duplicates: 0, groups: 3, decided: 3, failed: 0 });
    const rejects = (await read(job.results!.rejects)).trim().split('\n').map((l) => JSON.parse(l));
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ file: 'incoming/claims/quotes.csv', line: 4, record: 2 });
    expect(rejects[0].reason).toBe('unterminated quote in column "FN_TEXT": the quoted field opened on line 4 is not closed before the end of the file; lines 5-6 are read again as rows');
    expect(await read(`records/${job.jobId}/c00000.jsonl`)).toContain(JSON.stringify(`${first}\n${second}`));
  });

  it('takes the first of rows that share a key: an exact repeat is a duplicate, a changed one a conflict naming the field that differs', async () => {
    // Prepare: C-K1/1 on line 2, again as it is on line 3, with another line of business on line 4, another note on 5
    const text = 'Storm lifted the ridge tiles; rain came into the loft and stained the bedroom ceiling.';
    const csv = `CLAIMNO,NOTEID,FN_TEXT,LOBCD\r\nC-K1,1,${text},15\r\nC-K1,1,${text},15\r\nC-K1,1,${text},16\r\nC-K1,1,${text}!,15\r\nC-K1,2,${text},15\r\n`;
    // Act
    const job = await drop('incoming/claims/repeats.csv', csv);
    // Assess
    expect(job.counts).toMatchObject({ rows: 5, accepted: 2, rejected: 2, duplicates: 1, groups: 1, decided: 1 });
    const rejects = (await read(job.results!.rejects)).trim().split('\n').map((l) => JSON.parse(l));
    const file = 'incoming/claims/repeats.csv';
    expect(rejects).toEqual([
      { file, line: 3, record: 2, field: null, reason: 'duplicate of line 2' },
      { file, line: 4, record: 3, field: 'lob_code', reason: 'conflicts with line 2: same claim_id and note_id, different lob_code' },
      { file, line: 5, record: 4, field: 'note', reason: 'conflicts with line 2: same claim_id and note_id, different note' },
    ]);
  });

  it('rejects a row too large for one stored enrichment with its line and reason, and keeps the others', async () => {
    // Prepare: 2,000 extra columns of 200 characters each, kept as attributes, make row 2 ~400 KB
    const text = 'Hail broke the roof tiles and water came through the ceiling of the upstairs bedroom; roofer attended.';
    const extra = Array.from({ length: 2000 }, (_, i) => `EXTRA_${i}`);
    const big = Array.from({ length: 2000 }, () => 'x'.repeat(200));
    const csv = [
      ['CLAIMNO', 'NOTEID', 'FN_TEXT', 'LOBCD', ...extra].join(','),
      ['C-B1', '1', text, '15', ...big].join(','),
      ['C-B2', '1', text, '15', ...extra.map(() => '')].join(','),
    ].join('\r\n');
    // Act
    const job = await drop('incoming/claims/wide.csv', csv);
    // Assess
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ rows: 2, accepted: 1, rejected: 1, groups: 1, decided: 1 });
    const [reject] = (await read(job.results!.rejects)).trim().split('\n').map((l) => JSON.parse(l));
    expect(reject).toMatchObject({ line: 2, record: 1, field: null });
    expect(reject.reason).toMatch(/^the record is \d+ KB; at most 380 KB are taken per record$/);
  });

  it('completes a file with a header and no data rows with 0 rows and empty results', async () => {
    // Act
    const job = await drop('incoming/claims/header-only.csv', 'CLAIMNO,NOTEID,FN_TEXT,LOBCD\r\n');
    // Assess
    expect(job.status).toBe('COMPLETE');
    expect(job.counts).toEqual({ rows: 0, accepted: 0, rejected: 0, duplicates: 0, groups: 0, enriched: 0, pending: 0, decided: 0, failed: 0 });
    expect(await read(job.results!.jsonl)).toBe('');
    expect((await read(job.results!.csv)).trim().split('\n')).toHaveLength(1);
    expect(await read(job.results!.rejects)).toBe('');
  });

  it('ends a file whose header has 100,000 columns: each row too large to take is rejected with its line and size, nothing stuck', async () => {
    // Prepare: the profile's columns and 100,000 more (the case, which once sat in INGESTING for 90 minutes)
    const text = 'Water leak from a burst pipe damaged the kitchen ceiling and the drywall; plumber attended the same day.';
    const extra = Array.from({ length: 100_000 }, (_, i) => `X${i}`);
    const csv = `CLAIMNO,NOTEID,FN_TEXT,LOBCD,${extra.join(',')}\nC-W1,1,${text},15,${extra.map(() => '').join(',')}\nC-W2,1,${text},15,${extra.map(() => '').join(',')}\n`;
    // Act
    const job = await drop('incoming/claims/wide.csv', csv);
    // Assess: the job ended; each row (its 100,004 fields kept, over 1 MB) rejected by its line with its size
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ rows: 2, accepted: 0, rejected: 2, groups: 0 });
    const rejects = (await read(job.results!.rejects)).trim().split('\n').map((l) => JSON.parse(l));
    expect(rejects.map((r) => [r.line, r.record])).toEqual([[2, 1], [3, 2]]);
    for (const r of rejects) expect(r.reason).toMatch(/^the record is \d+ KB; at most 380 KB are taken per record$/);
  });

  it('fails a file under an unknown profile, listing the known ones', async () => {
    const job = await drop('incoming/nosuch/a.csv', 'a,b\n1,2\n');
    expect(job.status).toBe('FAILED');
    expect(job.error).toContain('known: claims');
  });
});
