/**
 * An in-flight cap that serves the oldest batch first. Locally, one handler process runs several SQS batches at once
 * (as several Lambda instances would) and their documents share the process's LLM cap. With plain FIFO the documents
 * of batches received together interleave, so the batches end together and the process waits, slots idle, while it
 * receives and reads the next ones (measured on bench:deals: half the cap idle for ~0.2 s of every second). Taking
 * the oldest batch's calls first ends batches one at a time, so new documents arrive while the others run.
 * A call made outside any batch is ordered as a batch begun when it was made.
 * Written here: p-limit has no priorities, and p-queue's would be a second limiter dependency for one comparison.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const order = new AsyncLocalStorage<number>();
let batches = 0;

/** Runs `fn` as the next batch: the calls it makes through a priority limiter go before those of later batches. */
export function withBatchOrder<T>(fn: () => T): T {
  return order.run(++batches, fn);
}

export type PriorityLimit = <T>(fn: () => Promise<T>) => Promise<T>;

export function priorityLimit(concurrency: number): PriorityLimit {
  let active = 0;
  // Kept sorted by batch, then arrival: a short list (the documents in hand), so an insertion is enough.
  const queue: Array<{ batch: number; start: () => void }> = [];
  const next = () => {
    if (active >= concurrency || !queue.length) return;
    active += 1;
    queue.shift()!.start();
  };
  return <T>(fn: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const entry = {
        batch: order.getStore() ?? batches + 0.5,
        start: () => {
          new Promise<T>((r) => r(fn()))
            .then(resolve, reject)
            .finally(() => {
              active -= 1;
              next();
            });
        },
      };
      let at = queue.length;
      while (at > 0 && queue[at - 1]!.batch > entry.batch) at -= 1;
      queue.splice(at, 0, entry);
      next();
    });
}
