// Under test: profiles as versioned data at run time (issue 15) as a user drives them — `sluice profile push`
// into a running `sluice dev` is used by the next job without a restart, every result line and the summary
// record the version, `rollback` restores the one before, `activate` of an unknown version is refused, and
// the `--stage` path (the deployed one: a stage's table and config bucket through the SDK's endpoints) reads
// and writes the same registry; `sluice improve` waits on its task token for approve or reject (also after its
// process is killed); a pushed benchmark is what the next score run scores.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/llm/simulator.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

describe('sluice profile push|list|diff|activate|rollback against a running sluice dev', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-profiles-'));
  const state = join(dir, 'state');
  let dev: ChildProcess;
  let info: { endpoints: { s3: string; dynamodb: string }; buckets: { config: string } };
  let devStderr = '';
  const bundled = loadProfile('claims').version;

  beforeAll(async () => {
    dev = spawn(process.execPath, ['bin/sluice.mjs', 'dev', '--json', '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--state', state], { stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stderr!.on('data', (d) => {
      devStderr += d;
    });
    info = JSON.parse(
      await new Promise<string>((resolve, reject) => {
        createInterface({ input: dev.stdout! }).once('line', resolve);
        dev.once('exit', (code) => reject(new Error(`sluice dev exited ${code}: ${devStderr}`)));
      }),
    );
  });
  afterAll(() => {
    if (dev && dev.exitCode === null) dev.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const sluice = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', state], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  const sample = readFileSync('samples/claims-notes.csv', 'utf8').split('\n');
  /** Runs the first `lines` rows of the sample as a job; its result lines and summary. */
  const runJob = (lines: number) => {
    const file = join(dir, `claims-${lines}.csv`);
    writeFileSync(file, `${sample.slice(0, lines + 1).join('\n')}\n`);
    const r = sluice(['run', file, '--json', '--out', join(dir, 'out')]);
    expect(r.status, r.stderr).toBe(0);
    const job = JSON.parse(r.stdout);
    const results = readFileSync(job.results.jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { profileVersion: string; decision?: { reason: string } });
    return { job, results, summary: JSON.parse(readFileSync(job.results.summary, 'utf8')) as { profileVersion: string } };
  };

  it('a pushed version is used by the next job without a restart; rollback restores the one before', async () => {
    const before = runJob(30);
    expect(before.summary.profileVersion).toBe(bundled);
    expect(new Set(before.results.map((l) => l.profileVersion))).toEqual(new Set([bundled]));

    // An edited copy of the profile: every rule's reason marked, so each served decision shows which version made it.
    const edited = join(dir, 'claims-edited');
    cpSync('profiles/claims', edited, { recursive: true });
    const rules = JSON.parse(readFileSync(join(edited, 'rules.json'), 'utf8'));
    for (const r of rules.rules) r.event.params.reason = `EDITED: ${r.event.params.reason}`;
    writeFileSync(join(edited, 'rules.json'), JSON.stringify(rules, null, 2));
    const pushed = sluice(['profile', 'push', 'claims', '--dir', edited, '--json']);
    expect(pushed.status, pushed.stderr).toBe(0);
    const { version, activated, previous } = JSON.parse(pushed.stdout);
    expect(version).toMatch(/^v-[0-9a-f]{12}$/);
    expect(version).not.toBe(bundled);
    expect({ activated, previous }).toEqual({ activated: true, previous: bundled });

    // sluice dev's functions trust the active version they read for 2 s locally.
    await new Promise((r) => setTimeout(r, 2500));
    const after = runJob(45);
    expect(after.summary.profileVersion).toBe(version);
    expect(after.results.length).toBeGreaterThan(0);
    for (const line of after.results) {
      expect(line.profileVersion).toBe(version);
      if (line.decision) expect(line.decision.reason).toMatch(/^EDITED: /);
    }

    const list = JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout);
    expect(list.active).toBe(version);
    expect(list.versions.map((v: { version: string }) => v.version).sort()).toEqual([bundled, version].sort());
    const diff = sluice(['profile', 'diff', 'claims', bundled]);
    expect(diff.stdout).toContain(`+++ ${version}/rules.json`);
    expect(diff.stdout).toMatch(/\n\+ +"reason": "EDITED: /);

    const back = sluice(['profile', 'rollback', 'claims', '--json']);
    expect(back.status, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ from: version, to: bundled });
    await new Promise((r) => setTimeout(r, 2500));
    const rolled = runJob(20);
    expect(rolled.summary.profileVersion).toBe(bundled);
    for (const line of rolled.results) if (line.decision) expect(line.decision.reason).not.toMatch(/^EDITED: /);
    // Nothing left to roll back to: refused, nothing changed.
    const again = sluice(['profile', 'rollback', 'claims']);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('nothing to roll back to');
  });

  it('refuses a version it does not hold and a profile folder that does not validate, changing nothing', () => {
    const unknown = sluice(['profile', 'activate', 'claims', 'v-000000000000']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('has no version v-000000000000');
    const broken = join(dir, 'claims-broken');
    cpSync('profiles/claims', broken, { recursive: true });
    const p = JSON.parse(readFileSync(join(broken, 'profile.json'), 'utf8'));
    p.groupKey = 'no_such_column';
    writeFileSync(join(broken, 'profile.json'), JSON.stringify(p));
    const refused = sluice(['profile', 'push', 'claims', '--dir', broken]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('no_such_column is not one of its columns');
    expect(JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active).toBe(bundled);
  });

  it('--stage reaches a stage by its table and config bucket through the SDK (here the local stage, over loopback)', () => {
    const env = { AWS_ENDPOINT_URL_S3: info.endpoints.s3, AWS_ENDPOINT_URL_DYNAMODB: info.endpoints.dynamodb, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' };
    const missing = sluice(['profile', 'list', 'claims', '--stage', 'local'], { ...env, SLUICE_CONFIG_BUCKET: '' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('needs --config-bucket');
    const listed = sluice(['profile', 'list', 'claims', '--stage', 'local', '--config-bucket', info.buckets.config, '--json'], env);
    expect(listed.status, listed.stderr).toBe(0);
    const versions = JSON.parse(listed.stdout).versions.map((v: { version: string }) => v.version);
    expect(versions).toContain(bundled);
    const other = versions.find((v: string) => v !== bundled);
    const activated = sluice(['profile', 'activate', 'claims', other, '--stage', 'local', '--config-bucket', info.buckets.config], env);
    expect(activated.status, activated.stderr).toBe(0);
    expect(JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active).toBe(other);
  });

  it('improve without --auto-promote waits on its task token: reject changes nothing, approve activates the version and the next job records it, rollback restores', async () => {
    const improveAsync = () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ['bin/sluice.mjs', 'improve', 'claims-v1', '--json', '--state', state], { encoding: 'utf8', timeout: 240_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
    const awaiting = async (known: string[]) => {
      for (const deadline = Date.now() + 180_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 1000))) {
        const runs = JSON.parse(sluice(['improve', 'claims-v1', '--runs', '--json']).stdout) as Array<{ runId: string; status: string; candidate?: string }>;
        const run = runs.find((r) => !known.includes(r.runId) && r.status === 'AWAITING_APPROVAL');
        if (run) return run;
      }
      throw new Error('no run reached AWAITING_APPROVAL');
    };
    const activeBefore = JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active;

    const first = improveAsync();
    const rejected = await awaiting([]);
    expect(rejected.candidate).toMatch(/^v-[0-9a-f]{12}$/);
    const no = sluice(['improve', 'reject', rejected.runId, '--json']);
    expect(no.status, no.stderr).toBe(0);
    const firstDone = await first;
    expect(firstDone.code, firstDone.stderr).toBe(0);
    expect(JSON.parse(firstDone.stdout)).toMatchObject({ runId: rejected.runId, status: 'REJECTED' });
    expect(JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active).toBe(activeBefore);
    // A decided run cannot be decided the other way.
    expect(sluice(['improve', 'approve', rejected.runId]).status).toBe(2);

    const second = improveAsync();
    const approved = await awaiting([rejected.runId]);
    const yes = sluice(['improve', 'approve', approved.runId, '--json']);
    expect(yes.status, yes.stderr).toBe(0);
    expect(JSON.parse(yes.stdout)).toMatchObject({ status: 'APPROVED', version: approved.candidate, previous: activeBefore });
    const secondDone = await second;
    expect(secondDone.code, secondDone.stderr).toBe(0);
    expect(JSON.parse(secondDone.stdout)).toMatchObject({ status: 'APPROVED', candidate: approved.candidate });
    await new Promise((r) => setTimeout(r, 2500));
    expect(runJob(25).summary.profileVersion).toBe(approved.candidate);

    const back = JSON.parse(sluice(['profile', 'rollback', 'claims', '--json']).stdout);
    expect(back).toMatchObject({ from: approved.candidate, to: activeBefore });
  }, 420_000);

  it('a benchmark pushed with `sluice benchmark push` is what the next score run scores; a broken one is refused', () => {
    const bdir = join(dir, 'bench');
    mkdirSync(bdir);
    cpSync('benchmarks/claims-v1.config.json', join(bdir, 'claims-v1.config.json'));
    const first12 = readFileSync('benchmarks/claims-v1.jsonl', 'utf8').split('\n').slice(0, 12);
    writeFileSync(join(bdir, 'claims-v1.jsonl'), `${first12.join('\n')}\n`);
    writeFileSync(join(dir, 'bench-items.txt'), `${first12.map((l) => JSON.parse(l).id).join('\n')}\n`);
    const pushed = sluice(['benchmark', 'push', 'claims-v1', '--dir', bdir, '--json']);
    expect(pushed.status, pushed.stderr).toBe(0);
    const { version, items, outcome } = JSON.parse(pushed.stdout);
    expect({ items, outcome }).toEqual({ items: 12, outcome: 'activated' });
    const scored = sluice(['score', 'claims-v1', '--json']);
    expect(scored.status, scored.stderr).toBe(0);
    const report = JSON.parse(scored.stdout);
    expect(report.run.benchmarkVersion).toBe(version);
    expect(report.totals.items).toBe(12);
    writeFileSync(join(bdir, 'claims-v1.jsonl'), '{"id": "x"}\n');
    const broken = sluice(['benchmark', 'push', 'claims-v1', '--dir', bdir]);
    expect(broken.status).toBe(2);
    expect(broken.stderr).toContain('claims-v1.jsonl line 1');
    expect(JSON.parse(sluice(['benchmark', 'list', 'claims-v1', '--json']).stdout).active).toBe(version);
    // The improve state machine learns from the pushed version too: its splits are those 12 items.
    const improved = sluice(['improve', 'claims-v1', '--auto-promote', '--max-loops', '1', '--json']);
    expect(improved.status, improved.stderr).toBe(0);
    const splits = JSON.parse(improved.stdout).splits as Record<string, string[]>;
    expect(Object.values(splits).flat().sort()).toEqual(readFileSync(join(bdir, '..', 'bench-items.txt'), 'utf8').trim().split('\n').sort());
    // Back to the bundled files (pushing them again makes their version the active one).
    const back = JSON.parse(sluice(['benchmark', 'push', 'claims-v1', '--json']).stdout);
    expect(back).toMatchObject({ outcome: 'activated', previous: version, items: readFileSync('benchmarks/claims-v1.jsonl', 'utf8').trim().split('\n').length });
  });

  it("a pushed benchmark carries its own judge prompt: the next score run's judge grades with it, with no deploy", async () => {
    const bdir = join(dir, 'bench-judge');
    mkdirSync(join(bdir, 'prompts'), { recursive: true });
    const config = JSON.parse(readFileSync('benchmarks/claims-v1.config.json', 'utf8'));
    writeFileSync(join(bdir, 'claims-v1.config.json'), JSON.stringify({ ...config, judgePrompt: 'claims-judge-pushed' }));
    writeFileSync(join(bdir, 'claims-v1.jsonl'), `${readFileSync('benchmarks/claims-v1.jsonl', 'utf8').split('\n').slice(0, 15).join('\n')}\n`);
    // Named but not there: refused, nothing stored.
    const missing = sluice(['benchmark', 'push', 'claims-v1', '--dir', bdir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('judgePrompt: prompts/claims-judge-pushed.md does not exist');
    writeFileSync(join(bdir, 'prompts', 'claims-judge-pushed.md'), `You grade loss descriptions (the pushed wording).\n\n${readFileSync('benchmarks/prompts/claims-judge-v1.md', 'utf8')}`);
    const pushed = sluice(['benchmark', 'push', 'claims-v1', '--dir', bdir, '--json']);
    expect(pushed.status, pushed.stderr).toBe(0);
    const { version } = JSON.parse(pushed.stdout);

    const sim = await startSimulator({ seed: 9 });
    try {
      const scored = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) =>
        execFile(process.execPath, ['bin/sluice.mjs', 'score', 'claims-v1', '--json', '--state', state], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: 'sk-simulated', OPENAI_BASE_URL: sim.url } }, (err, stdout, stderr) =>
          resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 }),
        ),
      );
      expect(scored.code, scored.stderr).toBe(0);
      const report = JSON.parse(scored.stdout);
      expect(report.run).toMatchObject({ benchmarkVersion: version, judge: expect.stringMatching(/:claims-judge-pushed$/) });
      expect(report.judge.needed).toBeGreaterThan(0);
      // Every judge call went out with the pushed prompt's text, none with the bundled one.
      expect(Object.keys(sim.stats.judgePrompts)).toEqual(['You grade loss descriptions (the pushed wording).']);
    } finally {
      await sim.stop();
    }
    expect(JSON.parse(sluice(['benchmark', 'push', 'claims-v1', '--json']).stdout)).toMatchObject({ outcome: 'activated', previous: version });
  }, 240_000);

  it('an improve process killed (-9) while it waits for approval leaves nothing stuck: approve still activates the version', async () => {
    const known = (JSON.parse(sluice(['improve', 'claims-v1', '--runs', '--json']).stdout) as Array<{ runId: string }>).map((r) => r.runId);
    const child = spawn(process.execPath, ['bin/sluice.mjs', 'improve', 'claims-v1', '--json', '--state', state], { stdio: 'ignore' });
    let waiting: { runId: string; candidate: string } | undefined;
    for (const deadline = Date.now() + 180_000; !waiting && Date.now() < deadline; await new Promise((r) => setTimeout(r, 1000))) {
      const runs = JSON.parse(sluice(['improve', 'claims-v1', '--runs', '--json']).stdout) as Array<{ runId: string; status: string; candidate: string }>;
      waiting = runs.find((r) => !known.includes(r.runId) && r.status === 'AWAITING_APPROVAL');
    }
    expect(waiting).toBeDefined();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const yes = sluice(['improve', 'approve', waiting!.runId, '--json']);
    expect(yes.status, yes.stderr).toBe(0);
    expect(JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active).toBe(waiting!.candidate);
    // Approving again (a retry) activates nothing twice.
    const again = sluice(['improve', 'approve', waiting!.runId, '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active).toBe(waiting!.candidate);
  }, 240_000);

  it('approve --stage decides a deployed run: the stage registry activates the version and Step Functions gets SendTaskSuccess with the token', async () => {
    // Step Functions' side, as its API receives the call (there is no local Step Functions service to send it to).
    const calls: Array<{ target: string; body: { taskToken: string; output: string } }> = [];
    const sfn = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        calls.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(raw) });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
      });
    });
    await new Promise<void>((r) => sfn.listen(0, '127.0.0.1', r));
    // From the bundled version (the one before approved an improved one, which has less left to improve).
    expect(sluice(['profile', 'activate', 'claims', bundled]).status).toBe(0);
    const known = (JSON.parse(sluice(['improve', 'claims-v1', '--runs', '--json']).stdout) as Array<{ runId: string }>).map((r) => r.runId);
    const child = spawn(process.execPath, ['bin/sluice.mjs', 'improve', 'claims-v1', '--state', state], { stdio: 'ignore' });
    try {
      let waiting: { runId: string; candidate: string; taskToken: string } | undefined;
      for (const deadline = Date.now() + 180_000; !waiting && Date.now() < deadline; await new Promise((r) => setTimeout(r, 1000))) {
        const runs = JSON.parse(sluice(['improve', 'claims-v1', '--runs', '--json']).stdout) as Array<{ runId: string; status: string; candidate: string; taskToken: string }>;
        waiting = runs.find((r) => !known.includes(r.runId) && r.status === 'AWAITING_APPROVAL');
      }
      expect(waiting).toBeDefined();
      const port = (sfn.address() as { port: number }).port;
      const env = { AWS_ENDPOINT_URL_S3: info.endpoints.s3, AWS_ENDPOINT_URL_DYNAMODB: info.endpoints.dynamodb, AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' };
      // Asynchronous: Step Functions' side answers from this process.
      const yes = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ['bin/sluice.mjs', 'improve', 'approve', waiting!.runId, '--stage', 'local', '--config-bucket', info.buckets.config, '--json', '--state', state], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
          resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
      expect(yes.status, yes.stderr).toBe(0);
      expect(JSON.parse(yes.stdout)).toMatchObject({ status: 'APPROVED', version: waiting!.candidate });
      expect(calls).toEqual([{ target: 'AWSStepFunctions.SendTaskSuccess', body: { taskToken: waiting!.taskToken, output: JSON.stringify({ decision: 'approved' }) } }]);
      expect(JSON.parse(sluice(['profile', 'list', 'claims', '--json']).stdout).active).toBe(waiting!.candidate);
    } finally {
      child.kill('SIGKILL');
      sfn.close();
    }
  }, 240_000);
});
