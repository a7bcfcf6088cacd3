/**
 * The local runtime's log file: every handler's JSON lines (Powertools logger, EMF metrics) of a state folder
 * go to `<state>/logs/sluice.log`, as a function's lines go to CloudWatch Logs when deployed; `sluice logs`
 * reads, filters and follows it. Over 64 MB at open, the file is rotated to `sluice.log.1`.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';

const ROTATE_BYTES = 64 * 1024 * 1024;

export function logPath(state: string): string {
  return join(state, 'logs', 'sluice.log');
}

/** A stream appending to the state's log file, and to `tee` as well when given (e.g. stderr for --verbose). */
export function logFile(state: string, tee?: NodeJS.WritableStream): Writable {
  const path = logPath(state);
  mkdirSync(join(state, 'logs'), { recursive: true });
  if (existsSync(path) && statSync(path).size > ROTATE_BYTES) renameSync(path, `${path}.1`);
  const file = createWriteStream(path, { flags: 'a' });
  return new Writable({
    write(chunk, _encoding, done) {
      tee?.write(chunk);
      file.write(chunk, done);
    },
    final(done) {
      file.end(done);
    },
  });
}

export const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL'] as const;
export type Level = (typeof LEVELS)[number];

export interface LogFilter {
  /** A function's name (`enrich`): its lines only. */
  function?: string;
  /** A job id: the lines that name it only. */
  job?: string;
  /** This level and above. */
  level?: Level;
  /** Include the EMF metric lines (left out by default). */
  metrics?: boolean;
}

/** Whether a log line passes the filter (lines that are not JSON pass only an empty filter). */
export function matches(line: string, f: LogFilter): boolean {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return !f.function && !f.job && !f.level;
  }
  if (!f.metrics && entry._aws) return false;
  if (f.function) {
    const names = [entry.service, entry.function_name, entry.function].map(String);
    if (!names.some((n) => n === f.function || n === `sluice-${f.function}` || n.endsWith(`-${f.function}`))) return false;
  }
  if (f.job && !line.includes(f.job)) return false;
  if (f.level) {
    const at = LEVELS.indexOf(String(entry.level ?? 'INFO').toUpperCase() as Level);
    if (at < LEVELS.indexOf(f.level)) return false;
  }
  return true;
}

/** The file's lines that pass the filter, from byte `start`; returns where it stopped (for following). */
export async function readLog(path: string, f: LogFilter, out: (line: string) => void, start = 0): Promise<number> {
  if (!existsSync(path)) return 0;
  const size = statSync(path).size;
  if (size < start) start = 0; // rotated or truncated: from its beginning
  if (size === start) return start;
  let rest = '';
  let done = start;
  for await (const chunk of createReadStream(path, { start, end: size - 1, encoding: 'utf8' })) {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      done += Buffer.byteLength(line) + 1;
      if (line && matches(line, f)) out(line);
    }
  }
  return done; // a last line still without its newline is read again next time
}
