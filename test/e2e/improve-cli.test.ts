// Under test: `sluice improve` as a user runs it — the report, the improved profile written for review (a working
// profile folder), and what is not built refused with exit 2.
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/llm/simulator.ts';
import { loadProfile } from '../../src/profiles/profile.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-improve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sluice = (...args: string[]) => spawnSync(process.execPath, ['bin/sluice.mjs', ...args, '--state', join(dir, 'state')], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: '' } });

describe('sluice improve', () => {
  it('reports every loop and kept edit, and writes the improved profile as a folder that loads', () => {
    const r = sluice('improve', 'claims-v1', '--auto-promote', '--json', '--out', join(dir, 'claims'), '--html', join(dir, 'improve.html'));
    expect(r.status, r.stderr).toBe(0);
        const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ benchmark: 'claims-v1', profile: 'claims', improved: true, written: join(dir, 'claims'), status: 'PROMOTED' });
    expect(report.candidate).toBe(report.versions.final);
    expect(report.edits.length).toBeGreaterThan(0);
    expect(report.versions.start).toBe(loadProfile('claims').version);
    expect(report.versions.final).not.toBe(report.versions.start);
    expect(report.final.validation.decision).toBeGreaterThan(report.start.validation.decision);
    // The HTML report: the test figures, every kept edit, and the profile's diff with the added phrases.
    const html = readFileSync(join(dir, 'improve.html'), 'utf8');
    expect(/id="test-start">([^<]*)</.exec(html)?.[1]).toBe(`${(report.start.test.decision * 100).toFixed(1)}%`);
    expect(/id="test-final">([^<]*)</.exec(html)?.[1]).toBe(`${(report.final.test.decision * 100).toFixed(1)}%`);
    expect(html.match(/class="kept-edit"/g)).toHaveLength(report.loops.flatMap((l: { tried: Array<{ status: string }> }) => l.tried.filter((t) => t.status === 'kept')).length);
    for (const e of report.edits.filter((x: { kind: string }) => x.kind === 'addPhrase')) expect(html).toMatch(new RegExp(`\\n\\+ +&quot;${e.phrase}&quot;`));
    const improved = loadProfile('claims', dir);
    expect(improved.version).toBe(report.versions.final); // the written folder is the version the loop accepted
    // Stored: --runs lists it, newest first, with its figures and every edit tried.
    const runs = sluice('improve', 'claims-v1', '--runs', '--json');
    expect(runs.status, runs.stderr).toBe(0);
    const [stored] = JSON.parse(runs.stdout);
    expect(stored).toMatchObject({ runId: report.runId, benchmark: 'claims-v1', improved: true, edits: report.edits, testGain: report.testGain, status: 'PROMOTED', candidate: report.versions.final });
    // Promoted: the improved version is the active one.
    expect(JSON.parse(sluice('profile', 'list', 'claims', '--json').stdout).active).toBe(report.versions.final);
    expect(stored.loops[0].tried.length).toBe(report.loops[0].tried.length);
    expect(sluice('improve', 'claims-v1', '--runs').stdout).toContain(`${report.runId} `);
    expect(existsSync(join(dir, 'claims', 'prompts', `${improved.enrichment.promptVersion}.md`))).toBe(true);
    const denied = improved.outputs.find((o) => o.name === 'buildingDamageDenied')!;
    const added = report.edits.filter((e: { output: string }) => e.output === 'buildingDamageDenied').map((e: { phrase: string }) => e.phrase);
    if (denied.offline.extractor === 'phrases') expect(denied.offline.phrases).toEqual(expect.arrayContaining(added));
  });

  it('--stage starts the run on the stage\'s deployed improve state machine, found by its name, and says how to approve it', async () => {
    // Step Functions' side, as its API receives the calls (there is no local Step Functions service to send them to).
    const calls: Array<{ target: string; body: Record<string, any> }> = [];
    const arn = 'arn:aws:states:us-east-1:111111111111:stateMachine:sluice-qa-improve';
    const sfn = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target']);
        calls.push({ target, body: JSON.parse(raw) });
        const answer = target.endsWith('ListStateMachines')
          ? { stateMachines: [{ name: 'sluice-qa-score', stateMachineArn: arn.replace('improve', 'score'), type: 'STANDARD', creationDate: 1 }, { name: 'sluice-qa-improve', stateMachineArn: arn, type: 'STANDARD', creationDate: 1 }] }
          : { executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${JSON.parse(raw).name}`, startDate: 1764806400 };
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => sfn.listen(0, '127.0.0.1', r));
    try {
      const env = { ...process.env, AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${(sfn.address() as { port: number }).port}`, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' };
      const run = (...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
          execFile(process.execPath, ['bin/sluice.mjs', 'improve', ...args], { encoding: 'utf8', timeout: 60_000, env }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
        );
      const r = await run('claims-v2', '--stage', 'qa', '--max-loops', '4', '--json');
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(calls.map((c) => c.target)).toEqual(['AWSStepFunctions.ListStateMachines', 'AWSStepFunctions.StartExecution']);
      const start = calls[1]!.body;
      expect(start).toMatchObject({ stateMachineArn: arn, name: out.runId });
      expect(JSON.parse(start.input)).toEqual({ benchmark: 'claims-v2', runId: out.runId, maxLoops: 4, seed: 1, proposer: 'offline', budgetCalls: 20, autoPromote: false });
      expect(out).toMatchObject({ stage: 'qa', executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${out.runId}` });
      const human = await run('claims-v2', '--stage', 'qa');
      expect(human.stdout).toMatch(/^run \S+ started on qa: arn:aws:states:.*\nwhen it awaits approval: sluice improve approve \S+ --stage qa --config-bucket BUCKET/);
      // A stage not deployed in this account and region: said so, exit 2.
      const missing = await run('claims-v2', '--stage', 'staging');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('no state machine sluice-staging-improve in this account and region');
    } finally {
      sfn.close();
    }
  });

  it('refuses the LLM proposer without a key, and an unknown benchmark, with exit 2', () => {
    const llm = sluice('improve', 'claims-v1', '--proposer', 'llm');
    expect(llm.status).toBe(2);
    expect(llm.stderr).toContain('--proposer llm needs OPENAI_API_KEY');
    expect(sluice('improve', 'claims-v9').status).toBe(2);
    // Without --auto-promote the run waits for approval from another terminal, which needs a running `sluice dev`.
    const waits = sluice('improve', 'claims-v1');
    expect(waits.status).toBe(2);
    expect(waits.stderr).toContain('start `sluice dev` first');
  });

  it('with the simulator as the LLM proposer: every proposal schema-checked, bad ones rejected with the reason, the loop stopped at --budget-calls', async () => {
    const sim = await startSimulator({ seed: 4 });
    // Asynchronous: the simulator serves from this process.
    const run = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ['bin/sluice.mjs', ...args, '--state', join(dir, 'state-llm')], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: 'sk-simulated', OPENAI_BASE_URL: sim.url } }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
    try {
      const r = await run('improve', 'claims-v1', '--proposer', 'llm', '--budget-calls', '4', '--auto-promote', '--json', '--out', join(dir, 'llm'));
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ proposer: 'llm', proposerCalls: 4, stopped: 'budget' });
      expect(sim.stats.calls).toBe(4);
      const tried = report.loops.flatMap((l: { tried: Array<{ status: string; reason: string }> }) => l.tried);
      expect(tried.length).toBeGreaterThan(0);
      for (const t of tried) expect(t.reason.length).toBeGreaterThan(0);
      expect(tried.some((t: { status: string; reason: string }) => t.status === 'invalid' && t.reason.startsWith('not an edit:'))).toBe(true);

      sim.configure({ faults: { malformed: 1 } });
      const bad = await run('improve', 'claims-v1', '--proposer', 'llm', '--budget-calls', '2', '--auto-promote', '--json', '--out', join(dir, 'llm2'));
      expect(bad.code, bad.stderr).toBe(0);
      const badReport = JSON.parse(bad.stdout);
      expect(badReport).toMatchObject({ improved: false, proposerCalls: 2, status: 'NOTHING_TO_PROMOTE' });
      const rejected = badReport.loops[0].tried;
      expect(rejected).toHaveLength(2);
      for (const t of rejected) expect(t).toMatchObject({ status: 'invalid', reason: expect.stringContaining("the proposer's answer is not valid") });

      // The estimated-cost budget: one call's tokens already pass $0.000001, so the loop stops after one call.
      sim.configure({ faults: { malformed: 0 } });
      const before = sim.stats.calls;
      const cheap = await run('improve', 'claims-v1', '--proposer', 'llm', '--budget-usd', '0.000001', '--auto-promote', '--json');
      expect(cheap.code, cheap.stderr).toBe(0);
      const cheapReport = JSON.parse(cheap.stdout);
      expect(cheapReport).toMatchObject({ proposerCalls: 1, stopped: 'budget' });
      expect(cheapReport.proposerCostUsd).toBeGreaterThan(0.000001);
      expect(sim.stats.calls - before).toBe(1);
    } finally {
      await sim.stop();
    }
  });
});
