/**
 * How a function is bundled, described once: the CDK stack's NodejsFunction and the bundle report
 * script (`npm run bundles`) both use these esbuild settings, so the measured bundle is the deployed one.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..');

/** ESM bundles need `require` for the CommonJS dependencies esbuild inlines. */
export const ESM_REQUIRE_BANNER = "import { createRequire as __sluiceRequire } from 'node:module'; const require = __sluiceRequire(import.meta.url);";

export const esbuildSettings = {
  platform: 'node' as const,
  target: 'node24',
  format: 'esm' as const,
  minify: true,
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_BANNER,
  /** The Lambda Node.js 24 runtime provides the AWS SDK v3; the bundle uses that copy. */
  external: ['@aws-sdk/*'],
  /** Warnings and errors only: no size table or timing per bundle in a synth. */
  logLevel: 'warning' as const,
  /**
   * Warnings known to be harmless, each silenced with its reason; any other still shows (and fails a test).
   * empty-glob: sentiment's `require('../languages/' + code + '/index')` runs only for a language other than
   * English, which it requires statically; the package ships English alone and sluice never asks for another.
   */
  logOverride: { 'empty-glob': 'silent' } as Record<string, 'silent'>,
};

/**
 * Source maps as a stage ships them (cdk.json `sourceMaps`): an external map beside the bundle, read by Node's
 * `--enable-source-maps`, or none at all. Either way without the sources' text: stack traces need the mappings
 * only, and the map Node parses at a cold start is the smaller for it.
 */
export function sourceMapSettings(enabled: boolean): { sourcemap: boolean; sourcesContent: boolean; nodeOptions?: string } {
  return enabled ? { sourcemap: true, sourcesContent: false, nodeOptions: '--enable-source-maps' } : { sourcemap: false, sourcesContent: false };
}

/** Data the handlers read at run time, shipped beside the bundle: profiles and the scoring benchmarks. */
const RUNTIME_DATA = ['profiles', 'benchmarks'];

export function copyRuntimeData(outputDir: string): void {
  for (const dir of RUNTIME_DATA) cpSync(join(REPO_ROOT, dir), join(outputDir, dir), { recursive: true });
}

export function runtimeDataCommands(outputDir: string): string[] {
  return RUNTIME_DATA.map((dir) => `cp -R "${join(REPO_ROOT, dir)}" "${outputDir}/${dir}"`);
}
