/**
 * Runs a topology state machine locally with aws-local-stepfunctions: the ASL file exactly as the stack
 * deploys it, with its `${Placeholder}` function ARNs substituted the way the stack's
 * DefinitionSubstitutions do, and every Task state mapped to the local handler of the function it names.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { StateMachineSpec, TaskFunctionName } from '../topology/topology.ts';

const REPO_ROOT = join(import.meta.dirname, '../..');

/** The ASL text of a state machine, as the stack reads it. */
export function definitionText(spec: StateMachineSpec): string {
  return readFileSync(join(REPO_ROOT, spec.definitionFile), 'utf8');
}

/**
 * Replaces each `${Name}` with its value.
 * @throws Error naming a placeholder the definition uses but no value is given for.
 */
export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`state machine definition: no value for \${${name}}`);
    return v;
  });
}

interface StateDef {
  Type: string;
  Resource?: string;
  Parameters?: { FunctionName?: string; Payload?: unknown };
  ItemProcessor?: { States: Record<string, StateDef> };
  Iterator?: { States: Record<string, StateDef> };
  Branches?: Array<{ States: Record<string, StateDef> }>;
}

/** Every Task state in the definition, nested ones included: name → Resource. */
export function taskStates(definition: { States: Record<string, StateDef> }): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (states: Record<string, StateDef>) => {
    for (const [name, s] of Object.entries(states)) {
      if (s.Type === 'Task' && s.Resource) {
        if (out.has(name)) throw new Error(`state machine definition: Task state name ${name} is used twice (local handlers are keyed by name)`);
        // The Lambda service integration (`arn:aws:states:::lambda:invoke[.waitForTaskToken]`) names its function in Parameters.
        out.set(name, s.Resource.startsWith(LAMBDA_INTEGRATION) ? String(s.Parameters?.FunctionName) : s.Resource);
      }
      const nested = s.ItemProcessor ?? s.Iterator;
      if (nested) walk(nested.States);
      for (const b of s.Branches ?? []) walk(b.States);
    }
  };
  walk(definition.States);
  return out;
}

const LAMBDA_INTEGRATION = 'arn:aws:states:::lambda:invoke';
const WAIT_FOR_TOKEN = `${LAMBDA_INTEGRATION}.waitForTaskToken`;

/** Task states that invoke through the Lambda integration and wait for their task token. */
function waitingStates(definition: { States: Record<string, StateDef> }): Set<string> {
  const out = new Set<string>();
  const walk = (states: Record<string, StateDef>) => {
    for (const [name, s] of Object.entries(states)) {
      if (s.Type === 'Task' && s.Resource === WAIT_FOR_TOKEN) out.add(name);
      const nested = s.ItemProcessor ?? s.Iterator;
      if (nested) walk(nested.States);
      for (const b of s.Branches ?? []) walk(b.States);
    }
  };
  walk(definition.States);
  return out;
}

export const localFunctionArn = (fn: string) => `arn:aws:lambda:us-east-1:000000000000:function:${fn}`;

export interface ExecuteOptions {
  retryIntervalMs?: number;
  /** How a `.waitForTaskToken` state learns its outcome (the runtime polls the status table); such states fail without it. */
  awaitTaskToken?: (token: string) => Promise<unknown>;
}

export interface LocalStateMachine {
  /** The definition text executed, before substitution: the file the stack deploys. */
  readonly source: string;
  /** Runs one execution to its end; the output, or an error named as Step Functions would name it. */
  execute(input: unknown, options?: ExecuteOptions): Promise<unknown>;
}

/** A state machine failed: `error` and `cause` as the execution's failure would show them. */
export class ExecutionFailedError extends Error {
  override name = 'ExecutionFailedError';
  readonly error: string;
  readonly reason: string;
  constructor(error: string, reason: string) {
    super(`${error}: ${reason}`);
    this.error = error;
    this.reason = reason;
  }
}

export function localStateMachine(spec: StateMachineSpec, handlers: Record<TaskFunctionName, (event: unknown) => Promise<unknown>>, functionName: (fn: TaskFunctionName) => string): LocalStateMachine {
  const arns = Object.fromEntries(Object.entries(spec.functions).map(([placeholder, fn]) => [placeholder, localFunctionArn(functionName(fn))]));
  const source = definitionText(spec);
  const definition = JSON.parse(substitute(source, arns)) as StateMachineDefinition & { States: Record<string, StateDef> };
  const byArn = new Map(Object.values(spec.functions).map((fn) => [localFunctionArn(functionName(fn)), handlers[fn]]));
  const tasks = taskStates(definition);
  const waiting = waitingStates(definition);
  const handlersFor = (options: ExecuteOptions) =>
    Object.fromEntries(
      [...tasks].map(([state, arn]) => {
        const handler = byArn.get(arn);
        if (!handler) throw new Error(`state machine definition: Task state ${state} invokes ${arn}, which is not a function of this state machine`);
        if (!waiting.has(state)) return [state, async (input: unknown) => (await handler(input)) as never];
        // As Step Functions does: invoke with the Payload (the task token in it), then wait for the token's outcome.
        return [
          state,
          async (input: unknown) => {
            const payload = (input as { Payload?: { taskToken?: string } }).Payload;
            await handler(payload);
            const token = payload?.taskToken;
            if (!token || !options.awaitTaskToken) throw new Error(`Task state ${state} waits for a task token, and this execution cannot wait for one`);
            return (await options.awaitTaskToken(token)) as never;
          },
        ];
      }),
    );
  const machine = new StateMachine(definition);
  return {
    source,
    async execute(input, options = {}) {
      const retryIntervalOverrides = options.retryIntervalMs === undefined ? undefined : Object.fromEntries([...tasks.keys()].map((s) => [s, options.retryIntervalMs!]));
      // One token per execution: the definitions here have one waiting state, reached once.
      const context = { Task: { Token: `local-token-${randomUUID()}` } };
      try {
        return await machine.run(input as never, { overrides: { taskResourceLocalHandlers: handlersFor(options), retryIntervalOverrides }, context: context as never }).result;
      } catch (err) {
        const cause = err instanceof ExecutionError ? ((err as Error & { cause?: Error }).cause ?? err) : err;
        throw new ExecutionFailedError((cause as Error).name ?? 'Error', (cause as Error).message ?? String(cause));
      }
    },
  };
}
