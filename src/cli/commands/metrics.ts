/** `sluice metrics`: a day's metrics per profile; quality gates raise alerts. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT, type StackFlags, act, stackOptions, withStack } from '../shared.ts';
import { localDlqDepths } from './status.ts';

function day(raw: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00Z`))) throw new InvalidArgumentError('must be a date (YYYY-MM-DD)');
  return raw;
}

export function metricsCommand(): Command {
  const cmd = new Command('metrics')
    .description("a day's metrics per profile (counts, coverage, LLM calls and cost, latency, backlog, DLQs); quality gates raise alerts")
    .addOption(new Option('--day <date>', 'the day (YYYY-MM-DD, UTC; default today)').argParser(day))
    .option('--json', 'one JSON object on stdout');
  return stackOptions(cmd).action(
    act(async (flags: StackFlags & { day?: string; json?: boolean }) => {
      const date = flags.day ?? new Date().toISOString().slice(0, 10);
      const { computeMetrics } = await import('../../pipeline/metrics.ts');
      return withStack(flags, false, async (rt) => {
        const report = await computeMetrics(rt.operatorDeps(), {
          day: date,
          pricePer1kPromptTokens: Number(process.env.SLUICE_PRICE_PER_1K_PROMPT_TOKENS ?? 0.00015),
          dlqDepths: () => localDlqDepths(rt),
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(report)}\n`);
          return EXIT.ok;
        }
        const lines = [`metrics for ${date}`];
        for (const p of report.profiles) {
          lines.push(
            `  ${p.profile}: ${p.jobs} job(s), rows ${p.rows} (accepted ${p.accepted}, rejected ${p.rejected}, duplicates ${p.duplicates}), groups ${p.groups} (decided ${p.decided}, failed ${p.failed}, pending ${p.pending})`,
            `    coverage ${Object.entries(p.coverage).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}`,
            `    LLM ${p.llm.calls} calls, ${p.llm.promptTokens} prompt tokens, cache hit rate ${(p.llm.cacheHitRate * 100).toFixed(1)}%, est. $${p.llm.estimatedCostUsd}`,
            `    latency enrich p50 ${p.latencyMs.enrich.p50} ms / p95 ${p.latencyMs.enrich.p95} ms, decide p50 ${p.latencyMs.decide.p50} ms / p95 ${p.latencyMs.decide.p95} ms`,
          );
          const pc = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
          if (Object.keys(p.resolved).length) lines.push(`    entities resolved without review ${Object.entries(p.resolved).map(([k, v]) => `${k} ${pc(v)}`).join(', ')}`);
          if (p.topicCoherence !== null) lines.push(`    topics: mean NPMI coherence ${p.topicCoherence}`);
          for (const [version, s] of Object.entries(p.shadow)) {
            const flips = Object.entries(s.flips).map(([f, n]) => `${f} ${n}`).join(', ');
            lines.push(`    shadow ${version}: ${s.groups} groups decided by both, agreement ${pc(s.agreement)}${flips ? `, flips ${flips}` : ''}${s.errors ? `, ${s.errors} candidate errors (the active result stood)` : ''}`);
          }
          for (const [facet, values] of Object.entries(p.byFacet)) {
            for (const [value, f] of Object.entries(values)) {
              lines.push(`    ${facet} ${value}: groups ${f.groups} (${Object.entries(f.outcomes).map(([o, n]) => `${o} ${n}`).join(', ') || 'none decided'}), coverage ${Object.entries(f.coverage).map(([k, v]) => `${k} ${pc(v)}`).join(', ')}`);
            }
          }
          for (const [output, top] of Object.entries(p.entities)) {
            if (top.length) lines.push(`    ${output}: ${top.slice(0, 8).map((e) => `${e.name} ${e.mentions} (${Object.entries(e.byFacet).map(([k, n]) => `${k} ${n}`).join(', ')})`).join('; ')}`);
          }
        }
        lines.push(`  backlog ${report.backlog.size} pending${report.backlog.oldestAgeHours !== null ? `, oldest ${report.backlog.oldestAgeHours} h` : ''}; DLQ ${Object.entries(report.dlq).map(([q, n]) => `${q} ${n}`).join(', ')}`);
        for (const a of report.alerts) lines.push(`ALERT ${a.message}`);
        process.stdout.write(`${lines.join('\n')}\n`);
        return EXIT.ok;
      });
    }),
  );
}
