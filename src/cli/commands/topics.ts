/** `sluice topics`: topic discovery over the enriched summaries of a profile. */
import { Command } from 'commander';
import { listProfiles, loadProfile } from '../../profiles/profile.ts';
import { EXIT, type StackFlags, UsageError, act, offlineOption, stackOptions, withStack } from '../shared.ts';

export function topicsCommand(): Command {
  const cmd = new Command('topics')
    .description("topic discovery over a profile's enriched summaries (TF-IDF and k-means; with an LLM key, the LLM names them)")
    .option('--profile <name>', 'one profile (default: each in turn)')
    .option('--force', 'run even when too little changed since the last run')
    .option('--json', 'one JSON object a profile on stdout');
  return offlineOption(stackOptions(cmd)).action(
    act(async (flags: StackFlags & { profile?: string; force?: boolean; json?: boolean }) => {
      try {
        if (flags.profile) loadProfile(flags.profile);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const profiles = flags.profile ? [flags.profile] : listProfiles();
      const { runTopics } = await import('../../pipeline/topics.ts');
      return withStack(flags, false, async (rt) => {
        for (const profile of profiles) {
          const run = await runTopics(rt.operatorDeps(), { profile, force: Boolean(flags.force), namer: await rt.topicNamer() });
          if (flags.json) process.stdout.write(`${JSON.stringify(run)}\n`);
          else if (run.skipped) process.stdout.write(`topics for ${profile}: skipped — ${run.reason} (--force runs anyway)\n`);
          else {
            const lines = [`topics for ${profile}: ${run.records} groups, ${run.topics!.length} topics (assignments: s3://${rt.names.buckets.results}/${run.detail})`];
            for (const t of run.topics!) lines.push(`  ${String(t.id).padStart(2)}  ${String(t.size).padStart(5)}  coherence ${t.coherence.toFixed(3)} (NPMI ${(t.npmi ?? 0).toFixed(2)})  ${t.terms.join(', ')}${run.labelSource === 'llm' ? `  "${t.label}"` : ''}`);
            process.stdout.write(`${lines.join('\n')}\n`);
          }
        }
        return EXIT.ok;
      });
    }),
  );
}
