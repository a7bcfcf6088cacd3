// Under test: the `cdk` CLI on this repository as a user runs it, offline: `cdk synth` per stage bundles
// every function (profiles beside the code), passes cdk-nag, and an unknown stage fails naming the known ones.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { topology } from '../../src/topology/topology.ts';

const bin = resolve('node_modules/.bin');
const cdk = (...args: string[]) =>
  spawnSync(join(bin, 'cdk'), args, {
    encoding: 'utf8',
    timeout: 120_000,
    // As `npx cdk` does: node_modules/.bin first, so cdk.json's `node bin/app.ts` runs the pinned Node 24.
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CDK_DISABLE_CLI_TELEMETRY: 'true' },
  });

describe('npx cdk synth', () => {
  it.each(['dev', 'prod'])('synthesizes stage %s with bundled functions and no cdk-nag finding', (stage) => {
    const out = mkdtempSync(join(tmpdir(), `sluice-synth-${stage}-`));
    const r = cdk('synth', '-c', `stage=${stage}`, '-q', '-o', out);
    expect(r.stderr).not.toMatch(/^(ERROR|WARNING) /m);
    expect(r.status).toBe(0);
    const template = JSON.parse(readFileSync(join(out, `Sluice-${stage}.template.json`), 'utf8'));
    const functions = Object.values(template.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>).filter(
      (x) => x.Type === 'AWS::Lambda::Function' && x.Metadata?.['aws:asset:path'],
    );
    expect(functions.length).toBeGreaterThanOrEqual(Object.keys(topology.functions).length);
    for (const fn of functions.filter((f) => existsSync(join(out, f.Metadata!['aws:asset:path']!, 'index.mjs')))) {
      expect(existsSync(join(out, fn.Metadata!['aws:asset:path']!, 'profiles/claims/profile.json'))).toBe(true);
    }
    expect(functions.filter((f) => existsSync(join(out, f.Metadata!['aws:asset:path']!, 'index.mjs')))).toHaveLength(Object.keys(topology.functions).length);
  });

  it('fails on an unknown stage, naming the stages cdk.json defines', () => {
    const r = cdk('synth', '-c', 'stage=qa', '-q', '-o', mkdtempSync(join(tmpdir(), 'sluice-synth-qa-')));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('sluice: unknown stage "qa": cdk.json defines dev, prod');
  });
});
