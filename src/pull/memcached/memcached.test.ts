import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FetchError } from '../types.js';
import { memcachedReplyDone, parseMemcachedStats } from './memcached.js';

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('parseMemcachedStats', () => {
  it('reads counters, gauges and meta of recorded memcached 1.6.18 replies', () => {
    expect(parseMemcachedStats(fixture('stats.txt'), fixture('stats-settings.txt'), 'x')).toEqual([
      'metrics.cmd_get.derive\t2',
      'metrics.cmd_set.derive\t2',
      'metrics.get_hits.derive\t1',
      'metrics.get_misses.derive\t1',
      'metrics.evictions.derive\t0',
      'metrics.evicted_unfetched.derive\t0',
      'metrics.curr_connections.gauge\t1',
      'metrics.bytes.gauge\t123',
      'metrics.limit_maxbytes.gauge\t16777216',
      'metrics.curr_items.gauge\t2',
      'metrics.maxconns.gauge\t1024',
      'meta.version\t1.6.18',
      'meta.uptime\t2',
      'meta.maxconns\t1024',
    ]);
  });

  it('a server that refuses "stats settings" still gives the stats', () => {
    const lines = parseMemcachedStats(fixture('stats.txt'), fixture('unknown-command.txt'), 'x');
    expect(lines).toContain('metrics.cmd_get.derive\t2');
    expect(lines.some((l) => l.includes('maxconns'))).toBe(false);
  });

  it('knows when a reply is complete', () => {
    expect(memcachedReplyDone(fixture('stats.txt'))).toBe(true);
    expect(memcachedReplyDone(fixture('unknown-command.txt'))).toBe(true);
    expect(memcachedReplyDone('STAT pid 1\r\nSTAT upt')).toBe(false);
  });

  it('text that is not STAT lines is a garbage reply naming the server', () => {
    expect(() =>
      parseMemcachedStats('HTTP/1.1 400 Bad Request\r\n\r\n', undefined, '192.0.2.1:11211'),
    ).toThrow(
      new FetchError(
        '192.0.2.1:11211 answered "stats" with "HTTP/1.1 400 Bad Request", not memcached STAT lines',
      ),
    );
  });
});
