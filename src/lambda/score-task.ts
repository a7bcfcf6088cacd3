/**
 * The score function's handler: every Task state of the scoring state machine invokes it with a
 * `step`; it parses the event, runs that step and returns its (small) result. Errors are thrown with
 * their names (`BreakerOpenError`, `JudgeAnswerError`, ...), which the state machine's Retry and Catch match.
 */
import type { Context } from 'aws-lambda';
import { type ScoreDeps, createScoreSteps, runScoreTask } from '../scoring/score-steps.ts';

export type TaskHandler = (event: unknown, context?: Context) => Promise<unknown>;

export function createScoreTaskHandler(deps: ScoreDeps): TaskHandler {
  const steps = createScoreSteps(deps);
  return (event) => runScoreTask(steps, event);
}
