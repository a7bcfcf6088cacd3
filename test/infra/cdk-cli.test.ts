// Under test: the `cdk` CLI on this repository as a user runs it, offline: `cdk synth` per stage bundles
// every function (profiles beside the code, source maps as the stage says), passes cdk-nag, prints nothing but
// CDK's own progress lines with --quiet, and an unknown stage fails naming the known ones.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { topology } from '../../src/topology/topology.ts';

const bin = resolve('node_modules/.bin');
const cdk = (...args: string[]) =>
  spawnSync(join(bin, 'cdk'), args, {
    encoding: 'utf8',
    // A synth bundles every function (esbuild) and runs cdk-nag: ~70 s here, over 120 s when the machine is busy.
    timeout: 240_000,
    // As `npx cdk` does: node_modules/.bin first, so cdk.json's `node bin/app.ts` runs the pinned Node 24.
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CDK_DISABLE_CLI_TELEMETRY: 'true' },
  });

const stages = JSON.parse(readFileSync('cdk.json', 'utf8')).context['sluice:stages'] as Record<string, { sourceMaps: boolean }>;

describe('npx cdk synth', () => {
  it.each(['dev', 'prod'])('synthesizes stage %s with bundled functions and no cdk-nag finding, quietly', (stage) => {
    const out = mkdtempSync(join(tmpdir(), `sluice-synth-${stage}-`));
    const r = cdk('synth', '-c', `stage=${stage}`, '-q', '-o', out);
    // Quiet: no template, no esbuild warning, size table or timing. Left: CDK core's "Bundling asset <path>..." (written
    // unconditionally) and the CLI's count of unset feature flags (silenced only by opting into them all; not done),
    // which the CLI writes to stderr on a terminal-less run here and to stdout under CI=true.
    const cdkOwn = [/^Bundling asset Sluice-\w+\/\w+\/Code\/Stage\.\.\.$/, /^\d+ feature flags are not configured\. Run 'cdk flags --unstable=flags' to learn more\.$/];
    const unexpected = (text: string) => text.split('\n').filter((l) => l.trim() && !cdkOwn.some((re) => re.test(l)));
    expect(unexpected(r.stderr)).toEqual([]);
    expect(unexpected(r.stdout)).toEqual([]);
    expect(r.status).toBe(0);
    const template = JSON.parse(readFileSync(join(out, `Sluice-${stage}.template.json`), 'utf8'));
    const functions = Object.values(template.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>).filter(
      (x) => x.Type === 'AWS::Lambda::Function' && x.Metadata?.['aws:asset:path'],
    );
    expect(functions.length).toBeGreaterThanOrEqual(Object.keys(topology.functions).length);
    for (const fn of functions.filter((f) => existsSync(join(out, f.Metadata!['aws:asset:path']!, 'index.mjs')))) {
      expect(existsSync(join(out, fn.Metadata!['aws:asset:path']!, 'profiles/claims/profile.json'))).toBe(true);
    }
    const bundles = functions.map((f) => join(out, f.Metadata!['aws:asset:path']!)).filter((dir) => existsSync(join(dir, 'index.mjs')));
    expect(bundles).toHaveLength(Object.keys(topology.functions).length);
    // Source maps per stage: an external map beside the bundle (linked from it) where cdk.json says so, else none shipped.
    for (const dir of bundles) {
      expect(readdirSync(dir).filter((f) => f.endsWith('.map')), dir).toEqual(stages[stage]!.sourceMaps ? ['index.mjs.map'] : []);
      expect(readFileSync(join(dir, 'index.mjs'), 'utf8').trimEnd().endsWith('//# sourceMappingURL=index.mjs.map')).toBe(stages[stage]!.sourceMaps);
    }
  }, 300_000);

  it('fails on an unknown stage, naming the stages cdk.json defines', () => {
    const r = cdk('synth', '-c', 'stage=qa', '-q', '-o', mkdtempSync(join(tmpdir(), 'sluice-synth-qa-')));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('sluice: unknown stage "qa": cdk.json defines dev, prod');
  });
});
