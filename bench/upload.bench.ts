/**
 * `npm run bench:upload`: how fast a large file goes into the local runtime's S3 and how much memory that takes.
 * A generated file of --size MiB (default 1024) and one of 100 MiB, side by side, each uploaded into the results
 * bucket (not the drop bucket: no job starts) by lib-storage's Upload in 8 MiB parts, as `sluice run` does, and by
 * `aws s3 cp` when the AWS CLI is on the PATH (or --aws CLI). Each upload runs in a child process of its own that
 * starts the runtime on a fresh on-disk state folder (pollers off), so its peak RSS (`maxRSS`) is that upload's:
 * the emulators and, for Upload, the SDK client share the process. The ETag is checked against the file's.
 * The files live under the OS temp folder and are deleted at the end. Options: --size MiB, --aws CLI, --out FILE.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startLocalRuntime } from '../src/local/runtime.ts';

const MiB = 1024 * 1024;
const PART_SIZE = 8 * MiB;

type Uploader = 'sdk' | 'cli';

interface UploadResult {
  uploader: Uploader;
  sizeMiB: number;
  seconds: number;
  mibPerSecond: number;
  /** maxRSS once the runtime is up, before the upload. */
  startRssMb: number;
  peakRssMb: number;
  etag: string;
  etagMatches: boolean;
}

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    file: { type: 'string' },
    etag: { type: 'string' },
    size: { type: 'string', default: '1024' },
    aws: { type: 'string', default: 'aws' },
    out: { type: 'string', default: 'docs/benchmarks/upload.json' },
  },
});

const maxRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

if (values.child) {
  process.stdout.write(`${JSON.stringify(await runUpload(values.child as Uploader, values.file!, values.etag!))}\n`);
  process.exit(0);
} else {
  await orchestrate();
}

/** One upload into a fresh runtime on disk; the CLI is a child process, so this one keeps serving while it runs. */
async function runUpload(uploader: Uploader, file: string, expectedEtag: string): Promise<UploadResult> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-bench-upload-'));
  const rt = await startLocalRuntime({ stateDir, pollers: false, logLevel: 'SILENT' });
  try {
    const Bucket = rt.names.buckets.results;
    const Key = `bench/upload-${uploader}.bin`;
    const startRssMb = maxRssMb();
    const started = performance.now();
    if (uploader === 'sdk') {
      await new Upload({ client: rt.clients.s3, params: { Bucket, Key, Body: createReadStream(file) }, partSize: PART_SIZE, queueSize: 2 }).done();
    } else {
      await awsCopy(rt.endpoints.s3, file, `s3://${Bucket}/${Key}`, stateDir);
    }
    const seconds = (performance.now() - started) / 1000;
    const head = await rt.clients.s3.send(new HeadObjectCommand({ Bucket, Key }));
    const etag = (head.ETag ?? '').replace(/"/g, '');
    const sizeMiB = (head.ContentLength ?? 0) / MiB;
    return { uploader, sizeMiB, seconds: +seconds.toFixed(2), mibPerSecond: Math.round(sizeMiB / seconds), startRssMb, peakRssMb: maxRssMb(), etag, etagMatches: etag === expectedEtag };
  } finally {
    await rt.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function awsCopy(endpoint: string, file: string, target: string, dir: string): Promise<void> {
  const config = join(dir, 'aws-config');
  // 8 MiB parts as the SDK upload (the CLI's "MB" is MiB), so both give the same ETag.
  writeFileSync(config, '[default]\nregion = us-east-1\ns3 =\n  multipart_chunksize = 8MB\n  addressing_style = path\n');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  const cli = spawn(values.aws!, ['--endpoint-url', endpoint, 's3', 'cp', file, target, '--only-show-errors'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  cli.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => cli.once('error', reject).once('close', resolve));
  if (code !== 0) throw new Error(`aws s3 cp exited ${code}: ${stderr}`);
}

/** Writes `sizeMiB` of random bytes and returns the multipart ETag an upload in 8 MiB parts must get. */
async function generate(path: string, sizeMiB: number): Promise<string> {
  const out = createWriteStream(path);
  const partMd5s: Buffer[] = [];
  for (let left = sizeMiB * MiB; left > 0; left -= PART_SIZE) {
    const part = randomBytes(Math.min(PART_SIZE, left));
    partMd5s.push(createHash('md5').update(part).digest());
    if (!out.write(part)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
  return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
}

function child(uploader: Uploader, file: string, etag: string): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [import.meta.filename, '--child', uploader, '--file', file, '--etag', etag, '--aws', values.aws!], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.once('error', reject).once('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as UploadResult) : reject(new Error(`${uploader} upload exited ${code}`))));
  });
}

async function orchestrate() {
  const full = Number(values.size);
  if (!Number.isInteger(full) || full < 1) throw new Error('--size must be a whole number of MiB');
  const version = spawnSync(values.aws!, ['--version'], { encoding: 'utf8' });
  const cli = version.status === 0 ? `${version.stdout}${version.stderr}`.trim() : undefined;
  const uploaders: Uploader[] = cli ? ['sdk', 'cli'] : ['sdk'];
  if (!cli) process.stderr.write(`bench: ${values.aws} not found, lib-storage uploads only\n`);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-files-'));
  const results: UploadResult[] = [];
  try {
    for (const sizeMiB of [...new Set([100, full])].sort((a, b) => a - b)) {
      const file = join(dir, `upload-${sizeMiB}.bin`);
      const etag = await generate(file, sizeMiB);
      for (const uploader of uploaders) {
        const r = await child(uploader, file, etag);
        results.push(r);
        process.stderr.write(`  ${String(sizeMiB).padStart(5)} MiB ${uploader}: ${r.seconds} s, ${r.mibPerSecond} MiB/s, peak RSS ${r.peakRssMb} MB (${r.startRssMb} MB before), ETag ${r.etagMatches ? 'matches' : 'DIFFERS'}\n`);
      }
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const report = {
    command: `npm run bench:upload -- --size ${full}`,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    partSizeMiB: PART_SIZE / MiB,
    awsCli: cli ?? null,
    results,
  };
  mkdirSync('docs/benchmarks', { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
