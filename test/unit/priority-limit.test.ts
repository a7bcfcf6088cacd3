// Under test: the LLM cap's order — the calls of the oldest batch first (so batches end one at a time), arrival
// order within a batch, a call outside any batch ordered as a batch begun when it was made, never more than the cap
// in flight, and a failing or throwing call releasing its slot.
import { describe, expect, it } from 'vitest';
import { priorityLimit, withBatchOrder } from '../../src/llm/priority-limit.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the priority limiter', () => {
  it("serves the oldest batch's calls first, in arrival order within a batch, never more than the cap at once", async () => {
    const limit = priorityLimit(2);
    const started: string[] = [];
    let running = 0;
    let most = 0;
    const call = (name: string) =>
      limit(async () => {
        started.push(name);
        most = Math.max(most, ++running);
        await sleep(10);
        running -= 1;
        return name;
      });
    // Batch X begins first but reads its documents for a while; batch Y's calls come first and take both slots.
    const x = withBatchOrder(async () => {
      await sleep(3);
      return Promise.all(['x1', 'x2', 'x3'].map(call));
    });
    const y = withBatchOrder(() => Promise.all(['y1', 'y2', 'y3'].map(call)));
    const outside = call('outside'); // made after both began, in no batch: served after both
    expect(await Promise.all([x, y, outside])).toEqual([['x1', 'x2', 'x3'], ['y1', 'y2', 'y3'], 'outside']);
    // X's calls, queued after y3, go before it: X ends before Y.
    expect(started).toEqual(['y1', 'y2', 'x1', 'x2', 'x3', 'y3', 'outside']);
    expect(most).toBe(2);
  });

  it('releases the slot of a call that rejects or throws, and passes the error on', async () => {
    const limit = priorityLimit(1);
    await expect(limit(async () => Promise.reject(new Error('provider down')))).rejects.toThrow('provider down');
    await expect(
      limit((() => {
        throw new Error('bad request');
      }) as () => Promise<never>),
    ).rejects.toThrow('bad request');
    expect(await limit(async () => 'still served')).toBe('still served');
  });
});
