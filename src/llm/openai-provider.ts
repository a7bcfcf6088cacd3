/**
 * The OpenAI provider: one structured-output Chat Completions call per group over its retrieved chunks
 * (bounded prompt whatever the note length), a zod schema built from the profile's taxonomy, the answer
 * validated again on return. The `openai` SDK does the retries: exponential backoff with jitter, and
 * never before a 429's Retry-After. A cap on in-flight calls (p-limit) is shared by the whole invocation.
 */
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import pLimit, { type LimitFunction } from 'p-limit';
import * as z from 'zod';
import type { EnrichmentOutput, EnrichmentProvider, EnrichmentRequest } from '../domain/enrich/enrich-group.ts';
import { type Profile, loadPrompt } from '../profiles/profile.ts';

export const OPENAI_PROVIDER = 'openai';

export interface OpenAiProviderOptions {
  apiKey: string;
  baseURL?: string;
  model: string;
  /** Overrides the profile's prompt version. */
  promptVersion?: string;
  /** In-flight calls at most, across every group of this process. */
  maxInFlight: number;
  timeoutMs: number;
  maxRetries: number;
}

/** The answer was not the structured output the schema asks for: an error for that group, retried by SQS. */
export class LlmAnswerError extends Error {
  override name = 'LlmAnswerError';
}

/** The provider could not be reached or kept refusing (after the SDK's retries): counts against the breaker. */
export class LlmUnavailableError extends Error {
  override name = 'LlmUnavailableError';
}

export function answerSchema(profile: Profile) {
  const codes = profile.taxonomy.causeCodes.map((c) => c.code) as [string, ...string[]];
  return z.object({
    summary: z.string().min(1),
    lossDescription: z.string().min(1),
    causeCode: z.enum(codes),
    buildingParts: z.array(z.string()),
    buildingDamageDenied: z.boolean(),
    sentiment: z.enum(['negative', 'neutral', 'positive']),
    people: z.array(z.string()),
    organizations: z.array(z.string()),
    places: z.array(z.string()),
  });
}

export type LlmAnswer = z.infer<ReturnType<typeof answerSchema>>;

export interface OpenAiProvider extends EnrichmentProvider {
  /** The in-flight cap; `enrich` runs `call` inside it. */
  readonly limiter: LimitFunction;
  /** One call, without taking a slot of the cap (for callers that already hold one). */
  call(request: EnrichmentRequest): Promise<EnrichmentOutput>;
}

export function createOpenAiProvider(o: OpenAiProviderOptions, promptVersionOf: (p: Profile) => string = (p) => p.enrichment.promptVersion): OpenAiProvider {
  const client = new OpenAI({ apiKey: o.apiKey, baseURL: o.baseURL, maxRetries: o.maxRetries, timeout: o.timeoutMs });
  const limiter = pLimit(o.maxInFlight);
  // Built once per profile: the zod schema, its JSON-schema response format, and the prompt per version.
  const schemas = new WeakMap<Profile, { schema: ReturnType<typeof answerSchema>; format: ReturnType<typeof zodResponseFormat> }>();
  return {
    name: OPENAI_PROVIDER,
    model: o.model,
    get promptVersion() {
      return o.promptVersion ?? 'per-profile';
    },
    limiter,
    enrich(request: EnrichmentRequest): Promise<EnrichmentOutput> {
      return limiter(() => this.call(request));
    },
    async call(request: EnrichmentRequest): Promise<EnrichmentOutput> {
      const { profile } = request;
      let compiled = schemas.get(profile);
      if (!compiled) {
        const schema = answerSchema(profile);
        schemas.set(profile, (compiled = { schema, format: zodResponseFormat(schema, 'claim_enrichment') }));
      }
      const { schema, format } = compiled;
      const version = o.promptVersion ?? promptVersionOf(profile);
      const messages = promptMessages(profile, version, request);
      let completion;
      try {
        completion = await client.chat.completions.parse({ model: o.model, messages, response_format: format, temperature: 0 });
      } catch (err) {
        if (err instanceof OpenAI.APIConnectionError || err instanceof OpenAI.RateLimitError || err instanceof OpenAI.InternalServerError) {
          throw new LlmUnavailableError(`${err.name}: ${err.message}`);
        }
        if (err instanceof OpenAI.APIError) throw err;
        throw new LlmAnswerError(`the answer is not valid structured output (${(err as Error).name}: ${(err as Error).message.slice(0, 200)})`);
      }
      const checked = schema.safeParse(completion.choices[0]?.message.parsed);
      if (!checked.success) {
        throw new LlmAnswerError(`the answer does not match the schema: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      }
      return toOutput(profile, checked.data, completion.usage?.prompt_tokens);
    },
  };
}

/** The messages of one call: the versioned prompt, then the retrieved chunks with their ids. */
const systemPrompts = new WeakMap<Profile, Map<string, string>>();

export function promptMessages(profile: Profile, version: string, request: EnrichmentRequest) {
  let byVersion = systemPrompts.get(profile);
  if (!byVersion) systemPrompts.set(profile, (byVersion = new Map()));
  let system = byVersion.get(version);
  if (system === undefined) {
    const codes = profile.taxonomy.causeCodes.map((c) => `- ${c.code}: ${c.label}`).join('\n');
    byVersion.set(version, (system = loadPrompt(profile, version).replace('{{causeCodes}}', codes)));
  }
  const excerpts = request.retrieved.map((c) => `[${c.id}]\n${c.text}`).join('\n\n');
  return [
    { role: 'system' as const, content: system },
    { role: 'user' as const, content: `Claim ${request.groupId}: excerpts of its notes (${request.notes.length} notes, oldest first):\n\n${excerpts}` },
  ];
}

function toOutput(profile: Profile, a: LlmAnswer, promptTokens: number | undefined): EnrichmentOutput {
  const label = profile.taxonomy.causeCodes.find((c) => c.code === a.causeCode)?.label ?? a.causeCode;
  const parts = [...new Set(a.buildingParts.map((p) => p.toLowerCase().trim()).filter(Boolean))].sort();
  return {
    summary: a.summary,
    lossDescription: a.lossDescription,
    causeCode: { code: a.causeCode, label, matched: [] },
    building: { partMentions: parts.length, distinctParts: parts, damageDenied: a.buildingDamageDenied, denials: [] },
    sentiment: { label: a.sentiment, score: a.sentiment === 'negative' ? -1 : a.sentiment === 'positive' ? 1 : 0, comparative: 0 },
    entities: { people: a.people, organizations: a.organizations, places: a.places, money: [], dates: [], policyNumbers: [], phones: [], buildingParts: parts },
    usage: { promptTokens: promptTokens ?? 0, calls: 1 },
  };
}
