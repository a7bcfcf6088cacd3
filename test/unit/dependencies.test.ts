// Under test: every dependency package.json declares is used — imported by the code, tests, benchmarks or
// scripts, or run as a tool by a script, CI or the CDK app — so nothing is declared for show.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string> };

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'out' || name.startsWith('.') || name === 'cdk.out' || name === 'sluice-out') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name)) out.push(path);
  }
  return out;
}

const code = ['src', 'functions', 'lib', 'bin', 'scripts', 'bench', 'test'].flatMap((d) => files(d)).map((f) => readFileSync(f, 'utf8')).join('\n');
const tooling = [JSON.stringify(pkg.scripts), readFileSync('.ci/run', 'utf8'), readFileSync('cdk.json', 'utf8'), readFileSync('vitest.config.ts', 'utf8')].join('\n');

/** Packages used other than by an import, each with where. */
const usedAs: Record<string, (text: string) => boolean> = {
  node: (t) => t.includes('node/bin/node') || /"node /.test(t), // Node 24 itself: npm scripts and bin/sluice.mjs run on it
  typescript: (t) => t.includes('tsc '), // npm test type-checks
  vitest: (t) => t.includes('vitest'),
  'aws-cdk': (t) => t.includes('cdk '), // the CDK CLI: npm run synth, cdk deploy
  '@types/node': () => code.includes("from 'node:"),
  '@types/aws-lambda': () => code.includes("from 'aws-lambda'"),
  // The peer dependency Powertools parameters' getSecret calls (the OpenAI key deployed).
  '@aws-sdk/client-secrets-manager': () => code.includes("from '@aws-lambda-powertools/parameters/secrets'"),
};

describe('declared dependencies', () => {
  const declared = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)];
  it.each(declared)('%s is used', (name) => {
    const typesOf = name.startsWith('@types/') ? name.slice('@types/'.length).replace('__', '/') : undefined;
    const imported = new RegExp(`(?:from |import\\(|require\\()['"]${(typesOf ?? name).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?:/[^'"]*)?['"]`).test(code);
    expect(imported || (usedAs[name]?.(`${tooling}\n${code}`) ?? false), `${name} is declared in package.json but nothing imports or runs it`).toBe(true);
  });
});
