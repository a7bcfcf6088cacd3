/**
 * The event each function receives, as Powertools parser's schemas describe AWS's events: an SQS batch for a
 * function a queue triggers, an EventBridge Scheduled Event for one a schedule targets; the score task's input
 * is the state machine's own (checked by the score step). Which is which comes from the topology.
 */
import * as z from 'zod';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { SqsSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import { type FunctionName, type Topology, topology as defaultTopology } from '../topology/topology.ts';

/** An EventBridge rule's scheduled invocation (`detail-type` "Scheduled Event", source aws.events). */
export const ScheduledEventSchema = EventBridgeSchema.extend({ 'detail-type': z.literal('Scheduled Event'), source: z.literal('aws.events') });

/** The schema of the event `fn` is invoked with, or undefined when the topology gives it no AWS event source. */
export function eventSchemaOf(fn: FunctionName, topology: Topology = defaultTopology): z.ZodType | undefined {
  if (topology.functions[fn].trigger) return SqsSchema;
  if (Object.values(topology.schedules).some((s) => s.target === fn)) return ScheduledEventSchema;
  return undefined;
}

/**
 * Why `event` is not the event `fn` takes — what it should be and each problem with its path — or undefined
 * when it is.
 */
export function eventProblems(fn: FunctionName, event: unknown, topology: Topology = defaultTopology): string | undefined {
  const schema = eventSchemaOf(fn, topology);
  const parsed = schema?.safeParse(event);
  if (!parsed || parsed.success) return undefined;
  const kind = schema === SqsSchema ? 'an SQS event' : 'an EventBridge Scheduled Event';
  const all = parsed.error.issues;
  const issues = all.slice(0, 5).map((i) => `  - ${i.path.length ? i.path.join('.') : '(the event)'}: ${i.message}`);
  if (all.length > 5) issues.push(`  - and ${all.length - 5} more`);
  return `not ${kind}, which ${fn} takes:\n${issues.join('\n')}`;
}
