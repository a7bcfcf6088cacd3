/**
 * An OpenAI-compatible Chat Completions server on loopback for tests, benchmarks and `sluice simulate`:
 * structured outputs (`response_format: json_schema`) answered deterministically from the input, with
 * latency and seeded faults — 429 with Retry-After, 5xx, timeouts (no answer) and malformed JSON. It
 * records calls, in-flight peaks, retries and any retry that came before the Retry-After it was given.
 *
 * Written here because no maintained OpenAI mock serves schema-derived structured outputs with fault rates.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JUDGE_SCHEMA_NAME } from '../scoring/judge.ts';

export interface FaultRates {
  rateLimit: number;
  serverError: number;
  timeout: number;
  malformed: number;
  /** Share of request bodies that always get a 500, however often they are retried (a request that cannot succeed). */
  persistent: number;
  /** Share of multi-item judge requests whose answer leaves out one id (a malformed batch verdict). */
  judgeOmit: number;
}

export interface SimulatorOptions {
  port?: number;
  latencyMs?: number;
  faults?: Partial<FaultRates>;
  /** Every call fails with 503 (provider down). */
  down?: boolean;
  retryAfterSeconds?: number;
  seed?: number;
  /** How long a "timeout" holds the request before giving up on it (the client should abort first). */
  holdMs?: number;
}

export interface SimulatorStats {
  calls: number;
  inFlight: number;
  maxInFlight: number;
  /** Requests the client marked as retries (the SDK's `x-stainless-retry-count` > 0). */
  retries: number;
  /** Retries that arrived before the Retry-After the simulator had sent for that request. */
  earlyRetries: number;
  outcomes: Record<'ok' | 'rateLimit' | 'serverError' | 'timeout' | 'malformed' | 'down' | 'persistent' | 'judgeOmit', number>;
  /** Judge calls (structured output named `judge_verdicts`) by the number of items they grade. */
  judgeCalls: Record<number, number>;
  /** Judge calls by the first line of their system prompt (which judge prompt graded them). */
  judgePrompts: Record<string, number>;
  promptTokens: number[];
  models: Record<string, number>;
}

export interface Simulator {
  url: string;
  stats: SimulatorStats;
  /** Changes the behaviour while running (e.g. take the provider down, bring it back). */
  configure(options: Partial<Pick<SimulatorOptions, 'latencyMs' | 'faults' | 'down' | 'retryAfterSeconds'>>): void;
  resetStats(): void;
  stop(): Promise<void>;
}

const TOLERANCE_MS = 25;

function freshStats(): SimulatorStats {
  return {
    calls: 0,
    inFlight: 0,
    maxInFlight: 0,
    retries: 0,
    earlyRetries: 0,
    outcomes: { ok: 0, rateLimit: 0, serverError: 0, timeout: 0, malformed: 0, down: 0, persistent: 0, judgeOmit: 0 },
    judgeCalls: {},
    judgePrompts: {},
    promptTokens: [],
    models: {},
  };
}

/** A number in [0, 1) from a hash of the parts: the same request and attempt always draw the same fault. */
function draw(...parts: Array<string | number>): number {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const o = { latencyMs: 0, retryAfterSeconds: 1, seed: 1, holdMs: 60_000, down: false, ...options, faults: { rateLimit: 0, serverError: 0, timeout: 0, malformed: 0, persistent: 0, judgeOmit: 0, ...options.faults } };
  let stats = freshStats();
  // Per request body: how many times it was asked, and the Retry-After deadlines still owed a retry, by the retry
  // count of the answer that set them (two copies of one body in flight, e.g. a redelivered message, each settle their own).
  const seen = new Map<string, { attempts: number; owed: Map<number, number[]> }>();
  const held = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(err), type: 'server_error' } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      send(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
      return;
    }
    let body: ChatRequest;
    try {
      body = JSON.parse(raw) as ChatRequest;
    } catch {
      send(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      return;
    }
    const key = createHash('sha256').update(raw).digest('hex');
    const now = Date.now();
    const entry = seen.get(key) ?? { attempts: 0, owed: new Map<number, number[]>() };
    seen.set(key, entry);
    entry.attempts += 1;
    const attempt = entry.attempts;
    const retryHeader = req.headers['x-stainless-retry-count'];
    const retry = retryHeader === undefined ? undefined : Number(retryHeader) || 0;
    stats.calls += 1;
    if (retry) {
      stats.retries += 1;
      // Retry n settles the earliest Retry-After owed by a 429 to an attempt n-1 of this body; early if even that is not due.
      const owed = entry.owed.get(retry - 1) ?? [];
      owed.sort((a, b) => a - b);
      const due = owed.shift();
      if (due !== undefined && now + TOLERANCE_MS < due) stats.earlyRetries += 1;
    }
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    stats.models[body.model] = (stats.models[body.model] ?? 0) + 1;
    const prompt = (body.messages ?? []).map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))).join('\n');
    const promptTokens = Math.ceil(prompt.length / 4);
    try {
      if (o.latencyMs) await new Promise((r) => setTimeout(r, o.latencyMs));
      if (o.down) {
        stats.outcomes.down += 1;
        send(res, 503, { error: { message: 'the simulated provider is down', type: 'server_error' } });
        return;
      }
      if (draw(o.seed, 'persistent', key) < o.faults.persistent) {
        stats.outcomes.persistent += 1;
        send(res, 500, { error: { message: 'The server had an error (simulated, this request always fails)', type: 'server_error' } });
        return;
      }
      // A transport fault (429, 5xx, timeout) is drawn per body and the client's retry count: a request sent again
      // afresh (its message redelivered, the runtime restarted) meets the same faults on the same retries, so a run
      // that crashed ends as a clean one did. Without the SDK's header, per body and attempt as counted here.
      const f = draw(o.seed, key, retry === undefined ? attempt : `retry ${retry}`);
      const { rateLimit, serverError, timeout, malformed } = o.faults;
      if (f < rateLimit) {
        stats.outcomes.rateLimit += 1;
        const n = retry ?? 0;
        entry.owed.set(n, [...(entry.owed.get(n) ?? []), Date.now() + o.retryAfterSeconds * 1000]);
        send(res, 429, { error: { message: 'Rate limit reached (simulated)', type: 'rate_limit_error', code: 'rate_limit_exceeded' } }, { 'retry-after': String(o.retryAfterSeconds) });
        return;
      }
      if (f < rateLimit + serverError) {
        stats.outcomes.serverError += 1;
        send(res, 500, { error: { message: 'The server had an error (simulated)', type: 'server_error' } });
        return;
      }
      if (f < rateLimit + serverError + timeout) {
        stats.outcomes.timeout += 1;
        held.add(res);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, o.holdMs);
          res.once('close', () => {
            clearTimeout(t);
            resolve();
          });
        });
        held.delete(res);
        if (!res.writableEnded && !res.destroyed) res.destroy();
        return;
      }
      stats.promptTokens.push(promptTokens);
      const schema = body.response_format?.json_schema?.schema;
      let content: string;
      // A malformed answer is drawn per body and attempt, so the group it failed is answered when it comes back; its
      // share of the answers is raised by the transport faults' so that it stays the given share of all calls.
      const transport = rateLimit + serverError + timeout;
      if (draw(o.seed, 'malformed', key, attempt) < Math.min(1, malformed / Math.max(1e-9, 1 - transport))) {
        stats.outcomes.malformed += 1;
        content = '{"summary": "The answer was cut off';
      } else if (body.response_format?.json_schema?.name === JUDGE_SCHEMA_NAME) {
        const items = judgeItems(body);
        stats.judgeCalls[items.length] = (stats.judgeCalls[items.length] ?? 0) + 1;
        const system = String(body.messages?.find((m) => m.role === 'system')?.content ?? '').split('\n')[0]!;
        stats.judgePrompts[system] = (stats.judgePrompts[system] ?? 0) + 1;
        const verdicts = items.map(judgeOne);
        if (items.length > 1 && draw(o.seed, 'judgeOmit', key) < o.faults.judgeOmit) {
          stats.outcomes.judgeOmit += 1;
          verdicts.pop();
        } else stats.outcomes.ok += 1;
        content = JSON.stringify({ verdicts });
      } else {
        stats.outcomes.ok += 1;
        content = JSON.stringify(schema ? answerFor(schema, prompt) : { text: prompt.slice(0, 200) });
      }
      send(res, 200, {
        id: `chatcmpl-sim-${key.slice(0, 12)}-${attempt}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: promptTokens, completion_tokens: Math.ceil(content.length / 4), total_tokens: promptTokens + Math.ceil(content.length / 4) },
      });
    } finally {
      stats.inFlight -= 1;
    }
  }

  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get stats() {
      return stats;
    },
    configure(change) {
      Object.assign(o, { ...change, faults: { ...o.faults, ...change.faults } });
    },
    resetStats() {
      stats = freshStats();
      seen.clear();
    },
    async stop() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ChatRequest {
  model: string;
  messages?: Array<{ role: string; content: unknown }>;
  response_format?: { type: string; json_schema?: { name: string; schema: JsonSchema } };
}

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  description?: string;
  $defs?: Record<string, JsonSchema>;
  $ref?: string;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * A value that conforms to the schema, derived from the prompt: enums pick the option the text mentions
 * most, strings quote the text's sentences, lists take its capitalised names, numbers and booleans follow
 * from the text. The same prompt always gives the same answer.
 */
export function answerFor(schema: JsonSchema, prompt: string, root: JsonSchema = schema, name = ''): unknown {
  if (schema.$ref) return answerFor(root.$defs?.[schema.$ref.split('/').pop()!] ?? {}, prompt, root, name);
  if (schema.const !== undefined) return schema.const;
  if (schema.anyOf) return answerFor(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!, prompt, root, name);
  const lower = prompt.toLowerCase();
  if (schema.enum) {
    const scored = schema.enum.map((v, i) => ({ v, i, n: countMentions(lower, String(v)) }));
    scored.sort((a, b) => b.n - a.n || a.i - b.i);
    return scored[0]!.n > 0 ? scored[0]!.v : schema.enum[Math.floor(draw(prompt, name) * schema.enum.length)];
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, answerFor(s, prompt, root, k)]));
    case 'array': {
      const names = [...new Set(prompt.match(/\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b/g) ?? [])].slice(0, 3);
      if (schema.items?.type === 'string') return names;
      const resolve = (x: JsonSchema | undefined) => (x?.$ref ? (root.$defs?.[x.$ref.split('/').pop()!] ?? {}) : x);
      let item = resolve(schema.items);
      // A list of alternatives (e.g. kinds of edits): each element one of them, drawn from the prompt.
      const variants = item?.anyOf?.filter((v) => v.type !== 'null');
      if (variants?.length) item = resolve(variants[Math.floor(draw(prompt, `${name}:variant`) * variants.length)]);
      if (item?.type !== 'object') return [];
      const answer = (extra: string) => Object.fromEntries(Object.entries(item.properties ?? {}).map(([k, s]) => [k, answerFor(s, `${prompt} ${extra}`, root, k)]));
      // Objects named (e.g. scored entities): one per name found, its `name` that name, the rest answered.
      if (item.properties?.name) return names.map((n) => ({ ...answer(n), name: n }));
      return Array.from({ length: 1 + Math.floor(draw(prompt, `${name}:count`) * 3) }, (_, i) => answer(String(i)));
    }
    case 'string': {
      const sentences = prompt.split(/(?<=[.!?])\s+/).filter((s) => s.length > 40);
      const pick = sentences[Math.floor(draw(prompt, name) * sentences.length)] ?? prompt.slice(0, 120);
      return pick.slice(0, 280);
    }
    case 'number':
    case 'integer': {
      const lo = schema.minimum ?? 0;
      const hi = schema.maximum ?? 1;
      const v = lo + draw(prompt, name) * (hi - lo);
      return type === 'integer' ? Math.round(v) : Math.round(v * 100) / 100;
    }
    case 'boolean': {
      // True when the property's words are mentioned, false when one of them is negated, else a draw.
      const words = name.split(/(?=[A-Z])|_/).map((w) => w.toLowerCase()).filter((w) => w.length > 3);
      if (words.length && new RegExp(`\\b(no|not|without)\\b[^.]{0,40}\\b(${words.join('|')})`).test(lower)) return false;
      return countMentions(lower, words.join(' ')) > 0 || draw(prompt, name) < 0.5;
    }
    default:
      return null;
  }
}

/** The items of a judge request: its last user message is their JSON array. */
function judgeItems(body: ChatRequest): Array<{ id: string; expected: string[]; predicted: string }> {
  const user = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  try {
    const items = JSON.parse(String(user?.content ?? '[]'));
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

/** A judgement from the text: pass when at least half the expected facts' words all appear in the prediction. */
function judgeOne(item: { id: string; expected: string[]; predicted: string }) {
  const words = new Set(String(item.predicted).toLowerCase().split(/[^a-z0-9]+/));
  const found = item.expected.filter((f) => f.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2).every((w) => words.has(w))).length;
  const pass = found * 2 >= item.expected.length;
  return { id: item.id, verdict: pass ? 'pass' : 'fail', reason: `simulated judge: ${found} of ${item.expected.length} expected facts stated` };
}

function countMentions(text: string, term: string): number {
  const words = term.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2);
  return words.reduce((n, w) => n + (text.split(w).length - 1), 0);
}
