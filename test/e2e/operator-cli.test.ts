// Under test: the sluice CLI as a new user and an operator meet it (issue 13): help and version, suggestions,
// the README's command lines against the definitions, every sample event through `sluice invoke`, run --force,
// status --watch, logs (filtered, followed), generate-event, init profile, DLQ messages through status, metrics and
// redrive, the simulator's flags, the Node 20
// wrapper passing signals on, and `sluice dev` giving endpoints any client reaches.
import type { Command } from 'commander';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { startLocalRuntime } from '../../src/local/runtime.ts';
import { synopsis, withSynopsis } from '../../src/cli/synopsis.ts';
import { JobStatus, TERMINAL_STATUSES, emptyCounts } from '../../src/domain/job.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'sluice-op-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sluiceIn = (state: string, env: NodeJS.ProcessEnv = {}) => (...args: string[]) =>
  spawnSync(process.execPath, ['bin/sluice.mjs', ...args, ...(state ? ['--state', state] : [])], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
const sluice = sluiceIn('');

/** Starts a long-running sluice command and resolves with its first stdout line. */
async function startLong(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; first: string; stdout: string[] }> {
  const child = spawn(process.execPath, ['bin/sluice.mjs', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sluice ${args[0]} exited ${code}: ${stderr}`)));
  });
  lines.on('line', (l) => stdout.push(l));
  return { child, first, stdout };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

describe('help, version and mistakes', () => {
  it('`sluice --help`, `sluice run --help` and `sluice --version` exit 0, and every command has its own help', () => {
    const help = sluice('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: sluice');
    expect(sluice().status).toBe(0); // bare `sluice` shows the same help
    const version = sluice('--version');
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
    for (const cmd of buildProgram().commands.map((c) => c.name())) {
      const r = sluice(cmd, '--help');
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`Usage: sluice ${cmd}`);
    }
  });

  it('a mistyped command or option suggests the right one and exits 2', () => {
    const cmd = sluice('stauts');
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toContain('Did you mean status?');
    const opt = sluice('run', 'samples/claims-notes.csv', '--mod', 'fast');
    expect(opt.status).toBe(2);
    expect(opt.stderr).toContain('Did you mean --mode?');
  });

  it("the README's synopsis is the one the command definitions give, and every sluice line in the README and docs parses", async () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(withSynopsis(readme, synopsis(buildProgram()))).toBe(readme); // `npm run docs:cli` rewrites it
    // The example lines (code blocks and inline code), placeholders made concrete, parsed by the real definitions.
    const concrete: Record<string, string> = { FILE: 'samples/claims-notes.csv', JOB: 'j-1', QUEUE: 'enrich', FUNCTION: 'ingest', BENCHMARK: 'claims-v1', N: '3', P: 'claims', DIR: 'out', S: '60', NAME: 'demo', F: 'enrich', J: 'j-1', L: 'WARN' };
    const every = (c: Command): Command[] => [c, ...c.commands.flatMap(every)];
    const commandNames = new Set(every(buildProgram()).map((c) => c.name()));
    const docs = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const lines: Array<{ where: string; args: string[] }> = [];
    for (const file of docs) {
      const text = readFileSync(file, 'utf8').replace(/<!-- cli:start -->[\s\S]*?<!-- cli:end -->/, '');
      for (const m of text.matchAll(/(?:^|`|\s)(?:npx )?sluice ((?:run|status|results|review|logs|dev|invoke|generate-event|backfill|redrive|topics|metrics|score|improve|profile|benchmark|simulate|init|completion)\b[^`\n#&|)"><]*)/gm)) {
        const raw = m[1]!.trim();
        if (/[[\]…]|\.\.\./.test(raw)) continue; // a synopsis in prose, not a command line
        if (!raw.includes(' ')) continue; // a command named in prose (`sluice run`), not a line to run
        if (raw.split(/\s+/).every((w) => commandNames.has(w))) continue; // a subcommand named in prose (`sluice profile push`)
        lines.push({ where: `${file}: sluice ${raw}`, args: raw.split(/\s+/).map((w) => concrete[w] ?? w) });
      }
    }
    expect(lines.length).toBeGreaterThan(15);
    const refused: string[] = [];
    for (const { where, args } of lines) {
      const program = buildProgram();
      program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
      for (const c of every(program).slice(1)) c.configureOutput({ writeErr: () => undefined, writeOut: () => undefined }).action(() => undefined);
      await program.parseAsync(args, { from: 'user' }).catch((err: Error) => refused.push(`${where} → ${err.message}`));
    }
    expect(refused).toEqual([]);
  });

  it('a documented simulator flag is accepted (--rate-persistent, --rate-judge-omit)', async () => {
    const { child, first } = await startLong(['simulate', '--port', '0', '--rate-persistent', '0.3', '--rate-judge-omit', '0.5', '--json']);
    expect(JSON.parse(first).url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(await stop(child)).toBe(0);
  });

  it('prints a bash completion script naming every command', () => {
    const r = sluice('completion');
    expect(r.status).toBe(0);
    for (const cmd of buildProgram().commands.map((c) => c.name())) expect(r.stdout).toContain(cmd);
    expect(r.stdout).toContain('complete -o filenames -F _sluice sluice');
    expect(spawnSync('bash', ['-n'], { input: r.stdout }).status).toBe(0); // it is valid bash
  });
});

describe('operator commands on one state', () => {
  const state = tempDir();
  const run = sluiceIn(state);
  let jobId: string;
  beforeAll(() => {
    const r = run('run', 'samples/claims-notes.csv', '--json', '--offline', '--out', join(state, 'out'));
    expect(r.status, r.stderr).toBe(0);
    jobId = JSON.parse(r.stdout).jobId;
  });

  it('an unchanged file says why it reuses the job, and --force makes a new job for it', () => {
    const again = run('run', 'samples/claims-notes.csv', '--offline', '--mode', 'fast');
    expect(again.status).toBe(0);
    expect(again.stderr).toContain(`unchanged file: reporting job ${jobId}`);
    expect(again.stderr).toContain('it ran in full mode, not fast');
    const forced = JSON.parse(run('run', 'samples/claims-notes.csv', '--offline', '--mode', 'fast', '--force', '--json').stdout);
    expect(forced.jobId).not.toBe(jobId);
    expect(forced.mode).toBe('fast');
    expect(forced.counts.rows).toBe(394);
  });

  it("`sluice logs --job J` shows that job's lines only, with no note text", () => {
    const r = run('logs', '--job', jobId);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(line).toContain(jobId);
    const services = new Set(lines.map((l) => JSON.parse(l).service));
    expect([...services].sort()).toEqual(expect.arrayContaining(['sluice-chunk', 'sluice-decide', 'sluice-enrich', 'sluice-ingest']));
    // No note text: not one 30-character piece of any note of the sample appears in the logs.
    const notes = readFileSync('samples/claims-notes.csv', 'utf8').split('\n').slice(1).map((l) => l.split(',').at(-1) ?? '').filter((n) => n.length > 60);
    const all = run('logs').stdout;
    for (const n of notes.slice(0, 50)) expect(all).not.toContain(n.slice(10, 40));
    const warn = run('logs', '--level', 'WARN').stdout.trim();
    for (const line of warn ? warn.split('\n') : []) expect(['WARN', 'ERROR', 'CRITICAL']).toContain(JSON.parse(line).level);
    const decide = run('logs', '--function', 'decide', '--job', jobId).stdout.trim().split('\n');
    for (const line of decide) expect(JSON.parse(line).service).toBe('sluice-decide');
  });

  it('`sluice status J --watch` redraws until the job has ended, then exits with its code', () => {
    const r = run('status', jobId, '--watch', '--interval', '0.2');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`job ${jobId}  COMPLETE_WITH_ERRORS`);
  });

  it('generate-event builds events from the state that `sluice invoke` runs as they are', () => {
    const file = join(state, 'ev.json');
    for (const [kind, fn, extra] of [['sqs-enrich', 'enrich', []], ['sqs-decide', 'decide', []], ['s3-put', 'ingest', ['--key', 'incoming/claims/claims-notes.csv']], ['s3-test', 'ingest', []], ['scheduled', 'metrics', ['--function', 'metrics']]] as const) {
      const gen = run('generate-event', kind, ...extra);
      expect(gen.status, `${kind}: ${gen.stderr}`).toBe(0);
      writeFileSync(file, gen.stdout);
      const inv = run('invoke', fn, '--event', file);
      expect(inv.status, `${kind} → invoke ${fn}: ${inv.stderr.slice(-500)}`).toBe(0);
    }
    expect(run('generate-event', 's3-put', '--key', 'incoming/claims/nothing-here.csv').stderr).toContain('is not in the local S3');
    const wrongKind = run('invoke', 'enrich', '--event', 'events/metrics-scheduled.json');
    expect(wrongKind.status).toBe(2);
    expect(wrongKind.stderr).toContain('events/metrics-scheduled.json: not an SQS event, which enrich takes:\n  - Records: ');
  });

  it('init profile makes a working profile folder, which a run then uses', () => {
    const profiles = tempDir();
    const init = sluice('init', 'profile', 'notes-demo', '--from', 'claims', '--dir', profiles);
    expect(init.status, init.stderr).toBe(0);
    expect(existsSync(join(profiles, 'notes-demo', 'profile.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(profiles, 'notes-demo', 'profile.json'), 'utf8')).name).toBe('notes-demo');
    const r = sluiceIn(tempDir(), { SLUICE_PROFILES_DIR: profiles })('run', 'samples/claims-notes.csv', '--profile', 'notes-demo', '--json', '--offline', '--out', join(profiles, 'out'));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ profile: 'notes-demo', counts: { rows: 394 } });
    expect(sluice('init', 'profile', 'notes-demo', '--from', 'claims', '--dir', profiles).status).toBe(2); // never overwrites
  });
});

describe('a large job being finalized', () => {
  it('`sluice status J` shows how many of its groups’ results are written so far', async () => {
    // Prepare: a job of 85,000 groups whose finalize has written two segments of its results
    const state = tempDir();
    const rt = await startLocalRuntime({ stateDir: state, pollers: false, logLevel: 'SILENT' });
    const jobId = 'j-finalizing';
    try {
      const at = new Date().toISOString();
      await rt.store.createJob({ jobId, bucket: 'b', key: 'incoming/claims/big.csv', etag: 'e', size: 1, profile: 'claims', mode: 'fast', status: JobStatus.PROCESSING, counts: emptyCounts(), timings: { receivedAt: at } });
      await rt.store.recordIngestCounts(jobId, { rows: 85_000, accepted: 85_000, rejected: 0, duplicates: 0, groups: 85_000 }, 1);
      const lease = Date.now() + 60_000;
      expect(await rt.store.tryStartFinalize(jobId, lease, Date.now())).toBe(true);
      expect(await rt.store.saveFinalizeCursor(jobId, lease, { segments: 2, after: 'G40000', tally: { enriched: 40_000, pending: 0, decided: 39_990, failed: 10, review: 0, outcomes: {} } })).toBe(true);
    } finally {
      await rt.stop();
    }
    // Act
    const shown = sluiceIn(state)('status', jobId);
    // Assess
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`job ${jobId}  FINALIZING`);
    expect(shown.stdout).toContain('results  40000 of 85000 groups written (2 segments)\n');
  }, 60_000);
});

describe('messages in a DLQ, as an operator meets them', () => {
  it('`sluice status` and `sluice metrics` count them, `sluice status J` names them, and `sluice redrive` returns them (--max first) with the job’s counts unchanged', async () => {
    // Prepare: a finished job, and two of its group messages in the enrich DLQ, as messages that retried out land there
    const state = tempDir();
    const run = sluiceIn(state);
    const ran = run('run', 'samples/claims-notes.csv', '--json', '--offline');
    expect(ran.status, ran.stderr).toBe(0);
    const jobId: string = JSON.parse(ran.stdout).jobId;
    const before = JSON.parse(run('status', jobId, '--json').stdout);
    const ids: string[] = [];
    const rt = await startLocalRuntime({ stateDir: state, pollers: false, logLevel: 'SILENT' });
    try {
      let n = 0;
      for await (const group of rt.store.listGroups(jobId)) {
        const body = { jobId, profile: 'claims', mode: 'full', key: `records/${jobId}/c00000.jsonl`, groups: [{ groupId: group.groupId, noteCount: 1, shard: 0, start: 0, end: 1 }] };
        ids.push((await rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: rt.names.queues.enrich.dlqUrl, MessageBody: JSON.stringify(body) }))).MessageId!);
        if (++n === 2) break;
      }
    } finally {
      await rt.stop();
    }
    // Act and assess: the list and the day's metrics count them; the job's status names each, and the command to run
    expect(run('status').stdout).toContain('DLQ messages: enrich 2  (sluice status JOB shows whose; sluice redrive QUEUE moves them back)');
    const shown = run('status', jobId).stdout;
    for (const id of ids) expect(shown).toMatch(new RegExp(`DLQ +enrich: message ${id} after \\d+ receives +\\(sluice redrive enrich\\)`));
    expect(JSON.parse(run('status', jobId, '--json').stdout).deadLetters.map((d: { messageId: string }) => d.messageId).sort()).toEqual([...ids].sort());
    expect(JSON.parse(run('metrics', '--json').stdout).dlq).toMatchObject({ ingest: 0, chunks: 0, enrich: 2, decide: 0 });
    expect(run('metrics').stdout).toContain('DLQ ingest 0, chunks 0, enrich 2, decide 0');
    // One at most, then the rest
    expect(JSON.parse(run('redrive', 'enrich', '--max', '1', '--json').stdout)).toEqual({ queue: 'enrich', moved: 1, method: 'receive-send', left: 1 });
    const rest = run('redrive', 'enrich');
    expect(rest.status, rest.stderr).toBe(0);
    expect(rest.stdout).toBe('enrich: moved 1 message(s) from its DLQ back to the queue (receive-send); 0 left in the DLQ\n');
    // Delivered again (the pollers on), they change nothing: the groups are settled, their counts replayed once
    const again = await startLocalRuntime({ stateDir: state, logLevel: 'SILENT' });
    try {
      const depth = async () => {
        const a = (await again.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: again.names.queues.enrich.url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes!;
        return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
      };
      for (const deadline = Date.now() + 30_000; (await depth()) > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 250));
      expect(await depth()).toBe(0);
    } finally {
      await again.stop();
    }
    const after = JSON.parse(run('status', jobId, '--json').stdout);
    expect(after.counts).toEqual(before.counts);
    expect(after.status).toBe(before.status);
    expect(after.deadLetters).toEqual([]);
    expect(run('status').stdout).not.toContain('DLQ messages');
  }, 180_000);
});

describe('sample events and sluice invoke', () => {
  it('invoking every sample event on a fresh state succeeds or says what it needs, and leaves no job stuck', () => {
    const state = tempDir();
    const run = sluiceIn(state);
    const events = readdirSync('events').filter((f) => f.endsWith('.json'));
    const fnOf = (f: string) => f.split('-')[0]!;
    const invokeAll = () =>
      Object.fromEntries(
        events.map((f) => {
          const r = run('invoke', fnOf(f), '--event', `events/${f}`);
          if (r.status !== 0) expect(r.stderr, f).toMatch(/does not have|is the scoring state machine's input/);
          return [f, r.status];
        }),
      );
    const fresh = invokeAll();
    expect(Object.values(fresh).every((s) => s === 0 || s === 2)).toBe(true);
    const jobs = () => JSON.parse(run('status', '--json').stdout).jobs as Array<{ status: string }>;
    expect(jobs().filter((j) => !TERMINAL_STATUSES.has(j.status as never))).toEqual([]);
    // With the sample run, the events that name it work.
    expect(run('run', 'samples/claims-notes.csv', '--offline', '--json').status).toBe(0);
    const after = invokeAll();
    for (const f of ['ingest-s3-put.json', 'enrich-batch.json', 'decide-batch.json', 'ingest-s3-test-event.json', 'backfill-scheduled.json', 'metrics-scheduled.json', 'topics-scheduled.json', 'score-prepare.json', 'score-predict.json']) expect(after[f], f).toBe(0);
    expect(after['score-execution-input.json']).toBe(2);
    expect(jobs().filter((j) => !TERMINAL_STATUSES.has(j.status as never))).toEqual([]);
   }, 300_000); // 24 CLI processes, each opening the local stack: ~100 s on a quiet 2-core machine, more on a busy one
});

describe('sluice dev for other clients', () => {
  it("prints live 127.0.0.1 endpoints (queue URLs on the SQS port) and `sluice logs -f` follows it; a run attached says which provider enriches, and score attached uses the caller's LLM settings", async () => {
    const state = tempDir();
    const { child: dev, first } = await startLong(['dev', '--json', '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--state', state, '--offline']);
    try {
      const info = JSON.parse(first);
      for (const url of Object.values(info.endpoints) as string[]) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      for (const q of Object.values(info.queues) as Array<{ url: string; dlqUrl: string }>) {
        expect(q.url.startsWith(`${info.endpoints.sqs}/`)).toBe(true);
        expect(q.dlqUrl.startsWith(`${info.endpoints.sqs}/`)).toBe(true);
      }
      expect(info.provider).toBe('offline');
      const follow = spawn(process.execPath, ['bin/sluice.mjs', 'logs', '-f', '--state', state], { stdio: ['ignore', 'pipe', 'inherit'] });
      const followed: string[] = [];
      createInterface({ input: follow.stdout! }).on('line', (l) => followed.push(l));
      const r = sluiceIn(state, { OPENAI_API_KEY: 'sk-not-used', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' })('run', 'samples/claims-notes.csv', '--mode', 'fast');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain('attached to the running `sluice dev`');
      expect(r.stderr).toContain('its offline provider enriches this file');
      // logs -f printed the job's lines as they came
      const deadline = Date.now() + 20_000;
      while (!followed.some((l) => l.includes('"service":"sluice-decide"')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
      expect(followed.some((l) => l.includes('"service":"sluice-decide"'))).toBe(true);
      expect(await stop(follow)).toBe(0);
      // score runs in the caller's process: with the caller's OPENAI_* settings (here the simulator), not the dev's offline provider
      const { child: sim, first: simLine } = await startLong(['simulate', '--port', '0', '--latency', '0', '--json']);
      try {
        const { env } = JSON.parse(simLine) as { env: Record<string, string> };
        const scored = sluiceIn(state, env)('score', 'claims-v1');
        expect(scored.status, scored.stderr).toBe(0);
        expect(scored.stderr).toContain(`scoring here with openai (gpt-4o-mini at ${env.OPENAI_BASE_URL})`);
        const runs = JSON.parse(sluiceIn(state)('score', 'claims-v1', '--runs', '--json').stdout) as Array<{ provider: string }>;
        expect(runs[0]!.provider).toMatch(/^openai/);
      } finally {
        await stop(sim);
      }
    } finally {
      expect(await stop(dev)).toBe(0);
    }
  }, 120_000);
});

const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p) && Number(spawnSync(p, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout) < 24);

describe.skipIf(!systemNode)('the wrapper under an older system Node', () => {
  it('SIGINT or SIGTERM to the wrapper ends its Node 24 child, and the port is free again', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const state = tempDir();
      const wrapper = spawn(systemNode!, ['bin/sluice.mjs', 'dev', '--json', '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--state', state], { stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: wrapper.stdout! }).once('line', () => resolve());
        wrapper.once('exit', (code) => reject(new Error(`wrapper exited ${code}`)));
      });
      const children = () => spawnSync('pgrep', ['-f', '--', `--state ${state}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
      expect(children().length).toBeGreaterThanOrEqual(2); // the wrapper and its Node 24 child
      const code = await stop(wrapper, signal);
      expect(code).toBe(0);
      const deadline = Date.now() + 10_000;
      while (children().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(children(), signal).toEqual([]);
    }
  }, 90_000);
});
