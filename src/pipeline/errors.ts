/**
 * Errors are retryable (back off: the message comes back after its visibility timeout) or permanent
 * (no retry can help: fail the record, group or job now, with the reason). Anything not known to be
 * permanent is retryable.
 */

/** An error no retry can fix: bad message, unknown job, an item the store refuses, invalid data. */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

// DynamoDB refuses these for what was sent (an item over 400 KB, a malformed key), never for load.
const PERMANENT_AWS = new Set(['ValidationException', 'SerializationException', 'ItemCollectionSizeLimitExceededException']);

/**
 * True when retrying cannot help.
 * @example isPermanent(new PermanentError('unknown job')) // true
 */
export function isPermanent(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof PermanentError || err instanceof SyntaxError) return true;
  if (err.name === 'ZodError' || err.name === '$ZodError') return true;
  // A job pinned to a profile version the registry does not hold (versions are immutable: it will not appear).
  if (err.name === 'UnknownVersionError') return true;
  return PERMANENT_AWS.has(err.name);
}

/** One line for logs, job errors and DLQ reasons: the error's class and message, bounded. */
export function errorReason(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}
