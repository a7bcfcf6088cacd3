/**
 * The `openai` SDK, imported by the first call that needs it rather than with the code of every function that might
 * (~13 MB and ~0.2 s of CPU of each local handler process, most of which never call a model; measured).
 */
import type OpenAI from 'openai';
import type { zodResponseFormat } from 'openai/helpers/zod';

export interface OpenAiSdk {
  OpenAI: typeof OpenAI;
  zodResponseFormat: typeof zodResponseFormat;
}

let sdk: Promise<OpenAiSdk> | undefined;

export function openAiSdk(): Promise<OpenAiSdk> {
  sdk ??= Promise.all([import('openai'), import('openai/helpers/zod')]).then(([o, z]) => ({ OpenAI: o.default, zodResponseFormat: z.zodResponseFormat }));
  return sdk;
}
