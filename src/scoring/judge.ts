/**
 * The LLM-as-judge for free-text fields: one structured-output call grades a chunk of items (10 by default)
 * and answers one JSON array, validated on return — every id exactly once, a verdict and a reason each.
 * Without an API key the offline judge grades by key-fact overlap and says so in its name and reasons.
 */
import type OpenAI from 'openai';
import type { zodResponseFormat } from 'openai/helpers/zod';
import * as z from 'zod';
import type { OpenAiProviderOptions } from '../llm/openai-provider.ts';
import { openAiSdk } from '../llm/openai-sdk.ts';
import { factOverlap } from './score-item.ts';

export interface JudgeInput {
  id: string;
  expected: string[];
  predicted: string;
}

export interface JudgeVerdict {
  id: string;
  verdict: 'pass' | 'fail';
  reason: string;
}

/**
 * `prompt`: the name of the benchmark's judge prompt (`prompts/<prompt>.md` beside it), `promptText` its text (the
 * benchmark version's own); `threshold`: the share of key facts the offline judge requires.
 */
export interface JudgeOptions {
  prompt?: string;
  promptText?: string;
  threshold?: number;
}

export interface Judge {
  /** e.g. `openai:gpt-4o-mini` or `offline:set-overlap` */
  name: string;
  /** Whether the judge reads the benchmark's prompt (a model does; the offline judge does not). */
  readsPrompt: boolean;
  judge(items: JudgeInput[], options?: JudgeOptions): Promise<JudgeVerdict[]>;
}

/** The judge as a run records it: `openai:gpt-4o-mini:tickets-judge-v1`, `offline:set-overlap`. */
export function judgeName(judge: Judge, o: JudgeOptions): string {
  return judge.readsPrompt && o.prompt ? `${judge.name}:${o.prompt}` : judge.name;
}

/** The judge's answer is not one valid verdict per id: the chunk is judged again item by item. */
export class JudgeAnswerError extends Error {
  override name = 'JudgeAnswerError';
}

export const JUDGE_SCHEMA_NAME = 'judge_verdicts';

const verdictsSchema = z.object({
  verdicts: z.array(z.object({ id: z.string(), verdict: z.enum(['pass', 'fail']), reason: z.string().min(1) })),
});

/**
 * Checks an answer against the items asked about.
 * @throws JudgeAnswerError naming the missing, repeated or unknown ids.
 */
export function validateVerdicts(items: JudgeInput[], answer: unknown): JudgeVerdict[] {
  const parsed = verdictsSchema.safeParse(answer);
  if (!parsed.success) throw new JudgeAnswerError(`the judge's answer does not match the schema: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const asked = new Set(items.map((i) => i.id));
  const seen = new Map<string, number>();
  for (const v of parsed.data.verdicts) seen.set(v.id, (seen.get(v.id) ?? 0) + 1);
  const missing = [...asked].filter((id) => !seen.has(id));
  const repeated = [...seen].filter(([id, n]) => n > 1 && asked.has(id)).map(([id]) => id);
  const unknown = [...seen.keys()].filter((id) => !asked.has(id));
  const problems = [
    missing.length ? `missing ${missing.join(', ')}` : '',
    repeated.length ? `repeated ${repeated.join(', ')}` : '',
    unknown.length ? `unknown ${unknown.join(', ')}` : '',
  ].filter(Boolean);
  if (problems.length) throw new JudgeAnswerError(`the judge's answer is not one verdict per id: ${problems.join('; ')}`);
  return parsed.data.verdicts;
}

/** The user message of a judge call: the items as one JSON array. */
export function judgeMessage(items: JudgeInput[]): string {
  return JSON.stringify(items.map((i) => ({ id: i.id, expected: i.expected, predicted: i.predicted })));
}

export function createOpenAiJudge(o: Pick<OpenAiProviderOptions, 'apiKey' | 'baseURL' | 'model' | 'timeoutMs' | 'maxRetries'>): Judge {
  let made: { client: OpenAI; format: ReturnType<typeof zodResponseFormat> } | undefined;
  return {
    name: `openai:${o.model}`,
    readsPrompt: true,
    async judge(items, { prompt, promptText } = {}) {
      if (!prompt || !promptText) throw new Error('the judge needs the benchmark\'s judgePrompt');
      const { OpenAI, zodResponseFormat } = await openAiSdk();
      made ??= { client: new OpenAI({ apiKey: o.apiKey, baseURL: o.baseURL, timeout: o.timeoutMs, maxRetries: o.maxRetries }), format: zodResponseFormat(verdictsSchema, JUDGE_SCHEMA_NAME) };
      const { client, format } = made;
      let completion;
      try {
        completion = await client.chat.completions.parse({
          model: o.model,
          temperature: 0,
          messages: [
            { role: 'system', content: promptText },
            { role: 'user', content: judgeMessage(items) },
          ],
          response_format: format,
        });
      } catch (err) {
        if (err instanceof OpenAI.APIError) throw err; // unavailable or refused: retried by the state machine
        throw new JudgeAnswerError(`the judge's answer is not valid JSON (${(err as Error).message.slice(0, 200)})`);
      }
      return validateVerdicts(items, completion.choices[0]?.message.parsed);
    },
  };
}

/** Grades by key-fact overlap (the benchmark's deterministic fallback) without any model. */
export function createOfflineJudge(): Judge {
  return {
    name: 'offline:set-overlap',
    readsPrompt: false,
    async judge(items, { threshold = 0.5 } = {}) {
      return items.map((i) => {
        const share = factOverlap(i.expected, i.predicted);
        const found = Math.round(share * i.expected.length);
        return { id: i.id, verdict: share >= threshold ? 'pass' : 'fail', reason: `offline judge: ${found} of ${i.expected.length} key facts found word for word` };
      });
    },
  };
}
