// Under test: how an error is classed, which decides what happens to its message — permanent (fail the record,
// group or job now, with its reason; the message to its DLQ within one receive) or retryable (back off and try
// again) — and the one-line reason that goes to logs, job errors and DLQ messages.
import { DynamoDBServiceException, ItemCollectionSizeLimitExceededException, ProvisionedThroughputExceededException, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PermanentError, errorReason, isPermanent } from '../../src/pipeline/errors.ts';

const meta = { $metadata: {} };
const thrownBy = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
};

describe('error classes', () => {
  it('are permanent for what no retry can change: our own, a body that is not JSON, a message of the wrong shape, an item DynamoDB refuses', () => {
    expect(isPermanent(new PermanentError('unknown job j-1'))).toBe(true);
    expect(isPermanent(thrownBy(() => JSON.parse('this is not JSON')))).toBe(true);
    expect(isPermanent(z.object({ jobId: z.string() }).safeParse({ hello: 'world' }).error)).toBe(true);
    // An item over 400 KB or a malformed key is refused as a ValidationException, never for load.
    expect(isPermanent(new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', message: 'Item size has exceeded the maximum allowed size', ...meta }))).toBe(true);
    expect(isPermanent(new ItemCollectionSizeLimitExceededException({ message: 'collection too large', ...meta }))).toBe(true);
  });

  it('are retryable for load, the network and anything not known to be permanent', () => {
    expect(isPermanent(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta }))).toBe(false);
    expect(isPermanent(new ThrottlingException({ message: 'slow down', ...meta }))).toBe(false);
    expect(isPermanent(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(false);
    expect(isPermanent(new Error('anything else'))).toBe(false);
    expect(isPermanent('a thrown string')).toBe(false);
  });

  it('give one bounded line: the class and the message, at most 500 characters', () => {
    expect(errorReason(new PermanentError('unknown job j-1'))).toBe('PermanentError: unknown job j-1');
    expect(errorReason('plain')).toBe('plain');
    const long = errorReason(new Error('x'.repeat(2_000)));
    expect(long).toHaveLength(500);
    expect(long.startsWith('Error: xxx')).toBe(true);
    expect(long.endsWith('...')).toBe(true);
  });
});
