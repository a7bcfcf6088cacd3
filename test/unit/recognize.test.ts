// Under test: `sluice run FILE` without --profile picks the profile whose required columns the file's header has.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recognizeProfile } from '../../src/cli/recognize.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-recognize-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('recognising a file', () => {
  it("takes the profile whose required columns are in a CSV header (aliases count) or a JSON file's first record", async () => {
    expect(await recognizeProfile('samples/claims-notes.csv')).toBe('claims');
    expect(await recognizeProfile('samples/social-posts.csv')).toBe('social');
    expect(await recognizeProfile(file('t.csv', 'ticket_id,body\nT1,hello\n'))).toBe('social');
    expect(await recognizeProfile(file('a.csv', 'CLAIMNO,NOTEID,FN_TEXT\nC1,1,text\n'))).toBe('claims');
    expect(await recognizeProfile(file('a.jsonl', '{"claim_id":"C1","note_id":"1","note":"text"}\n'))).toBe('claims');
  });

  it('names what each profile lacks when none fits, and asks for --profile', async () => {
    const message = await recognizeProfile(file('b.csv', 'id,body\n1,x\n')).then(() => '', (err: Error) => err.message);
    expect(message).toMatch(/no profile has all its required columns in this file's header \(.*\): name one with --profile$/);
    expect(message).toContain('claims lacks claim_id, note_id, note');
    expect(message).toContain('social lacks thread_id;');
  });
});
