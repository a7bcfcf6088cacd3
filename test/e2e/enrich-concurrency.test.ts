// Under test: how many enrich batches the local runtime runs at once. Enriching offline a batch is CPU work on its
// process's one thread, so a process runs at most OFFLINE_ENRICH_BATCHES at once; with a provider given (an LLM's
// batches wait on the network) it runs the function's share of the topology's maxConcurrency.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { generateClaims, toCsv } from '../../scripts/lib/claims-generator.ts';
import { createOfflineProvider } from '../../src/domain/enrich/offline-provider.ts';
import { jobIdFor } from '../../src/domain/job.ts';
import type { SqsHandler } from '../../src/lambda/sqs-steps.ts';
import { type LocalRuntime, type LocalRuntimeOptions, OFFLINE_ENRICH_BATCHES, startLocalRuntime } from '../../src/local/runtime.ts';
import { topology } from '../../src/topology/topology.ts';

// 400 claims of one note: 400 groups, 40 enrich messages of ten groups.
const { header, rows } = generateClaims({ seed: 5, claims: 400, notesPerClaim: 1, longNoteShare: 0, invalidRows: 0, duplicateRows: 0, conflictRows: 0 });
const body = toCsv(header, rows);
let rt: LocalRuntime | undefined;

afterEach(async () => {
  await rt?.stop();
  rt = undefined;
});

/** Runs the file through a runtime whose enrich invocations each last at least 400 ms; the most seen at once. */
async function mostEnrichBatchesAtOnce(options: Partial<LocalRuntimeOptions>): Promise<{ most: number; decided: number }> {
  let now = 0;
  let most = 0;
  const slowEnrich = (fn: string, handler: SqsHandler): SqsHandler =>
    fn !== 'enrich'
      ? handler
      : async (event, context) => {
          most = Math.max(most, ++now);
          try {
            const [result] = await Promise.all([handler(event, context), new Promise((r) => setTimeout(r, 400))]);
            return result;
          } finally {
            now -= 1;
          }
        };
  rt = await startLocalRuntime({ logLevel: 'SILENT', waitSeconds: 1, wrapHandler: slowEnrich, ...options });
  const key = 'incoming/claims/concurrency.csv';
  const put = await rt.clients.s3.send(new PutObjectCommand({ Bucket: rt.names.buckets.drop, Key: key, Body: body }));
  const job = await rt.waitForJob(jobIdFor(rt.names.buckets.drop, key, put.ETag!), { timeoutMs: 120_000 });
  return { most, decided: job.counts.decided };
}

describe('enrich batches at once in a process', () => {
  it('are at most OFFLINE_ENRICH_BATCHES when enriching offline, and every group is still decided', async () => {
    const { most, decided } = await mostEnrichBatchesAtOnce({});
    expect(decided).toBe(400);
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(OFFLINE_ENRICH_BATCHES);
  }, 150_000);

  it('reach beyond it with a provider given, up to the topology’s maxConcurrency', async () => {
    const { most, decided } = await mostEnrichBatchesAtOnce({ provider: createOfflineProvider() });
    expect(decided).toBe(400);
    expect(most).toBeGreaterThan(OFFLINE_ENRICH_BATCHES);
    expect(most).toBeLessThanOrEqual(topology.functions.enrich.trigger!.maxConcurrency);
  }, 150_000);
});
