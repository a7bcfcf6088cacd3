/**
 * Crash injection for the crash matrix: `SLUICE_CRASH_AT=<point>@<n>` makes the local runtime die at once
 * (SIGKILL: no cleanup, no flush) the n-th time a handler passes that named point, which sits between two
 * writes (`enrich.saved`, `settle.counted`, `finalize.written`, …). The count is the runtime's: its handler
 * processes count in the same file (one byte appended per pass; an append is atomic). A handler process
 * that reaches the n-th pass kills the runtime that started it, then itself. Unset, it is absent.
 */
import { appendFileSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function crashPointFromEnv(spec = process.env.SLUICE_CRASH_AT, counterFile?: string, isHelper = false): ((point: string) => void) | undefined {
  if (!spec) return undefined;
  const [name, nth] = spec.split('@');
  const at = Number(nth ?? 1);
  const file = counterFile ?? newCrashCounterFile();
  return (point) => {
    if (point !== name) return;
    appendFileSync(file, '.');
    // ≥, not =: two processes appending at once may both read the count past n; both then die, as one crash.
    if (statSync(file).size < at) return;
    if (isHelper) process.kill(process.ppid, 'SIGKILL');
    process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * A new, empty pass counter file (passed to the handler processes): in the runtime's state folder when it has one,
 * emptied at each start (the runtime dies by SIGKILL, so it cannot remove the file itself), else in a temp folder.
 */
export function newCrashCounterFile(stateDir?: string): string {
  if (!stateDir) return join(mkdtempSync(join(tmpdir(), 'sluice-crash-')), 'passes');
  const file = join(stateDir, 'crash-passes');
  writeFileSync(file, '');
  return file;
}
