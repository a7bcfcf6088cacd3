// Under test: the reconciler finishes a documents job that a dead delivery left stuck. A document's delivery died
// after storing its document and before counting it, and its message is gone (its last receive: the DLQ took it), so
// its opportunity's set of settled documents can never complete by itself. The reconciler (its scheduled pass, over
// stalled jobs) finds that opportunity with all of its documents stored, sends it again to enrich as a group message,
// and it is rolled up from all of them and decided; an opportunity still missing a document is left waiting (its
// message is in flight or in the DLQ), and a second pass sends nothing again.
import { DeleteMessageCommand, type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupStatus, jobIdFor } from '../../src/domain/job.ts';
import { LOCAL_REGION, type LocalRuntime, startLocalRuntime } from '../../src/local/runtime.ts';
import { scheduledEvent } from '../../src/local/scheduler.ts';
import type { ReconcileReport } from '../../src/pipeline/reconcile.ts';
import { sqsRecord } from '../helpers/factories.ts';

let rt: LocalRuntime;
// Set for one call: the next UpdateItem the enrich function makes (a document's count) fails, as if it died there.
let dieBeforeCount = false;

beforeAll(async () => {
  rt = await startLocalRuntime({
    logLevel: 'SILENT',
    // No enrich poller: the test hands each enrich message to the handler itself, so it decides which die.
    functions: ['ingest', 'chunk', 'decide'],
    reconcile: { everySeconds: 3600, stallMs: 0 },
    onAwsCall: (call) => {
      if (dieBeforeCount && call.fn === 'enrich' && call.action === 'dynamodb:UpdateItem') {
        dieBeforeCount = false;
        throw new Error('the handler died here');
      }
    },
  });
}, 60_000);
afterAll(async () => {
  await rt?.stop();
});

async function receiveEnrich(n: number, waitMs = 30_000): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + waitMs;
  while (got.length < n && Date.now() < deadline) {
    const r = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.names.queues.enrich.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600, MessageSystemAttributeNames: ['All'] }));
    got.push(...(r.Messages ?? []));
  }
  return got;
}
const enrich = (messages: Message[]) => rt.invoke('enrich', { Records: messages.map((m) => sqsRecord(m.Body!, 1, m.MessageId!)) });
const gone = (m: Message) => rt.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: rt.names.queues.enrich.url, ReceiptHandle: m.ReceiptHandle! }));
const reconcile = async () => (await rt.invokeScheduled('reconcile', scheduledEvent(`arn:aws:events:${LOCAL_REGION}:000000000000:rule/sluice-local-reconcile`, LOCAL_REGION, '000000000000'))) as ReconcileReport;
const named = (m: Message, name: string) => (JSON.parse(m.Body!) as { doc?: { name: string } }).doc?.name === name;

describe('a documents job a dead delivery left stuck', () => {
  it('is finished by the reconciler: the group with all of its documents stored is rolled up and decided, once', async () => {
    // Arrange: three opportunities; R-1's orphan.txt is stored but never counted, R-3's lost.txt never delivered.
    const manifest = [
      { opportunity_id: 'R-1', account: 'Globex', documents: [{ name: 'a.txt', text: 'Globex wants a pilot. Next step: Jane Doe sends the form by Friday.' }, { name: 'orphan.txt', text: 'Globex is also talking to Initrode.' }] },
      { opportunity_id: 'R-2', account: 'Hooli', documents: [{ name: 'b.txt', text: 'Hooli asked about single sign-on. Next step: a call on Monday.' }] },
      { opportunity_id: 'R-3', account: 'Initech', documents: [{ name: 'c.txt', text: 'Initech is quiet.' }, { name: 'lost.txt', text: 'Initech came back.' }] },
    ]
      .map((m) => JSON.stringify(m))
      .join('\n');
    const key = 'incoming/deals/reconcile.jsonl';
    const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: manifest }));
    const jobId = jobIdFor(rt.names.buckets.drop, key, put.ETag!);
    const messages = await receiveEnrich(5);
    expect(messages).toHaveLength(5);
    const orphan = messages.find((m) => named(m, 'orphan.txt'))!;
    const lost = messages.find((m) => named(m, 'lost.txt'))!;
    expect((await enrich(messages.filter((m) => m !== orphan && m !== lost))).batchItemFailures).toEqual([]);
    dieBeforeCount = true;
    await expect(enrich([orphan])).rejects.toThrow(/All records failed/); // its only record: the batch fails whole
    expect(dieBeforeCount).toBe(false); // it died at its count
    await Promise.all([gone(orphan), gone(lost)]);
    expect(await rt.store.listDocuments(jobId, 'R-1')).toHaveLength(2); // both stored; the set counts one
    expect((await rt.store.getGroup(jobId, 'R-1'))?.status).toBeUndefined();

    // Act
    const report = await reconcile();

    // Assess: R-1 sent again (its documents all stored), R-3 left (one missing); the group message rolls R-1 up.
    expect(report.resumed).toEqual([{ jobId, groups: 1 }]);
    const resent = await receiveEnrich(1);
    expect(resent.map((m) => JSON.parse(m.Body!) as Record<string, unknown>)).toEqual([expect.objectContaining({ kind: 'group', jobId, groupId: 'R-1', documents: 2 })]);
    expect((await enrich(resent)).batchItemFailures).toEqual([]);
    const deadline = Date.now() + 30_000;
    while ((await rt.store.getGroup(jobId, 'R-1'))?.status !== GroupStatus.DECIDED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const r1 = await rt.store.getGroup(jobId, 'R-1');
    expect(r1?.status).toBe(GroupStatus.DECIDED);
    expect(r1?.enrichment?.documents?.read.map((d) => d.name).sort()).toEqual(['a.txt', 'orphan.txt']);
    expect(r1?.enrichment?.outputs.competitorsAll).toBe(1); // orphan.txt's Initrode counts
    // A second pass sends nothing again: R-1 is rolled up, R-3 still misses lost.txt.
    expect((await reconcile()).resumed).toEqual([]);
    expect(await receiveEnrich(1, 2_000)).toEqual([]);

    // And once lost.txt is delivered (a redrive), the job ends with every opportunity.
    const [redriven] = (await rt.invoke('enrich', { Records: [sqsRecord(lost.Body!, 1, 'redriven')] })).batchItemFailures;
    expect(redriven).toBeUndefined();
    const job = await rt.waitForJob(jobId, { timeoutMs: 30_000 });
    expect(job.counts).toMatchObject({ groups: 3, decided: 3, failed: 0 });
  }, 120_000);
});
