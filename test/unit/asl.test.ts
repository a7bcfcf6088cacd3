// Under test: every state machine under statemachines/ is valid Amazon States Language (asl-validator) as it is deployed, its ${...} placeholders replaced by function ARNs.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import validateAsl from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { localFunctionArn, substitute } from '../../src/local/state-machines.ts';
import { resourceName, topology } from '../../src/topology/topology.ts';

const DIR = 'statemachines';
const files = readdirSync(DIR).filter((f) => f.endsWith('.asl.json')).sort();

/** The topology's spec of a state machine file: the functions its placeholders stand for. */
function specOf(file: string) {
  const spec = Object.values(topology.stateMachines).find((s) => s.definitionFile === `${DIR}/${file}`);
  if (!spec) throw new Error(`${DIR}/${file} is the definition of no state machine in the topology`);
  return spec;
}

/**
 * The definition as the stack deploys it: each placeholder → the ARN of the function it names (the stack's
 * DefinitionSubstitutions), substituted by the local runtime's code, with its ARNs.
 */
function deployed(file: string, arnOf = (fn: string) => localFunctionArn(resourceName('dev', fn))): Record<string, unknown> & { States: Record<string, Record<string, unknown>> } {
  const arns = Object.fromEntries(Object.entries(specOf(file).functions).map(([placeholder, fn]) => [placeholder, arnOf(fn)]));
  return JSON.parse(substitute(readFileSync(join(DIR, file), 'utf8'), arns));
}

describe('the state machines', () => {
  it('are the files the topology deploys, each found by listing the folder', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files.map((f) => `${DIR}/${f}`)).toEqual(Object.values(topology.stateMachines).map((s) => s.definitionFile).sort());
  });

  it.each(files)('%s is valid ASL as deployed, its Task resources checked as ARNs', (file) => {
    const definition = deployed(file);
    expect(JSON.stringify(definition)).not.toContain('${');
    const result = validateAsl(definition, { checkPaths: true, checkArn: true });
    expect(result.errors, result.errorsText()).toEqual([]);
    expect(result.isValid).toBe(true);
  });
});

describe('the validator', () => {
  const file = files[0]!;

  it('reports a Next that points at a missing state', () => {
    const definition = deployed(file);
    const state = Object.values(definition.States).find((s) => typeof s.Next === 'string')!;
    state.Next = 'NoSuchState';
    const result = validateAsl(definition, { checkPaths: true, checkArn: true });
    expect(result.isValid).toBe(false);
    expect(result.errors).toContainEqual(expect.objectContaining({ 'Error code': 'MISSING_TRANSITION_TARGET', Message: expect.stringContaining('NoSuchState') }));
  });

  it('reports a Task resource that a substitution left as no ARN', () => {
    const result = validateAsl(deployed(file, (fn) => resourceName('dev', fn)), { checkPaths: true, checkArn: true });
    expect(result.isValid).toBe(false);
    expect(result.errors).toContainEqual(expect.objectContaining({ 'Error code': 'SCHEMA_VALIDATION_FAILED', Message: expect.stringContaining('/Resource') }));
  });
});
