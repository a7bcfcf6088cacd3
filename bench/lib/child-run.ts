/** A benchmark's child run (its own process, so its peak RSS is its own), served asynchronously by the parent's event loop (the simulator). */
import { execFile } from 'node:child_process';

/**
 * Runs `script` with `args`; its stderr goes to ours, each stdout chunk to `onStdout`, and its last stdout line is the result.
 * @example const r = await runChild<{ wallMs: number }>(import.meta.filename, ['--child', 'pipeline'])
 */
export function runChild<T>(script: string, args: string[], onStdout?: (chunk: string) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = execFile(process.execPath, [script, ...args], { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as T);
    });
    child.stderr!.pipe(process.stderr);
    if (onStdout) child.stdout!.on('data', (d: Buffer) => onStdout(d.toString()));
  });
}
