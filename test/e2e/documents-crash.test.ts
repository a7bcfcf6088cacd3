// Under test: the documents fan-in under kill -9. `sluice dev` runs a deals drop (20 opportunities, 100 documents)
// and kills itself (SIGKILL) at a named point between two writes — after the manifest's ledger is stored, after a
// document is stored but before it is counted, after it is counted but before its group is rolled up, after a
// group is rolled up but before it is counted — then restarts on the same state folder. Every opportunity must be
// rolled up from all of its documents and the job end exactly as a clean run of the same drop (that a roll-up is
// stored once under duplicate deliveries is test/e2e/documents.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDeals } from '../../scripts/lib/deals-generator.ts';
import { pdfBytes } from '../../scripts/lib/document-builders.ts';
import { type CrashResult, type DevProcess, crashRun } from '../../scripts/lib/crash-matrix.ts';
import { type DocumentGroup, dropDocuments } from '../../src/cli/drop-documents.ts';
import { jobIdFor } from '../../src/domain/job.ts';
import { localClients } from '../../src/local/runtime.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

const deals = loadProfile('deals');
const dirs: string[] = [];
let groups: DocumentGroup[];
let clean: CrashResult;
const env = { SLUICE_LOCAL_VISIBILITY_SECONDS: '6' };

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-docs-crash-'));
  dirs.push(d);
  return d;
}

async function drop(dev: DevProcess): Promise<string> {
  const { s3 } = localClients(dev.endpoints);
  try {
    const dropped = await dropDocuments(s3, dev.buckets.drop, { profile: deals, run: 'crash', groups });
    return jobIdFor(dev.buckets.drop, dropped.key, dropped.etag);
  } finally {
    s3.destroy();
  }
}

beforeAll(async () => {
  const opportunities = await generateDeals({ seed: 31, opportunities: 20, documentsPerOpportunity: 5 });
  groups = opportunities.map((o, i) => ({
    values: { opportunity_id: o.id, account: o.account, owner: o.owner, stage: o.stage },
    files: [...o.documents.map((d) => ({ name: d.name.split('/').pop()!, bytes: d.bytes })), ...(i % 7 === 0 ? [{ name: 'scan.pdf', bytes: pdfBytes({}) }] : [])],
  }));
  clean = await crashRun({ drop, state: tempDir(), timeoutMs: 120_000, env });
}, 180_000);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('kill -9 amid a deals drop, then a restart', () => {
  it('the clean run decides every opportunity from all of its documents', () => {
    expect(clean.crashed).toBe(false);
    expect(clean.outcome.counts).toMatchObject({ groups: 20, decided: 20, failed: 0 });
    for (const line of clean.outcome.results) {
      const r = JSON.parse(line) as { groupId: string; enrichment: { documents: { read: unknown[]; rejected: unknown[] } } };
      const g = groups.find((x) => x.values.opportunity_id === r.groupId)!;
      expect(r.enrichment.documents.read.length + r.enrichment.documents.rejected.length).toBe(g.files.length);
    }
  });

  it.each([['manifest.stored@1'], ['document.saved@30'], ['document.counted@12'], ['group.rolled-up@8']])(
    'crashed at %s, every opportunity is rolled up from all of its documents and the job ends as the clean run did',
    async (crashAt) => {
      const run = await crashRun({ drop, state: tempDir(), crashAt, timeoutMs: 120_000, env });
      expect(run.crashed).toBe(true);
      expect(run.orphans).toBe(0);
      expect(run.outcome.status).toBe(clean.outcome.status);
      expect(run.outcome.counts).toEqual(clean.outcome.counts);
      expect(run.outcome.results).toEqual(clean.outcome.results);
      expect(run.outcome.rejects).toEqual(clean.outcome.rejects);
    },
    240_000,
  );
});
