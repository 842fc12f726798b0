import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PrivateRrdcached, startRrdcached } from '../../../test/helpers/rrdcached.js';
import { createArguments } from './layout.js';
import {
  parseIllegalUpdateTime,
  parseRrdcachedAddress,
  RrdcachedClient,
  RrdcachedError,
} from './rrdcached.js';

const T0 = Math.floor(Date.now() / 1000 / 60) * 60 - 3600;

describe('parseRrdcachedAddress', () => {
  it('reads the address forms rrdtool accepts', () => {
    expect(parseRrdcachedAddress('unix:/run/rrdcached.sock')).toEqual({
      kind: 'unix',
      path: '/run/rrdcached.sock',
    });
    expect(parseRrdcachedAddress('/run/rrdcached.sock')).toEqual({
      kind: 'unix',
      path: '/run/rrdcached.sock',
    });
    expect(parseRrdcachedAddress('rrd1.example.com:4000')).toEqual({
      kind: 'tcp',
      host: 'rrd1.example.com',
      port: 4000,
    });
    expect(parseRrdcachedAddress('rrd1.example.com')).toEqual({
      kind: 'tcp',
      host: 'rrd1.example.com',
      port: 42217,
    });
    expect(parseRrdcachedAddress('[::1]:5000')).toEqual({ kind: 'tcp', host: '::1', port: 5000 });
    expect(parseRrdcachedAddress('[::1]')).toEqual({ kind: 'tcp', host: '::1', port: 42217 });
  });

  it('names the address it cannot read', () => {
    expect(() => parseRrdcachedAddress('unix:relative.sock')).toThrow(/"unix:relative.sock".*absolute/);
    expect(() => parseRrdcachedAddress('host:99999')).toThrow(/"host:99999": port 99999/);
    expect(() => parseRrdcachedAddress('a b:1')).toThrow(/"a b:1" is not/);
  });
});

describe('parseIllegalUpdateTime', () => {
  it('reads rrdcached and rrdtool refusals of an old timestamp, and nothing else', () => {
    expect(
      parseIllegalUpdateTime(
        'illegal attempt to update using time 1700000040.000000 when last update time is 1700000100.000000 (minimum one second step)',
      ),
    ).toEqual({ refused: 1700000040, last: 1700000100 });
    expect(
      parseIllegalUpdateTime(
        '/d/a.rrd: illegal attempt to update using time 5 when last update time is 7 (minimum one second step)',
      ),
    ).toEqual({ refused: 5, last: 7 });
    expect(parseIllegalUpdateTime('No such file: /d/a.rrd')).toBeUndefined();
  });
});

describe('RrdcachedClient against a private rrdcached', () => {
  let daemon: PrivateRrdcached;
  let client: RrdcachedClient;
  beforeEach(async () => {
    daemon = await startRrdcached();
    client = new RrdcachedClient(daemon.address);
  });
  afterEach(async () => {
    await client.close();
    await daemon.stop();
  });
  const file = (name: string) => path.join(daemon.baseDir, 'web01', 'base', name);

  it('creates without overwriting, updates, and reads back through FETCH, LAST and INFO', async () => {
    const target = file('load.gauge.rrd');
    expect(await client.create(target, createArguments('gauge', T0))).toBe('created');
    await client.update(target, [`${T0}:1.5`, `${T0 + 60}:U`, `${T0 + 120}:3`]);
    // -O: the second CREATE leaves the file and its queued values alone.
    expect(await client.create(target, createArguments('gauge', T0))).toBe('exists');
    expect(await client.last(target)).toBe(T0 + 120);
    const fetched = await client.fetch(target, 'AVERAGE', T0 - 60, T0 + 120);
    expect(fetched.step).toBe(60);
    expect(fetched.dsNames).toEqual(['n']);
    const byTime = new Map(fetched.rows.map((row) => [row.timestamp, row.values[0]]));
    expect([byTime.get(T0), byTime.get(T0 + 60), byTime.get(T0 + 120)]).toEqual([1.5, null, 3]);
    const info = await client.info(target);
    expect(info.step).toBe(60);
    expect(info['ds[n].type']).toBe('GAUGE');
  });

  it('maps BATCH errors to the commands that caused them', async () => {
    const target = file('a.gauge.rrd');
    const missing = file('missing.gauge.rrd');
    const errors = await client.batch([
      `CREATE ${target} -O ${createArguments('gauge', T0).join(' ')}`,
      `UPDATE ${target} ${T0}:1`,
      `UPDATE ${missing} ${T0}:1`,
      `UPDATE ${target} ${T0}:2`,
      'BOGUS',
    ]);
    expect(errors).toEqual([
      { index: 2, message: `No such file: ${missing}` },
      {
        index: 3,
        message: `illegal attempt to update using time ${T0}.000000 when last update time is ${T0}.000000 (minimum one second step)`,
      },
      { index: 4, message: 'Unknown command: BOGUS' },
    ]);
    const stats = await client.stats();
    // rrdcached counts refused UPDATEs as received too.
    expect(stats.UpdatesReceived).toBe(3);
    expect(typeof stats.QueueLength).toBe('number');
  });

  it('writes queued values to disk on FLUSHALL', async () => {
    const target = file('queued.gauge.rrd');
    await client.create(target, createArguments('gauge', T0));
    await client.update(target, [`${T0}:4`]);
    expect((await client.stats()).QueueLength).toBe(0);
    await client.flushAll();
    // FLUSHALL returns at once; the write threads finish shortly after.
    for (let i = 0; i < 100 && ((await client.stats()).UpdatesWritten ?? 0) < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await client.stats()).UpdatesWritten).toBe(1);
  });

  it('names the file and the address when a command is refused', async () => {
    const missing = file('missing.gauge.rrd');
    const failure = await client.update(missing, [`${T0}:1`]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RrdcachedError);
    expect((failure as RrdcachedError).kind).toBe('reply');
    expect((failure as Error).message).toBe(
      `rrdcached at ${daemon.address}: UPDATE ${missing} failed: No such file: ${missing}`,
    );
  });

  it('writes files whose path has spaces and backslashes', async () => {
    const odd = path.join(daemon.baseDir, 'dir with space', 'back\\slash.rrd');
    expect(await client.create(odd, createArguments('gauge', T0))).toBe('created');
    await client.update(odd, [`${T0}:7`]);
    await client.flush(odd);
    expect(await client.last(odd)).toBe(T0);
  });

  it('refuses a line rrdcached would drop the connection for, without sending it', async () => {
    const values = Array.from({ length: 400 }, (_, i) => `${T0 + i * 60}:1.2345678901234`);
    await expect(client.update(file('x.rrd'), values)).rejects.toThrow(
      /bytes; rrdcached drops lines of 8192/,
    );
    await expect(client.batch(['PING\nQUIT'])).rejects.toThrow(/would break the framing/);
    await client.ping();
  });

  it('reconnects after the daemon restarts', async () => {
    await client.ping();
    expect(client.connectionCount).toBe(1);
    await daemon.restart('SIGKILL');
    await client.ping();
    expect(client.connectionCount).toBe(2);
  });

  it('waits for a daemon that comes back within the bound', async () => {
    await client.ping();
    await daemon.kill('SIGKILL');
    const waiting = client.ping();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await daemon.start();
    await expect(waiting).resolves.toBeUndefined();
  });

  it('rejects a BATCH whose connection drops before the answer, naming the address', async () => {
    // Creating many files keeps the daemon busy long enough to be killed mid-batch.
    const commands = Array.from(
      { length: 3000 },
      (_, i) => `CREATE ${file(`f${i}.rrd`)} -O ${createArguments('gauge', T0).join(' ')}`,
    );
    const outcome = client.batch(commands).then(
      () => 'answered before the kill',
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    await daemon.kill('SIGKILL');
    const failure = await outcome;
    expect(failure).toBeInstanceOf(RrdcachedError);
    expect((failure as RrdcachedError).kind).toBe('connection-lost');
    expect((failure as Error).message).toContain(`connection to rrdcached at ${daemon.address} closed`);
    expect((failure as Error).message).toContain('BATCH (3000 commands)');
  });

  it('rejects with "unreachable" and the address when nothing listens', async () => {
    const nowhere = new RrdcachedClient(`unix:${path.join(daemon.baseDir, 'no.sock')}`, {
      unreachableAfterMs: 200,
    });
    await expect(nowhere.ping()).rejects.toThrow(
      `rrdcached at unix:${path.join(daemon.baseDir, 'no.sock')} unreachable: ENOENT`,
    );
    await nowhere.close();
  });
});

describe('RrdcachedClient over TCP', () => {
  it('speaks the same protocol on host:port', async () => {
    const daemon = await startRrdcached({ tcp: true });
    const client = new RrdcachedClient(daemon.address);
    try {
      const target = path.join(daemon.baseDir, 'h', 'x.rrd');
      expect(await client.create(target, createArguments('counter', T0))).toBe('created');
      expect(await client.batch([`UPDATE ${target} ${T0}:10 ${T0 + 60}:70`])).toEqual([]);
      const rows = await client.fetch(target, 'AVERAGE', T0, T0 + 60);
      expect(rows.rows.find((row) => row.timestamp === T0 + 60)?.values).toEqual([1]);
    } finally {
      await client.close();
      await daemon.stop();
    }
  });
});
