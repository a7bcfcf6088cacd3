// Under test: the local DynamoDB on disk (dynalite over LevelDB) with its table descriptions kept in memory (src/local/dynalite-tables.ts) and its reads inline (getInline in src/local/dynalite-iterators.ts), through the real SDK over loopback — read once, never stale after a table changes, LevelDB the truth across a restart.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { type LevelPrototype, cacheTableDescriptions } from '../../src/local/dynalite-tables.ts';
import { type Emulators, startEmulators } from '../../src/local/emulators.ts';
import { localClients } from '../../src/local/runtime.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dir: string): Promise<{ emu: Emulators; ddb: DynamoDBClient }> {
  const emu = await startEmulators({ stateDir: dir });
  return { emu, ddb: localClients(emu.endpoints).dynamodb };
}

/** As DynamoDB's, a new table is CREATING for a moment and refuses item calls until ACTIVE. */
async function untilActive(ddb: DynamoDBClient): Promise<void> {
  while ((await ddb.send(new DescribeTableCommand({ TableName: 'notes' }))).Table?.TableStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 10));
}

const table = (key: string) => new CreateTableCommand({ TableName: 'notes', KeySchema: [{ AttributeName: key, KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' });

describe('dynalite on disk with its table descriptions in memory', () => {
  it('reads a table description from LevelDB once for many calls and items inline, reads it again after the table changes, and keeps items across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-ddb-'));
    dirs.push(dir);
    // The counter of the wrapper the emulators installed on dynalite's own LevelDB class.
    const { Level } = createRequire(import.meta.resolve('dynalite'))('level') as { Level: { prototype: LevelPrototype } };
    let emu: Emulators | undefined;
    try {
      let ddb: DynamoDBClient;
      ({ emu, ddb } = await start(dir));
      const reads = cacheTableDescriptions(Level.prototype).reads;
      await ddb.send(table('pk'));
      await untilActive(ddb);
      const before = reads();
      // Every item read goes through LevelDB's synchronous get (counted here), a missing item as well.
      const proto = Level.prototype as unknown as { _getSync(key: unknown, options: unknown): unknown };
      const getSync = proto._getSync;
      let inline = 0;
      proto._getSync = function (this: unknown, key: unknown, options: unknown) {
        inline += 1;
        return getSync.call(this, key, options);
      };
      try {
        for (let i = 0; i < 40; i++) await ddb.send(new PutItemCommand({ TableName: 'notes', Item: { pk: { S: `k${i}` }, n: { N: String(i) } } }));
        for (let i = 0; i < 40; i++) expect((await ddb.send(new GetItemCommand({ TableName: 'notes', Key: { pk: { S: `k${i}` } } }))).Item?.n?.N).toBe(String(i));
        expect((await ddb.send(new GetItemCommand({ TableName: 'notes', Key: { pk: { S: 'absent' } } }))).Item).toBeUndefined();
      } finally {
        proto._getSync = getSync;
      }
      expect(inline).toBeGreaterThanOrEqual(41);
      // 80 calls, each of which reads the description: at most a couple of reads reach LevelDB.
      expect(reads() - before).toBeLessThanOrEqual(2);
      // The table replaced by one with another key: no call sees the old description.
      await ddb.send(new DeleteTableCommand({ TableName: 'notes' }));
      // DeleteTable finishes after it returns (as DynamoDB's does): CreateTable is refused until it has.
      for (let tries = 0; ; tries++) {
        try {
          await ddb.send(table('id'));
          await untilActive(ddb);
          break;
        } catch (err) {
          if ((err as Error).name !== 'ResourceInUseException' || tries > 100) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await ddb.send(new PutItemCommand({ TableName: 'notes', Item: { id: { S: 'a' }, v: { S: 'new' } } }));
      expect((await ddb.send(new GetItemCommand({ TableName: 'notes', Key: { id: { S: 'a' } } }))).Item?.v?.S).toBe('new');
      await expect(ddb.send(new GetItemCommand({ TableName: 'notes', Key: { pk: { S: 'k1' } } }))).rejects.toThrow(/key|schema/i);
      await emu.stop();
      emu = undefined;
      // A restart on the same folder: what LevelDB holds.
      ({ emu, ddb } = await start(dir));
      expect((await ddb.send(new GetItemCommand({ TableName: 'notes', Key: { id: { S: 'a' } } }))).Item?.v?.S).toBe('new');
    } finally {
      await emu?.stop();
    }
  });
});
