/**
 * The OpenAI provider: one structured-output Chat Completions call per group over its retrieved chunks
 * (bounded prompt whatever the record length), a zod schema built from the profile's declared outputs, the answer
 * validated again on return. The `openai` SDK does the retries: exponential backoff with jitter, and
 * never before a 429's Retry-After. A cap on in-flight calls (p-limit) is shared by the whole invocation.
 */
import type OpenAI from 'openai';
import type { zodResponseFormat } from 'openai/helpers/zod';
import * as z from 'zod';
import type { EnrichmentOutput, EnrichmentProvider, EnrichmentRequest } from '../domain/enrich/enrich-group.ts';
import { type Profile, loadPrompt } from '../profiles/profile.ts';
import { type PriorityLimit, priorityLimit } from './priority-limit.ts';
import { openAiSdk } from './openai-sdk.ts';
import type { Label, OutputSpec } from '../profiles/outputs.ts';

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

/** The zod schema of one declared output's answer (its description goes with it into the JSON schema). */
function outputAnswerSchema(o: OutputSpec): z.ZodType {
  const described = <T extends z.ZodType>(t: T) => t.describe(o.description);
  switch (o.type) {
    case 'label':
      return described(z.enum([o.fallback.value, ...o.labels.map((l) => l.value)]));
    case 'labels':
      return described(z.array(z.string()));
    case 'text':
      return described(z.string().min(1));
    case 'number':
      return described(z.number());
    case 'boolean':
      return described(z.boolean());
    case 'sentiment':
      return described(z.enum(['negative', 'neutral', 'positive']));
    case 'entities':
      if (o.resolve) {
        const kind = z.enum(o.kinds.map((k) => k.name) as [string, ...string[]]);
        return described(z.array(z.object({ name: z.string().min(1), kind, confidence: z.number().describe('0 to 1: how sure you are this is an entity of this kind') })));
      }
      return described(z.object(Object.fromEntries(o.kinds.map((k) => [k.name, k.description ? z.array(z.string()).describe(k.description) : z.array(z.string())]))));
  }
}

/** The structured answer the LLM gives for a profile: one property per declared output. */
export function answerSchema(profile: Profile) {
  return z.object(Object.fromEntries(profile.outputs.map((o) => [o.name, outputAnswerSchema(o)])));
}

export type LlmAnswer = Record<string, unknown>;

export interface OpenAiProvider extends EnrichmentProvider {
  /** The in-flight cap; `enrich` runs `call` inside it. */
  readonly limiter: PriorityLimit;
  /** One call, without taking a slot of the cap (for callers that already hold one). */
  call(request: EnrichmentRequest): Promise<EnrichmentOutput>;
}

export function createOpenAiProvider(o: OpenAiProviderOptions, promptVersionOf: (p: Profile) => string = (p) => p.enrichment.promptVersion): OpenAiProvider {
  let client: OpenAI | undefined;
  const limiter = priorityLimit(o.maxInFlight);
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
      const { OpenAI, zodResponseFormat } = await openAiSdk();
      client ??= new OpenAI({ apiKey: o.apiKey, baseURL: o.baseURL, maxRetries: o.maxRetries, timeout: o.timeoutMs });
      let compiled = schemas.get(profile);
      if (!compiled) {
        const schema = answerSchema(profile);
        schemas.set(profile, (compiled = { schema, format: zodResponseFormat(schema, `${profile.name.replace(/-/g, '_')}_enrichment`) }));
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
    byVersion.set(version, (system = loadPrompt(profile, version).replace('{{outputs}}', outputsSection(profile))));
  }
  const excerpts = request.retrieved.map((c) => `[${c.id}]\n${c.text}`).join('\n\n');
  return [
    { role: 'system' as const, content: system },
    { role: 'user' as const, content: `Group ${request.groupId}: excerpts of its records (${request.notes.length} records, oldest first):\n\n${excerpts}` },
  ];
}

/** The prompt's section on what to return: each declared output, its description and its labels. */
export function outputsSection(profile: Profile): string {
  const labelList = (labels: Label[]) => labels.map((l) => `    - ${l.value}${l.title ? `: ${l.title}` : ''}`).join('\n');
  return profile.outputs
    .map((o) => {
      const head = `- \`${o.name}\` (${o.type}): ${o.description}${o.type === 'text' && o.maxChars ? ` At most ${o.maxChars} characters.` : ''}`;
      if (o.type === 'label') return `${head}\n  One of:\n${labelList(o.labels)}\n    - ${o.fallback.value}: ${o.fallback.title ?? 'none of the above'}`;
      if (o.type === 'labels') return `${head}\n  Any of: ${o.labels.map((l) => l.value).join(', ')}`;
      if (o.type === 'entities') return `${head}\n${o.kinds.map((k) => `  - \`${k.name}\`${k.description ? `: ${k.description}` : ''}`).join('\n')}`;
      return head;
    })
    .join('\n');
}

/** A label list answer kept to the declared labels (matched without case, by value or keyword), distinct, sorted. */
function toLabels(answer: string[], labels: Label[]): string[] {
  const byTerm = new Map<string, string>();
  for (const l of labels) for (const t of [l.value, ...l.keywords]) byTerm.set(t.toLowerCase().trim(), l.value);
  return [...new Set(answer.map((a) => byTerm.get(a.toLowerCase().trim())).filter((v): v is string => v !== undefined))].sort();
}

function toOutput(profile: Profile, a: LlmAnswer, promptTokens: number | undefined): EnrichmentOutput {
  const outputs: Record<string, unknown> = {};
  for (const o of profile.outputs) {
    const v = a[o.name];
    if (o.type === 'labels') outputs[o.name] = toLabels(v as string[], o.labels);
    else if (o.type === 'sentiment') outputs[o.name] = { label: v, score: v === 'negative' ? -1 : v === 'positive' ? 1 : 0 };
    else outputs[o.name] = v;
  }
  return { outputs, usage: { promptTokens: promptTokens ?? 0, calls: 1 } };
}
