/**
 * The S3 ETag a local file will have once uploaded (MD5, or MD5 of part MD5s for multipart uploads),
 * so that `sluice run` on an unchanged file finds its job without uploading it again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function expectedEtag(path: string, size: number, partSize: number): Promise<string> {
  const whole = createHash('md5');
  const parts: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(partSize - inPart, chunk.length - offset);
      part.update(chunk.subarray(offset, offset + take));
      inPart += take;
      offset += take;
      if (inPart === partSize) {
        parts.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (size <= partSize) return whole.digest('hex');
  if (inPart > 0) parts.push(part.digest());
  return `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}`;
}
