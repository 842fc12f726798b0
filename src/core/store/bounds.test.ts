import { describe, expect, it } from 'vitest';
import { boundedRows, boundsQuestions, MetaWriteCache } from './common.js';
import { META_TTL_SECONDS } from './types.js';

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

  it("counts what the table holds, not what this process wrote: another receiver's names and warnings count", () => {
    const limits = { maxMetaPerHost: 3, maxWarningsPerHost: 2 };
    const cache = new MetaWriteCache(limits.maxMetaPerHost);
    const meta = (name: string) => ({ host: 'h1', plugin: 'p', name, value: 'v', timestamp: T });
    const warning = (host: string, name: string, plugin = 'p') => ({
      host,
      plugin,
      name,
      message: 'm',
      timestamp: T,
    });
    const batch = {
      meta: [meta('a'), meta('d')],
      warnings: [warning('h1', 'x'), warning('h1', 'y'), warning('h2', 'x'), warning('h1', 'z', 'kurado')],
      received: [],
      receivedAt: T,
    };
    const questions = boundsQuestions(batch, cache);
    expect(questions).toEqual({ metaHosts: ['h1'], warningHosts: ['h1', 'h2'], hosts: ['h1', 'h2'] });
    // Another process wrote a, b, c for h1 (live) and one warning of h1 is shown.
    const live = ['a', 'b', 'c'].map((name) => ({
      host: 'h1',
      plugin: 'p',
      name,
      value: 'v',
      expires_at: String(T + META_TTL_SECONDS - 60),
    }));
    const rows = boundedRows(
      batch,
      cache,
      questions,
      { liveMeta: live, warningCounts: new Map([['h1', 1]]) },
      limits,
    );
    // a is known and fresh (nothing to write), d is a 4th name: refused.
    expect(rows.meta).toEqual([]);
    expect(rows.warnings.map((w) => `${w.host} ${w.plugin}.${w.name}`)).toEqual([
      'h1 kurado.meta-limit',
      'h1 kurado.warnings-limit',
      'h1 kurado.z',
      'h1 p.x',
      'h2 p.x',
    ]);
    expect(rows.warnings.find((w) => w.name === 'warnings-limit')?.message).toMatch(
      /^1 warning\(s\) refused \(first: p\.y\)/,
    );
    // Now that the cache knows h1's names, a batch of known names asks the table nothing.
    expect(boundsQuestions({ ...batch, warnings: [] }, cache).metaHosts).toEqual(['h1']);
    expect(boundsQuestions({ ...batch, meta: [meta('a'), meta('b')], warnings: [] }, cache).hosts).toEqual(
      [],
    );
  });

  it('a host re-read from the table forgets names it no longer holds (removed or expired elsewhere)', () => {
    const cache = new MetaWriteCache(2);
    const value = (name: string) => ({ host: 'h1', plugin: 'p', name, value: 'v', timestamp: T });
    cache.remember(cache.select([value('a'), value('b')], T).rows);
    expect(cache.select([value('c')], T).refused.get('h1')).toEqual(['p.c']);
    cache.load(['h1'], []);
    expect(cache.select([value('c')], T).rows.map((r) => r.name)).toEqual(['c']);
  });
});
