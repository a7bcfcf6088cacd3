/**
 * How a CLI command reaches the local stack: attach to a running `sluice dev` (its endpoints are in
 * `<state>/dev.json`), or start an embedded one on the on-disk state folder.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { type LocalRuntime, type LocalRuntimeOptions, handlerLayout, startLocalRuntime } from '../local/runtime.ts';

export interface DevInfo {
  pid: number;
  endpoints: { s3: string; sqs: string; dynamodb: string };
  startedAt: string;
  /** The enrichment provider the dev process runs with (`offline`, or `openai <model> at <base URL>`). */
  provider?: string;
}

export function stateDir(flag?: string): string {
  return resolve(flag ?? process.env.SLUICE_STATE_DIR ?? '.sluice');
}

const devFile = (dir: string) => join(dir, 'dev.json');

export function writeDevInfo(dir: string, info: DevInfo): void {
  writeFileSync(devFile(dir), `${JSON.stringify(info, null, 2)}\n`);
}

export function removeDevInfo(dir: string): void {
  rmSync(devFile(dir), { force: true });
}

/** The running `sluice dev` for this state folder, if its process is alive. */
export function runningDev(dir: string): DevInfo | undefined {
  if (!existsSync(devFile(dir))) return undefined;
  try {
    const info = JSON.parse(readFileSync(devFile(dir), 'utf8')) as DevInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

export interface OpenOptions {
  state: string;
  pollers: boolean;
  logStream: Writable;
  logLevel: LocalRuntimeOptions['logLevel'];
  /** The OpenAI provider's settings (from the environment), or undefined for the offline provider. */
  llm?: LocalRuntimeOptions['llm'];
}

/**
 * Opens the local stack for a command.
 * @throws Error with a clear message when another process holds the state folder.
 */
export async function openLocalStack(o: OpenOptions): Promise<{ runtime: LocalRuntime; dev?: DevInfo }> {
  const dev = runningDev(o.state);
  if (dev) {
    // The dev process runs the event sources; this one only drops files and reads status.
    // What this process runs itself (scoring, backfill, topics) uses the caller's LLM settings.
    const runtime = await startLocalRuntime({ attach: dev.endpoints, pollers: false, logStream: o.logStream, logLevel: o.logLevel, llm: o.llm });
    return { runtime, dev };
  }
  try {
    const runtime = await startLocalRuntime({
      stateDir: o.state,
      pollers: o.pollers,
      logStream: o.logStream,
      logLevel: o.logLevel,
      llm: o.llm,
      ...(o.pollers ? handlerLayout() : {}),
    });
    return { runtime };
  } catch (err) {
    if (/lock/i.test(String((err as Error).message)) || /LEVEL_DATABASE_NOT_OPEN|LEVEL_LOCKED/.test(String((err as { code?: string }).code))) {
      throw new Error(`the state folder ${o.state} is in use by another sluice process; stop it, or run \`sluice dev\` and let commands attach to it`);
    }
    throw err;
  }
}
