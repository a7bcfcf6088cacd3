// Under test: a documents profile (deals) through the whole local pipeline — a manifest of opportunities, their
// documents in every format fanned out one per message, each opportunity rolled up once all its documents
// settled, then decided. Unreadable documents (encrypted PDF, scanned PDF, corrupt .docx, 0 bytes) are rejected
// with the file, the opportunity and the reason, and their opportunities still complete. With every message
// delivered twice at once, each document is settled once and each opportunity rolled up once, after all its
// documents, with the results of a run where each message came once.
import { Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docxBytes, pdfBytes } from '../../scripts/lib/document-builders.ts';
import { type GeneratedOpportunity, generateDeals } from '../../scripts/lib/deals-generator.ts';
import { type DocumentGroup, dropDocuments } from '../../src/cli/drop-documents.ts';
import { type Job, jobIdFor } from '../../src/domain/job.ts';
import type { SqsHandler } from '../../src/lambda/sqs-steps.ts';
import { type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

const deals = loadProfile('deals');
let once: LocalRuntime;
let twice: LocalRuntime;
let last: LocalRuntime;
let opportunities: GeneratedOpportunity[];
const logs = { once: [] as Array<Record<string, unknown>>, twice: [] as Array<Record<string, unknown>> };

const capture = (into: Array<Record<string, unknown>>) =>
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) into.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });

// Each batch is handed to its handler twice, concurrently, as two pollers receiving the same messages would.
const doubled = (_fn: string, handler: SqsHandler): SqsHandler => async (event, context) => {
  const [first, second] = await Promise.all([handler(event, context), handler(event, context)]);
  return { batchItemFailures: [...first.batchItemFailures, ...second.batchItemFailures] };
};

// A document named killer.txt arrives on its last receive (its earlier receives, we pretend, killed their handler).
const onItsLastReceive = (fn: string, handler: SqsHandler): SqsHandler => async (event, context) => {
  if (fn !== 'enrich') return handler(event, context);
  const records = event.Records.map((r) => (r.body.includes('killer.txt') ? { ...r, attributes: { ...r.attributes, ApproximateReceiveCount: '5' } } : r));
  return handler({ ...event, Records: records }, context);
};

/** The unreadable documents, each with the reason it must be rejected for. */
const BAD: Array<[string, () => Promise<Buffer> | Buffer, RegExp]> = [
  ['locked.pdf', () => pdfBytes({ text: 'secret terms', encrypted: true }), /^the PDF is encrypted/],
  ['scan.pdf', () => pdfBytes({}), /^the PDF has no text layer/],
  ['broken.docx', () => Buffer.from('PK\u0003\u0004 not a zip'), /^not a readable \.docx/],
  ['empty.txt', () => Buffer.alloc(0), /^the file is empty \(0 bytes\)$/],
];

async function groups(): Promise<DocumentGroup[]> {
  const out: DocumentGroup[] = [];
  for (const [i, o] of opportunities.entries()) {
    const files = o.documents.map((d) => ({ name: d.name.split('/').pop()!, bytes: d.bytes }));
    // The first opportunity carries every unreadable kind beside its readable documents; the second has only unreadable ones.
    if (i < 2) for (const [name, make] of BAD) files.push({ name, bytes: await make() });
    out.push({ values: { opportunity_id: o.id, account: o.account, owner: o.owner, stage: o.stage, amount: String(o.amount) }, files: i === 1 ? files.slice(-BAD.length) : files });
  }
  return out;
}

async function run(rt: LocalRuntime): Promise<{ job: Job; results: Array<Record<string, any>> }> {
  const dropped = await dropDocuments(rt.clients.s3, rt.names.buckets.drop, { profile: deals, run: 'e2e', groups: await groups() });
  const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, dropped.key, dropped.etag), { timeoutMs: 120_000 });
  const text = async (key: string) => (await (await rt.clients.s3.send(new GetObjectCommand({ Bucket: rt.names.buckets.results, Key: key }))).Body!.transformToString());
  const results = (await text(job.results!.jsonl)).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  return { job, results: results.sort((a, b) => String(a.groupId).localeCompare(String(b.groupId))) };
}

let first: Awaited<ReturnType<typeof run>>;
let second: Awaited<ReturnType<typeof run>>;

beforeAll(async () => {
  opportunities = await generateDeals({ seed: 21, opportunities: 6, documentsPerOpportunity: 4 });
  [once, twice, last] = await Promise.all([
    startLocalRuntime({ logLevel: 'INFO', logStream: capture(logs.once) }),
    startLocalRuntime({ logLevel: 'INFO', logStream: capture(logs.twice), wrapHandler: doubled }),
    startLocalRuntime({ logLevel: 'SILENT', wrapHandler: onItsLastReceive }),
  ]);
  [first, second] = await Promise.all([run(once), run(twice)]);
}, 240_000);
afterAll(async () => {
  await Promise.all([once?.stop(), twice?.stop(), last?.stop()]);
});

describe('a deals drop', () => {
  it('decides every opportunity, each from all of its readable documents', () => {
    const { job, results } = first;
    expect(job.status).toBe('COMPLETE');
    expect(job.counts).toMatchObject({ rows: 6, accepted: 6, rejected: 0, groups: 6, decided: 6, failed: 0 });
    expect(results.map((r) => r.groupId)).toEqual(opportunities.map((o) => o.id).sort());
    for (const r of results) {
      const o = opportunities.find((x) => x.id === r.groupId)!;
      const readable = r.groupId === opportunities[1]!.id ? 0 : o.documents.length;
      expect(r.enrichment.documents.read.map((d: { name: string }) => d.name.split('/').pop()).sort()).toEqual(r.groupId === opportunities[1]!.id ? [] : o.documents.map((d) => d.name.split('/').pop()).sort());
      expect(r.enrichment.outputs.documentsRead).toBe(readable);
      if (readable) expect(['at_risk', 'on_track', 'quiet']).toContain(r.decision.outcome);
      else expect(r.decision.outcome).toBe('no_documents');
    }
  });

  it("removes each document's boilerplate: by the profile's patterns, and the drop's footer learned from a sample of its documents", () => {
    const read = first.results.flatMap((r) => r.enrichment.documents.read as Array<{ removed: { cut: number; dropped: number; repeated: number } }>);
    // The generator's drop-wide footer is in no pattern: only the learned lines remove it.
    expect(read.filter((d) => d.removed.repeated > 0).length).toBeGreaterThan(read.length / 2);
    expect(read.some((d) => d.removed.dropped > 0)).toBe(true);
  });

  it('rejects each unreadable document with its file, its opportunity and the reason, and still completes its opportunity', () => {
    for (const o of opportunities.slice(0, 2)) {
      const r = first.results.find((x) => x.groupId === o.id)!;
      expect(r.status).toBe('DECIDED');
      const rejected = r.enrichment.documents.rejected as Array<{ name: string; reason: string }>;
      expect(rejected).toHaveLength(BAD.length);
      for (const [name, , reason] of BAD) {
        const found = rejected.find((d) => d.name.endsWith(`/${o.id}/${name}`));
        expect(found, `${name} of ${o.id}`).toBeDefined();
        expect(found!.reason).toMatch(reason);
      }
    }
  });

  it('consolidates each opportunity to one entity per real person, with no duplicate', () => {
    for (const r of first.results) {
      const people = (r.enrichment.documents.entities as Array<{ kind: string; emails: string[] }>).filter((e) => e.kind === 'person');
      const emails = people.flatMap((p) => p.emails);
      expect(new Set(emails).size).toBe(emails.length);
      if (r.enrichment.outputs.documentsRead) expect(people.length).toBeGreaterThan(0);
    }
  });

  it('delivered twice at once, settles each document once and rolls each opportunity up once, with the same results', () => {
    expect(second.job.status).toBe(first.job.status);
    expect(second.job.counts).toEqual(first.job.counts);
    const strip = (r: Record<string, any>) => ({ ...r, jobId: undefined, enrichment: { ...r.enrichment, usage: undefined } });
    expect(second.results.map(strip)).toEqual(first.results.map(strip));
    const documents = opportunities.reduce((n, o, i) => n + (i === 1 ? 0 : o.documents.length) + (i < 2 ? BAD.length : 0), 0);
    for (const [name, lines] of Object.entries(logs)) {
      const settled = lines.filter((l) => l.message === 'document settled');
      expect(new Set(settled.map((l) => `${l.groupId}/${l.docId}`)).size, name).toBe(documents);
      expect(settled, name).toHaveLength(documents);
      const rolled = lines.filter((l) => l.message === 'group rolled up');
      expect(rolled.map((l) => l.groupId).sort(), name).toEqual(opportunities.map((o) => o.id).sort());
      // Never before all of its documents had settled.
      for (const l of rolled) expect(l.documents, `${name} ${String(l.groupId)}`).toBe(opportunities.findIndex((o) => o.id === l.groupId) === 1 ? BAD.length : opportunities.find((o) => o.id === l.groupId)!.documents.length + (opportunities.findIndex((o) => o.id === l.groupId) === 0 ? BAD.length : 0));
    }
  });

  it('shows its progress in documents: the total fanned out, and each settled once however often delivered', async () => {
    const documents = opportunities.reduce((n, o, i) => n + (i === 1 ? 0 : o.documents.length) + (i < 2 ? BAD.length : 0), 0);
    for (const [rt, { job }] of [[once, first], [twice, second]] as const) {
      expect(job.documents).toBe(documents);
      expect(await rt.store.countSettledDocuments(job.jobId)).toBe(documents);
    }
  });

  it('settles a document on its last receive as failed, unread, with the reason, and still completes its opportunity', async () => {
    const manifest = JSON.stringify({ opportunity_id: 'K-1', account: 'Globex', documents: [{ name: 'killer.txt', text: 'Globex is talking to Initrode.' }, { name: 'fine.txt', text: 'Next step: Jane Doe sends the form by Friday.' }] });
    const key = 'incoming/deals/last-receive.jsonl';
    const put = await last.clients.s3.send(new PutObjectCommand({ Bucket: last.names.buckets.drop, Key: key, Body: manifest }));
    const job = await last.waitForJob(jobIdFor(last.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
    expect(job.counts).toMatchObject({ groups: 1, decided: 1, failed: 0 });
    const results = (await (await last.clients.s3.send(new GetObjectCommand({ Bucket: last.names.buckets.results, Key: job.results!.jsonl }))).Body!.transformToString()).trim();
    const r = JSON.parse(results) as Record<string, any>;
    expect(r.enrichment.documents.rejected).toEqual([{ name: 'killer.txt', reason: expect.stringMatching(/^not settled in its earlier attempts/) }]);
    expect(r.enrichment.documents.read.map((d: { name: string }) => d.name)).toEqual(['fine.txt']);
    expect(r.enrichment.outputs.competitors).toEqual([]); // killer.txt was not read
    expect(r.decision.outcome).toBe('on_track');
  }, 90_000);

  it('takes a JSON-lines manifest with documents inline and a row range, rejecting its bad rows with line, field and reason', async () => {
    const manifest = [
      { opportunity_id: 'IN-1', account: 'Globex', documents: [{ name: 'call.txt', text: 'Jane Doe (jane.doe@globex.com) wants a pilot. Next step: Jane Doe sends the questionnaire by Friday.' }] },
      { opportunity_id: 'IN-2', documents: [{ name: 'note.md', text: 'No account on this row.' }] },
      { opportunity_id: 'IN-3', account: 'Hooli', documents: [{ name: 'mail.txt', text: 'Hooli is also talking to Initrode about pricing.' }] },
      { opportunity_id: 'IN-4', account: 'Initech', documents: [{ name: 'x.txt', text: 'outside the range' }] },
    ]
      .map((m) => JSON.stringify(m))
      .join('\n');
    const key = 'incoming/deals/inline.jsonl';
    const put = await once.clients.s3.send(new PutObjectCommand({ Bucket: once.names.buckets.drop, Key: key, Body: manifest, Metadata: { 'sluice-rows': '1-3' } }));
    const job = await once.waitForJob(jobIdFor(once.names.buckets.drop, key, put.ETag!), { timeoutMs: 60_000 });
    expect(job.status).toBe('COMPLETE_WITH_ERRORS');
    expect(job.counts).toMatchObject({ rows: 3, accepted: 2, rejected: 1, groups: 2, decided: 2 });
    const text = async (k: string) => (await (await once.clients.s3.send(new GetObjectCommand({ Bucket: once.names.buckets.results, Key: k }))).Body!.transformToString());
    expect(JSON.parse((await text(job.results!.rejects)).trim())).toEqual({ file: key, line: 2, record: 2, field: 'account', reason: 'is missing' });
    const results = Object.fromEntries((await text(job.results!.jsonl)).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>).map((r) => [r.groupId, r]));
    expect(Object.keys(results).sort()).toEqual(['IN-1', 'IN-3']);
    expect(results['IN-1'].decision.outcome).toBe('on_track');
    expect(results['IN-3'].decision.outcome).toBe('at_risk');
    expect(results['IN-3'].enrichment.outputs.competitors).toEqual(['Initrode']);
  }, 90_000);
});
