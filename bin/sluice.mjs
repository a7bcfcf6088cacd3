#!/usr/bin/env node
// The `sluice` command. sluice runs TypeScript directly on Node 24 (type stripping, no build step);
// when started by an older Node (a system Node 20), it re-runs itself on the pinned Node 24 package.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const require = createRequire(import.meta.url);
  let node;
  try {
    node = require.resolve('node/bin/node');
  } catch {
    process.stderr.write(`sluice needs Node 24 or newer (this is ${process.version}); run \`npm ci\` first\n`);
    process.exit(2);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // A signal to this wrapper is the child's too (a Ctrl-C reaches both; a `kill` only this one): it ends the child.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGKILL: 9 }[signal] ?? 0) : 1)));
} else {
  // V8's code cache on disk (Node's default folder, or NODE_COMPILE_CACHE): the command's modules compile once.
  (await import('node:module')).enableCompileCache();
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
