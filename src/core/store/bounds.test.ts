import { describe, expect, it } from 'vitest';
import { MetaWriteCache, WarningBudget, type WarningRow } from './common.js';
import { META_TTL_SECONDS, WARNING_TTL_SECONDS } from './types.js';

const T = 1_800_000_000;

describe('in-memory caches of the store', () => {
  it('MetaWriteCache drops expired entries, so 300,000 names sent once do not stay in memory', () => {
    const cache = new MetaWriteCache(1_000_000);
    for (let host = 0; host < 300; host++) {
      const meta = Array.from({ length: 1000 }, (_, i) => ({
        host: `h${host}`,
        plugin: 'p',
        name: `n${i}`,
        value: 'v',
        timestamp: T,
      }));
      cache.remember(cache.select(meta, T).rows);
    }
    expect(cache.size).toBe(300_000);
    const { rows } = cache.select(
      [{ host: 'h0', plugin: 'p', name: 'n0', value: 'v', timestamp: T }],
      T + 60,
    );
    expect(rows).toEqual([]); // unchanged and fresh: nothing to write
    cache.select([], T + META_TTL_SECONDS + 120);
    expect(cache.size).toBe(0);
  });

  it('WarningBudget forgets hosts whose window passed', () => {
    const budget = new WarningBudget(5);
    const rows: WarningRow[] = Array.from({ length: 1000 }, (_, i) => ({
      host: `h${i}`,
      plugin: 'p',
      name: 'n',
      message: 'm',
      reportedAt: T,
      receivedAt: T,
    }));
    expect(budget.admit(rows, T, new Map())).toHaveLength(1000);
    expect(budget.size).toBe(1000);
    budget.admit([], T + 2 * WARNING_TTL_SECONDS, new Map());
    expect(budget.size).toBe(0);
  });
});
