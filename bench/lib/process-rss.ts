/** Peak RSS of a local runtime's processes, for the benchmarks. */
import { readFileSync } from 'node:fs';

/** Peak RSS (MB) of each of the runtime's processes: this one's, and its helpers' from /proc (VmHWM; Linux). */
export function rssByProcess(pids: { main: number; emulators?: number; handlers: number[] }): Record<string, number> {
  const hwm = (pid: number) => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  return {
    main: Math.round(process.resourceUsage().maxRSS / 1024),
    ...(pids.emulators ? { emulators: hwm(pids.emulators) } : {}),
    ...Object.fromEntries(pids.handlers.map((pid, i) => [`handler${i + 1}`, hwm(pid)])),
  };
}
