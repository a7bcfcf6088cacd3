/**
 * `sluice profile push|list|diff|activate|rollback`: profiles as versioned data at run time. Locally they go to
 * the local stack's config bucket and status table (a running `sluice dev` picks them up within seconds); with
 * `--stage` to a deployed stage's (its table `sluice-<stage>-status`, its config bucket from `--config-bucket`
 * or `SLUICE_CONFIG_BUCKET`, the stack output ConfigBucketName), with the AWS SDK's usual credentials.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EXIT, InputError, type StackFlags, UsageError, act, numberIn, stackOptions, withStack } from '../shared.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ProfileData, VersionKind, VersionRegistry } from '../../profiles/registry.ts';

export interface RegistryFlags extends StackFlags {
  stage?: string;
  configBucket?: string;
  json?: boolean;
}

/** `--stage` and `--config-bucket` (plus the local stack's options) for commands on the registry. */
export function registryOptions(cmd: Command): Command {
  return stackOptions(cmd)
    .option('--stage <stage>', "a deployed stage's registry instead of the local stack's (AWS credentials as the SDK finds them)")
    .option('--config-bucket <name>', "with --stage: the stage's config bucket (the stack output ConfigBucketName; or $SLUICE_CONFIG_BUCKET)")
    .option('--json', 'the outcome as JSON on stdout');
}

/** Runs `fn` on the registry the flags name: the local stack's, or a deployed stage's. */
export async function withRegistry<T>(flags: RegistryFlags, fn: (reg: VersionRegistry, clients: { dynamodb: DynamoDBClient; table: string }) => Promise<T>): Promise<T> {
  const { createVersionRegistry } = await import('../../adapters/profile-registry.ts');
  if (flags.stage) {
    const bucket = flags.configBucket ?? process.env.SLUICE_CONFIG_BUCKET;
    if (!bucket) throw new UsageError(`--stage ${flags.stage} needs --config-bucket (the stack output ConfigBucketName: aws cloudformation describe-stacks --stack-name Sluice-${flags.stage})`);
    const { S3Client } = await import('@aws-sdk/client-s3');
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { resourceName } = await import('../../topology/topology.ts');
    const s3 = new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL) });
    const dynamodb = new DynamoDBClient({});
    try {
      const table = resourceName(flags.stage, 'status');
      return await fn(createVersionRegistry(s3, dynamodb, bucket, table), { dynamodb, table });
    } finally {
      s3.destroy();
      dynamodb.destroy();
    }
  }
  return withStack(flags, false, (rt) => fn(createVersionRegistry(rt.clients.s3, rt.clients.dynamodb, rt.names.buckets.config, rt.names.table), { dynamodb: rt.clients.dynamodb, table: rt.names.table }));
}

/** A profile folder's data as a version stores it. */
export function readProfileFolder(dir: string): ProfileData {
  const file = join(dir, 'profile.json');
  if (!existsSync(file)) throw new InputError(`${dir}: no profile.json here`);
  const json = (f: string) => {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as Record<string, any>;
    } catch (err) {
      throw new InputError(`${f}: ${(err as Error).message}`);
    }
  };
  const profile = json(file);
  const rulesFile = join(dir, String(profile.rules ?? 'rules.json'));
  const promptFile = join(dir, 'prompts', `${String(profile.enrichment?.promptVersion ?? '')}.md`);
  return { profile, rules: json(rulesFile), prompt: existsSync(promptFile) ? readFileSync(promptFile, 'utf8') : '' };
}

const out = (flags: RegistryFlags, json: unknown, text: string) => process.stdout.write(flags.json ? `${JSON.stringify(json)}\n` : `${text}\n`);

/** A version's data: the registry's, or the bundled folder's when it is the bundled version. */
async function dataOf(reg: VersionRegistry, kind: VersionKind, name: string, version: string): Promise<ProfileData> {
  const { bundledData, bundledVersion } = await import('../../profiles/registry.ts');
  const base = bundledData(name);
  if (base && bundledVersion(name) === version) return base;
  const data = (await reg.getVersion(kind, name, version)) as ProfileData | undefined;
  if (!data) throw new InputError(`profile ${name} has no version ${version} (see \`sluice profile list ${name}\`)`);
  return data;
}

async function activeOf(reg: VersionRegistry, name: string): Promise<string | undefined> {
  const { bundledVersion } = await import('../../profiles/registry.ts');
  return (await reg.getActive('profile', name))?.version ?? bundledVersion(name);
}

export function profileCommand(): Command {
  const cmd = new Command('profile').description('profiles as versioned data: push a folder as a version, list, diff, activate, roll back — no deploy');
  cmd.addCommand(
    registryOptions(
      new Command('push')
        .description("store a profile folder as a version (validated first) and make it the active one: the next job uses it")
        .argument('<name>', 'the profile')
        .option('--dir <folder>', 'the folder to push (default profiles/NAME)')
        .option('--no-activate', 'store the version without activating it'),
    ).action(
      act(async (name: string, flags: RegistryFlags & { dir?: string; activate: boolean }) => {
        const { pushProfile, activate } = await import('../../profiles/registry.ts');
        const dir = resolve(flags.dir ?? join('profiles', name));
        const data = readProfileFolder(dir);
        return withRegistry(flags, async (reg) => {
          let pushed;
          try {
            pushed = await pushProfile(reg, name, data, 'push');
          } catch (err) {
            throw new InputError((err as Error).message.replace(`pushed profile ${name}`, dir));
          }
          const activated = flags.activate ? await activate(reg, 'profile', name, pushed.version, 'push', pushed.base) : undefined;
          out(
            flags,
            { profile: name, version: pushed.version, activated: activated?.outcome === 'activated', previous: activated?.previous ?? null },
            `profile ${name}: version ${pushed.version} stored${activated ? (activated.outcome === 'activated' ? `, active (was ${activated.previous ?? 'none'}); the next job uses it` : ', already active') : ' (not active: `sluice profile activate` it)'}`,
          );
          return EXIT.ok;
        });
      }),
    ),
  );
  cmd.addCommand(
    registryOptions(new Command('list').description("a profile's versions, newest first; * marks the active one, s the one in shadow").argument('<name>', 'the profile')).action(
      act(async (name: string, flags: RegistryFlags) =>
        withRegistry(flags, async (reg) => {
          const versions = await reg.listVersions('profile', name);
          const active = await activeOf(reg, name);
          const shadow = (await reg.getActive('profile', name))?.shadow;
          if (flags.json) out(flags, { profile: name, active: active ?? null, shadow: shadow ?? null, versions }, '');
          else if (!versions.length) process.stdout.write(`profile ${name}: no versions pushed; the bundled one (${active ?? 'none'}) runs\n`);
          else for (const v of versions) process.stdout.write(`${v.version === active ? '*' : v.version === shadow?.version ? 's' : ' '} ${v.version}  ${v.pushedAt}  ${v.source}${v.version === shadow?.version ? `  (shadow on ${(shadow.share * 100).toFixed(0)}%)` : ''}\n`);
          return EXIT.ok;
        }),
      ),
    ),
  );
  cmd.addCommand(
    registryOptions(
      new Command('diff')
        .description('what changed between two versions of a profile (unified diff of profile.json, the rules and the prompt)')
        .argument('<name>', 'the profile')
        .argument('<from>', 'a version')
        .argument('[to]', 'a version (default the active one)'),
    ).action(
      act(async (name: string, from: string, to: string | undefined, flags: RegistryFlags) =>
        withRegistry(flags, async (reg) => {
          const { createTwoFilesPatch } = await import('diff');
          const target = to ?? (await activeOf(reg, name));
          if (!target) throw new InputError(`profile ${name}: no active version to compare with`);
          const [a, b] = [await dataOf(reg, 'profile', name, from), await dataOf(reg, 'profile', name, target)];
          const pretty = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
          const patches = [
            createTwoFilesPatch(`${from}/profile.json`, `${target}/profile.json`, pretty(a.profile), pretty(b.profile)),
            createTwoFilesPatch(`${from}/rules.json`, `${target}/rules.json`, pretty(a.rules), pretty(b.rules)),
            createTwoFilesPatch(`${from}/prompt.md`, `${target}/prompt.md`, a.prompt, b.prompt),
          ].filter((p) => p.split('\n').some((l) => l.startsWith('@@')));
          if (flags.json) out(flags, { profile: name, from, to: target, patches }, '');
          else process.stdout.write(patches.length ? patches.join('') : `profile ${name}: ${from} and ${target} hold the same data\n`);
          return EXIT.ok;
        }),
      ),
    ),
  );
  cmd.addCommand(
    registryOptions(new Command('activate').description('make a pushed version the active one').argument('<name>', 'the profile').argument('<version>', 'the version')).action(
      act(async (name: string, version: string, flags: RegistryFlags) =>
        withRegistry(flags, async (reg) => {
          const { activate, UnknownVersionError } = await import('../../profiles/registry.ts');
          const base = await activeOf(reg, name);
          try {
            const r = await activate(reg, 'profile', name, version, 'activate', (await reg.getActive('profile', name)) ? undefined : base);
            out(flags, { profile: name, version, ...r }, r.outcome === 'activated' ? `profile ${name}: ${version} is active (was ${r.previous ?? 'none'})` : `profile ${name}: ${version} is already active`);
          } catch (err) {
            if (err instanceof UnknownVersionError) throw new InputError(err.message);
            throw err;
          }
          return EXIT.ok;
        }),
      ),
    ),
  );
  cmd.addCommand(
    registryOptions(new Command('rollback').description('go back to the version that was active before').argument('<name>', 'the profile')).action(
      act(async (name: string, flags: RegistryFlags) =>
        withRegistry(flags, async (reg) => {
          const { rollback, RegistryRefusal } = await import('../../profiles/registry.ts');
          try {
            const r = await rollback(reg, 'profile', name, 'rollback');
            out(flags, { profile: name, ...r }, `profile ${name}: rolled back from ${r.from} to ${r.to}`);
            return EXIT.ok;
          } catch (err) {
            if (err instanceof RegistryRefusal) {
              process.stderr.write(`sluice profile rollback: ${err.message}\n`);
              return EXIT.failed;
            }
            throw err;
          }
        }),
      ),
    ),
  );
  cmd.addCommand(
    registryOptions(
      new Command('shadow')
        .description("run a pushed version in shadow on a share of the live groups: its decisions are recorded beside the active ones, never served (`sluice metrics` compares them)")
        .argument('<name>', 'the profile')
        .argument('[version]', 'the candidate version (omit with --off)')
        .addOption(new Option('--share <fraction>', 'the share of groups the candidate also decides (0-1]').default(0.2).argParser(numberIn(0.0001, 1)))
        .option('--off', 'stop shadowing'),
    ).action(
      act(async (name: string, version: string | undefined, flags: RegistryFlags & { share: number; off?: boolean }) => {
        if (!flags.off && !version) throw new UsageError('name the candidate version, or pass --off');
        return withRegistry(flags, async (reg) => {
          const { setShadow, UnknownVersionError, RegistryRefusal } = await import('../../profiles/registry.ts');
          try {
            await setShadow(reg, name, flags.off ? undefined : { version: version!, share: flags.share }, await activeOf(reg, name));
          } catch (err) {
            if (err instanceof UnknownVersionError || err instanceof RegistryRefusal) throw new InputError(err.message);
            throw err;
          }
          out(flags, { profile: name, shadow: flags.off ? null : { version, share: flags.share } }, flags.off ? `profile ${name}: no shadow` : `profile ${name}: ${version} runs in shadow on ${(flags.share * 100).toFixed(0)}% of the groups; \`sluice metrics\` shows agreement and flips`);
          return EXIT.ok;
        });
      }),
    ),
  );
  return cmd;
}
