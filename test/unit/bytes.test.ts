import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteBuilder, bytesOf } from '../../src/pipeline/bytes.ts';

describe('ByteBuilder', () => {
  it('gives the UTF-8 of what was appended, across growth and multi-byte characters', () => {
    const b = new ByteBuilder(4); // grows many times
    const pieces: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const s = `{"n":${i},"t":"Wasserschaden – Küche 水 😀"}`;
      b.text(s).byte(0x09).text('x').byte(0x0a);
      pieces.push(`${s}\tx\n`);
    }
    const expected = Buffer.from(pieces.join(''));
    expect(b.length).toBe(expected.length);
    expect(b.bytes().equals(expected)).toBe(true);
  });

  it('is empty before anything is appended', () => {
    expect(new ByteBuilder().bytes().length).toBe(0);
  });
});

describe('bytesOf', () => {
  it('joins a stream of buffers, typed arrays and strings in order', async () => {
    const body = Readable.from([Buffer.from('ab'), new Uint8Array([0x63, 0x64]), 'é'], { objectMode: true });
    expect((await bytesOf(body)).toString('utf8')).toBe('abcdé');
  });

  it('gives an empty buffer for an empty stream', async () => {
    expect((await bytesOf(Readable.from([]))).length).toBe(0);
  });
});
