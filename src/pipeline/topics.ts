/**
 * Topic discovery for a profile: once enough groups were enriched since the last run (profile
 * `topics.minRecords`), cluster their summaries into topics (TF-IDF + seeded k-means), label them, score
 * their coherence, assign each group its topic, and store the run (summary in DynamoDB, assignments in
 * S3). Below the threshold the run is recorded as skipped, with the reason. Same records → same topics.
 */
import { TERMINAL_STATUSES } from '../domain/job.ts';
import { type TopicDoc, discoverTopics } from '../domain/topics/discover.ts';
import type { PipelineDeps } from './deps.ts';
import type { TopicRunRecord } from './ports.ts';
import type { TopicNamer } from '../llm/topic-namer.ts';

export async function runTopics(deps: PipelineDeps, o: { profile: string; force?: boolean; namer?: TopicNamer }): Promise<TopicRunRecord> {
  const profile = await deps.profiles.active(o.profile);
  const cfg = profile.topics;
  // A group's document is its text outputs (summaries, descriptions), in declared order.
  const textOutputs = profile.outputs.filter((x) => x.type === 'text').map((x) => x.name);
  const at = deps.now().toISOString();
  const last = await deps.store.latestTopicRun(profile.name);
  const since = last?.at ?? '1970-01-01T';
  const docs: Array<TopicDoc & { jobId: string; groupId: string }> = [];
  let enriched = 0;
  for await (const job of deps.store.listJobsReceived(since, at)) {
    if (job.profile !== profile.name || !TERMINAL_STATUSES.has(job.status)) continue;
    enriched += job.counts.enriched;
    for await (const g of deps.store.listGroups(job.jobId)) {
      const text = textOutputs.map((o) => g.enrichment?.outputs[o]).filter((t): t is string => typeof t === 'string' && t.length > 0).join(' ');
      if (text) docs.push({ id: `${job.jobId}/${g.groupId}`, text, jobId: job.jobId, groupId: g.groupId });
    }
  }
  const tooFew = enriched < cfg.minRecords && !o.force;
  if (tooFew || docs.length < cfg.k) {
    const sinceText = last ? `the last topic run (${last.at})` : 'the start';
    const run: TopicRunRecord = {
      profile: profile.name,
      at,
      skipped: true,
      records: enriched,
      reason: tooFew
        ? `${enriched} groups enriched since ${sinceText}; topics need at least ${cfg.minRecords}`
        : `${docs.length} summaries since ${sinceText}; ${cfg.k} topics need at least ${cfg.k}`,
    };
    await deps.store.putTopicRun(run);
    deps.logger.info('topic run skipped', { profile: profile.name, enriched, threshold: cfg.minRecords });
    return run;
  }
  const { topics, assignments } = discoverTopics(docs, { k: cfg.k, seed: cfg.seed, topTerms: cfg.topTerms });
  let labelSource: TopicRunRecord['labelSource'] = 'terms';
  if (o.namer) {
    try {
      const examples = topics.map((t) => docs.filter((d) => assignments.get(d.id) === t.id).slice(0, 3).map((d) => d.text));
      const names = await o.namer.name(topics.map((t, i) => ({ terms: t.terms, examples: examples[i]! })), cfg.about);
      topics.forEach((t, i) => (t.label = names[i]!));
      labelSource = 'llm';
    } catch (err) {
      deps.logger.warn('topic naming failed; top terms label the topics', { profile: profile.name, error: (err as Error).name });
    }
  }
  const detail = `topics/${profile.name}/${at}.jsonl`;
  const lines = docs.map((d) => JSON.stringify({ jobId: d.jobId, groupId: d.groupId, topic: assignments.get(d.id) })).join('\n');
  await deps.objects.put(deps.resultsBucket, detail, `${lines}\n`, 'application/x-ndjson');
  const run: TopicRunRecord = { profile: profile.name, at, skipped: false, records: docs.length, topics, detail, labelSource };
  await deps.store.putTopicRun(run);
  deps.logger.info('topic run', { profile: profile.name, records: docs.length, topics: topics.length });
  return run;
}
