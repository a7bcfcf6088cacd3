/** Peak RSS of a local runtime's processes, for the benchmarks. */
import { readFileSync } from 'node:fs';

/**
 * Peak RSS (MB) of each of the runtime's processes: this one's, and its helpers' from /proc (VmHWM; Linux), the
 * handler processes retired at their memory ceiling as they reported it.
 */
export function rssByProcess(pids: { main: number; emulators?: number; handlers: number[]; retired: Array<{ peakRssMb?: number }> }): Record<string, number> {
  const status = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return ''; // exited just now (a retired handler process): its peak comes in `retired`
    }
  };
  const hwm = (pid: number) => Math.round(Number(/VmHWM:\s+(\d+)/.exec(status(pid))?.[1] ?? 0) / 1024);
  return {
    main: Math.round(process.resourceUsage().maxRSS / 1024),
    ...(pids.emulators ? { emulators: hwm(pids.emulators) } : {}),
    ...Object.fromEntries(pids.handlers.map((pid, i) => [`handler${i + 1}`, hwm(pid)])),
    ...Object.fromEntries(pids.retired.map((p, i) => [`handler-retired${i + 1}`, p.peakRssMb ?? 0])),
  };
}
