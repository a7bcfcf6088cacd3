// Under test: the local DynamoDB on disk (dynalite over LevelDB) closing the iterators of its Queries (src/local/dynalite-iterators.ts), through the real SDK over loopback — items overwritten many times while queried keep LevelDB's files near the live data.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../../src/local/emulators.ts';
import { localClients } from '../../src/local/runtime.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const tableFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ldb')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

describe('dynalite on disk, queried while its items are overwritten', () => {
  it('deletes the table files compaction replaced: 36 MB written over 0.9 MB of live items leaves under 16 MB of them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-ddb-it-'));
    dirs.push(dir);
    let emu: Emulators | undefined;
    try {
      emu = await startEmulators({ stateDir: dir });
      const ddb = localClients(emu.endpoints).dynamodb;
      await ddb.send(new CreateTableCommand({ TableName: 'notes', KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }));
      while ((await ddb.send(new DescribeTableCommand({ TableName: 'notes' }))).Table?.TableStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 10));
      // Random bytes (LevelDB compresses): 600 writes of 60 KB over 15 items (one page of a Query); each followed by a Query read to its
      // end and one stopped after its first item (as a job's counters and ledger are read while groups settle).
      for (let i = 0; i < 600; i++) {
        await ddb.send(new PutItemCommand({ TableName: 'notes', Item: { pk: { S: 'job' }, sk: { S: `item-${i % 15}` }, body: { B: randomBytes(60_000) } } }));
        const all = await ddb.send(new QueryCommand({ TableName: 'notes', KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'job' } }, ProjectionExpression: 'sk' }));
        expect(all.Items).toHaveLength(Math.min(i + 1, 15));
        const first = await ddb.send(new QueryCommand({ TableName: 'notes', KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'job' } }, Limit: 1 }));
        expect(first.Items).toHaveLength(1);
      }
      // Compaction runs in LevelDB's background thread: the files it replaced go once no iterator holds them.
      let bytes = tableFiles(join(dir, 'dynamodb'));
      for (let waited = 0; bytes >= 16e6 && waited < 5000; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        bytes = tableFiles(join(dir, 'dynamodb'));
      }
      expect(bytes).toBeLessThan(16e6);
    } finally {
      await emu?.stop();
    }
  }, 60_000);
});
