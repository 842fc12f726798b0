import { describe, expect, it } from 'vitest';
import { reusedFor } from './limits.js';

describe('reusedFor', () => {
  it('reads once per period, shares a read in flight, and does not keep a failure', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const read = reusedFor(
      5000,
      async () => {
        reads++;
        if (fail) throw new Error('store down');
        return reads;
      },
      () => now,
    );
    expect(await Promise.all([read(), read(), read()])).toEqual([1, 1, 1]);
    now = 4999;
    expect(await read()).toBe(1);
    now = 5000;
    expect(await read()).toBe(2);
    now = 10_000;
    fail = true;
    await expect(read()).rejects.toThrow('store down');
    fail = false;
    expect(await read()).toBe(4);
    expect(reads).toBe(4);
  });
});
