/**
 * `sluice benchmark push|list`: benchmarks as versioned data at run time — a benchmark's files pushed as a version
 * (validated first) become the active one the score function reads, with no deploy. Locally, or `--stage`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { EXIT, InputError, act } from '../shared.ts';
import { type RegistryFlags, registryOptions, withRegistry } from './profile.ts';

export function benchmarkCommand(): Command {
  const cmd = new Command('benchmark').description('benchmarks as versioned data: push a benchmark\'s files as the active version the score function reads, list them — no deploy');
  cmd.addCommand(
    registryOptions(
      new Command('push')
        .description('validate NAME.config.json, NAME.jsonl and the judge prompt it names (prompts/<judgePrompt>.md beside them, else the bundled one) and make them the active version of the benchmark: the next `sluice score NAME` scores it')
        .argument('<name>', 'the benchmark')
        .option('--dir <folder>', 'where NAME.config.json, NAME.jsonl and prompts/ are (default benchmarks/)'),
    ).action(
      act(async (name: string, flags: RegistryFlags & { dir?: string }) => {
        const dir = resolve(flags.dir ?? 'benchmarks');
        for (const f of [join(dir, `${name}.config.json`), join(dir, `${name}.jsonl`)]) if (!existsSync(f)) throw new InputError(`${f}: no such file`);
        const { pushBenchmark } = await import('../../scoring/benchmark-registry.ts');
        const { BenchmarkError, benchmarksDir, readBenchmarkData } = await import('../../scoring/benchmark.ts');
        return withRegistry(flags, async (reg) => {
          try {
            const r = await pushBenchmark(reg, name, readBenchmarkData(name, dir, [benchmarksDir()]), 'push');
            process.stdout.write(
              flags.json
                ? `${JSON.stringify({ benchmark: name, ...r })}\n`
                : `benchmark ${name}: version ${r.version} (${r.items} items) ${r.outcome === 'activated' ? `is active (was ${r.previous ?? 'none'}); the next score run uses it` : 'was already active'}\n`,
            );
            return EXIT.ok;
          } catch (err) {
            if (err instanceof BenchmarkError) throw new InputError(err.message);
            throw err;
          }
        });
      }),
    ),
  );
  cmd.addCommand(
    registryOptions(new Command('list').description("a benchmark's pushed versions, newest first; * marks the active one").argument('<name>', 'the benchmark')).action(
      act(async (name: string, flags: RegistryFlags) =>
        withRegistry(flags, async (reg) => {
          const versions = await reg.listVersions('benchmark', name);
          const active = (await reg.getActive('benchmark', name))?.version;
          if (flags.json) process.stdout.write(`${JSON.stringify({ benchmark: name, active: active ?? null, versions })}\n`);
          else if (!versions.length) process.stdout.write(`benchmark ${name}: no versions pushed; the bundled files are scored\n`);
          else for (const v of versions) process.stdout.write(`${v.version === active ? '*' : ' '} ${v.version}  ${v.pushedAt}  ${v.source}\n`);
          return EXIT.ok;
        }),
      ),
    ),
  );
  return cmd;
}
