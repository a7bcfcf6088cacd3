/**
 * Crash injection for the crash matrix: `SLUICE_CRASH_AT=<point>@<n>` makes the local runtime kill its
 * own process (SIGKILL: no cleanup, no flush) the n-th time a handler passes that named point, which sits
 * between two writes (`enrich.saved`, `settle.counted`, `finalize.written`, …). The count is the process's:
 * the main thread and its handler threads share it (a SharedArrayBuffer). Unset, it is absent.
 */
export function crashPointFromEnv(spec = process.env.SLUICE_CRASH_AT, counter: Int32Array = newCrashCounter()): ((point: string) => void) | undefined {
  if (!spec) return undefined;
  const [name, nth] = spec.split('@');
  const at = Number(nth ?? 1);
  return (point) => {
    if (point === name && Atomics.add(counter, 0, 1) + 1 === at) process.kill(process.pid, 'SIGKILL');
  };
}

/** A pass counter that threads can share (passed to a worker in its workerData). */
export function newCrashCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}
