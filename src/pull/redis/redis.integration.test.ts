import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linesToMap, pullTarget, runFetch, timed } from '../../../test/helpers/pull.js';
import {
  type RunningServer,
  refusingPort,
  startBlackHole,
  startRedis,
} from '../../../test/helpers/servers.js';
import { FetchError } from '../types.js';
import { redisFetcher } from './redis.js';

describe('redis fetcher against a private redis-server', () => {
  let redis: RunningServer;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis({ host: '127.0.0.1', port: redis.port });
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('reads INFO, SLOWLOG LEN and CONFIG; counters and keys grow with the commands made', async () => {
    const target = pullTarget('redis', [String(redis.port)]);
    const before = linesToMap(await runFetch(redisFetcher, target));
    expect(before.get('meta.version')).toMatch(/^\d+\.\d+\.\d+$/);
    expect(before.get('meta.role')).toBe('master');
    expect(before.get('meta.maxmemory')).toBe('0');
    expect(before.get('metrics.slowlog.gauge')).toBe('0');
    for (let i = 0; i < 10; i++) await client.set(`kurado:${i}`, String(i));
    await client.select(2);
    await client.set('other-db', '1');
    const after = linesToMap(await runFetch(redisFetcher, target));
    expect(Number(after.get('metrics.total_commands_processed.derive'))).toBeGreaterThanOrEqual(
      Number(before.get('metrics.total_commands_processed.derive')) + 12,
    );
    expect(after.get('metrics.keys.gauge')).toBe(String(Number(before.get('metrics.keys.gauge')) + 11));
    expect(Number(after.get('metrics.rdb_changes_since_last_save.gauge'))).toBeGreaterThanOrEqual(11);
    expect(Number(after.get('metrics.connected_clients.gauge'))).toBeGreaterThanOrEqual(2);
  });

  it('with a password set: the right one reads, a wrong one is a credentials error without the password', async () => {
    await client.config('SET', 'requirepass', 'kurado-test-pass');
    try {
      const ok = linesToMap(
        await runFetch(
          redisFetcher,
          pullTarget('redis', [String(redis.port)], { password: 'kurado-test-pass' }),
        ),
      );
      expect(ok.get('meta.role')).toBe('master');
      const bad = runFetch(
        redisFetcher,
        pullTarget('redis', [String(redis.port)], { password: 'wrong-secret' }),
      );
      await expect(bad).rejects.toThrow(
        `127.0.0.1:${redis.port} refused the credentials (settings user/password)`,
      );
      await expect(bad).rejects.not.toThrow('wrong-secret');
      await expect(runFetch(redisFetcher, pullTarget('redis', [String(redis.port)]))).rejects.toThrow(
        'refused the credentials',
      );
    } finally {
      await client.auth('kurado-test-pass');
      await client.config('SET', 'requirepass', '');
    }
  });

  it('an ACL user (settings user/password) with only INFO reads the metrics without the CONFIG meta', async () => {
    await client.call('ACL', 'SETUSER', 'kurado-info', 'on', '>info-pass', '+info');
    await client.call(
      'ACL',
      'SETUSER',
      'kurado-full',
      'on',
      '>full-pass',
      '+info',
      '+slowlog',
      '+config|get',
    );
    try {
      const limited = linesToMap(
        await runFetch(
          redisFetcher,
          pullTarget('redis', [String(redis.port)], { user: 'kurado-info', password: 'info-pass' }),
        ),
      );
      expect(limited.has('metrics.total_commands_processed.derive')).toBe(true);
      expect(limited.has('metrics.slowlog.gauge')).toBe(false);
      expect(limited.has('meta.maxmemory')).toBe(false);
      const full = linesToMap(
        await runFetch(
          redisFetcher,
          pullTarget('redis', [String(redis.port)], { user: 'kurado-full', password: 'full-pass' }),
        ),
      );
      expect(full.get('metrics.slowlog.gauge')).toBe('0');
      expect(full.get('meta.maxmemory-policy')).toBe('noeviction');
    } finally {
      await client.call('ACL', 'DELUSER', 'kurado-info', 'kurado-full');
    }
  });
});

describe('redis fetcher against bad targets', () => {
  it('refused and black-hole targets fail naming the address and cost at most the timeout', async () => {
    const port = await refusingPort();
    await expect(runFetch(redisFetcher, pullTarget('redis', [String(port)]))).rejects.toThrow(
      new FetchError(`connection refused by 127.0.0.1:${port} (nothing listens on that port?)`),
    );
    const hole = await startBlackHole();
    try {
      const { ms, error } = await timed(
        runFetch(redisFetcher, pullTarget('redis', [String(hole.port)]), 400),
      );
      expect(error).toEqual(new FetchError(`no answer from 127.0.0.1:${hole.port} within 400 ms`));
      expect(ms).toBeLessThan(3000);
    } finally {
      await hole.stop();
    }
  });
});
