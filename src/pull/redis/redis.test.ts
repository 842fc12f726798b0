import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FetchError } from '../types.js';
import { parseRedis, type RedisReplies } from './redis.js';

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8');

function recorded(): RedisReplies {
  const extra = JSON.parse(fixture('slowlog-config.json')) as Omit<RedisReplies, 'info'>;
  return { info: fixture('info.txt'), ...extra };
}

describe('parseRedis', () => {
  it('reads counters, gauges, keys over all databases and meta of a recorded redis 7.0 INFO', () => {
    expect(parseRedis(recorded(), 'x')).toEqual([
      'metrics.total_commands_processed.derive\t25',
      'metrics.total_connections_received.derive\t2',
      'metrics.evicted_keys.derive\t0',
      'metrics.connected_clients.gauge\t1',
      'metrics.connected_slaves.gauge\t0',
      'metrics.used_memory.gauge\t1017448',
      'metrics.rdb_changes_since_last_save.gauge\t21',
      'metrics.mem_fragmentation_ratio.gauge\t13.88',
      'metrics.pubsub_channels.gauge\t0',
      // db0 holds 20 keys, db3 one.
      'metrics.keys.gauge\t21',
      'metrics.slowlog.gauge\t0',
      'meta.version\t7.0.15',
      'meta.uptime\t0',
      'meta.role\tmaster',
      'meta.maxmemory\t0',
      'meta.maxclients\t10000',
      'meta.rdbcompression\tyes',
      'meta.appendonly\tno',
      'meta.maxmemory-policy\tnoeviction',
      'meta.appendfsync\teverysec',
      'meta.save\t',
      'meta.slowlog-max-len\t128',
    ]);
  });

  it('without CONFIG and SLOWLOG (managed servers) the INFO metrics remain', () => {
    const lines = parseRedis({ info: fixture('info.txt'), slowlogLen: undefined, config: {} }, 'x');
    expect(lines).toContain('metrics.total_commands_processed.derive\t25');
    expect(lines.some((l) => l.startsWith('metrics.slowlog') || l.startsWith('meta.maxmemory'))).toBe(false);
  });

  it('redis 2.x names the unsaved changes changes_since_last_save', () => {
    const info = 'redis_version:2.4.10\r\nchanges_since_last_save:7\r\nvm_enabled:0\r\n';
    expect(parseRedis({ info, slowlogLen: 0, config: {} }, 'x')).toEqual([
      'metrics.changes_since_last_save.gauge\t7',
      'metrics.keys.gauge\t0',
      'metrics.slowlog.gauge\t0',
      'meta.version\t2.4.10',
      'meta.vm_enabled\t0',
    ]);
  });

  it('an INFO without redis_version is a garbage reply', () => {
    expect(() =>
      parseRedis({ info: '-ERR nope', slowlogLen: undefined, config: {} }, '192.0.2.1:6379'),
    ).toThrow(new FetchError('192.0.2.1:6379 answered INFO without redis_version: "-ERR nope"'));
  });
});
