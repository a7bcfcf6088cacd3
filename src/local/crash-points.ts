/**
 * Crash injection for the crash matrix: `SLUICE_CRASH_AT=<point>@<n>` makes the local runtime kill its
 * own process (SIGKILL: no cleanup, no flush) the n-th time a handler of one thread (the main thread or a
 * handler thread, each counting its own) passes that named point, which sits between two writes (`enrich.saved`, `settle.counted`, `finalize.written`, …). Unset, it is absent.
 */
export function crashPointFromEnv(spec = process.env.SLUICE_CRASH_AT): ((point: string) => void) | undefined {
  if (!spec) return undefined;
  const [name, nth] = spec.split('@');
  const at = Number(nth ?? 1);
  let seen = 0;
  return (point) => {
    if (point === name && ++seen === at) process.kill(process.pid, 'SIGKILL');
  };
}
