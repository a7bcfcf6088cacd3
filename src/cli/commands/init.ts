/** `sluice init profile NAME`: a working profile folder to start from, copied from an existing profile. */
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Argument, Command } from 'commander';
import { listProfiles, loadProfile, profilesDir } from '../../profiles/profile.ts';
import { EXIT, InputError, UsageError, act } from '../shared.ts';

export function initCommand(): Command {
  return new Command('init')
    .description('start a profile: a working copy of an existing one, to edit (columns, outputs, rules, prompts)')
    .addArgument(new Argument('<what>', 'what to create').choices(['profile']))
    .argument('<name>', 'the new profile (lower case letters, digits and dashes)')
    .requiredOption('--from <profile>', 'the profile to copy (a folder of profiles/)')
    .option('--dir <dir>', 'the profiles folder (default $SLUICE_PROFILES_DIR or profiles/)')
    .action(
      act(async (_what: 'profile', name: string, flags: { from: string; dir?: string }) => {
        if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`a profile name is lower case letters, digits and dashes, starting with a letter: not "${name}"`);
        const dir = flags.dir ?? profilesDir();
        const source = join(profilesDir(), flags.from);
        if (!existsSync(join(source, 'profile.json'))) throw new InputError(`no profile ${flags.from} to copy (known: ${listProfiles().join(', ')})`);
        const target = join(dir, name);
        if (existsSync(target)) throw new InputError(`${target} exists already; pick another name or remove it`);
        cpSync(source, target, { recursive: true });
        const file = join(target, 'profile.json');
        const profile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        writeFileSync(file, `${JSON.stringify({ ...profile, name, description: `${name}: started from ${flags.from} (edit the columns, outputs, rules and prompts)` }, null, 2)}\n`);
        const loaded = loadProfile(name, dir); // it validates as it is: a profile that works from the start
        process.stdout.write(
          [
            `created ${target} (from ${flags.from}): ${loaded.columns.length} columns, group by ${loaded.groupKey}, text in ${loaded.textField}`,
            `  profile.json   columns and aliases, keys, cleaning, eligibility, retrieval, the outputs (${loaded.outputs.map((o) => o.name).join(', ')}) and facts, quality gates`,
            `  rules.json     the decision rules (json-rules-engine) over the outputs and facts, each with its outcome`,
            `  prompts/       the LLM prompts, by version`,
            `then: npx sluice run FILE --profile ${name}   (files dropped under incoming/${name}/ use it)`,
            '',
          ].join('\n'),
        );
        return EXIT.ok;
      }),
    );
}
