import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linesToMap, pullTarget, runFetch, timed } from '../../../test/helpers/pull.js';
import {
  type RunningServer,
  refusingPort,
  startBlackHole,
  startMemcached,
  startNginx,
} from '../../../test/helpers/servers.js';
import { FetchError } from '../types.js';
import { memcachedFetcher } from './memcached.js';

/** Sends raw memcached commands and waits for the server to close after `quit`. */
function talk(port: number, commands: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    socket.on('data', (d) => {
      reply += d.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
    socket.connect(port, '127.0.0.1', () => socket.write(`${commands}quit\r\n`));
  });
}

describe('memcached fetcher against a private memcached', () => {
  let memcached: RunningServer;
  beforeAll(async () => {
    memcached = await startMemcached();
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  it('reads stats and stats settings; counters grow with the requests made', async () => {
    const target = pullTarget('memcached', [String(memcached.port)]);
    const before = linesToMap(await runFetch(memcachedFetcher, target));
    expect(before.get('meta.version')).toMatch(/^1\.6\./);
    expect(before.get('metrics.limit_maxbytes.gauge')).toBe(String(16 * 1024 * 1024));
    expect(before.get('metrics.maxconns.gauge')).toBe('1024');
    expect(before.get('meta.maxconns')).toBe('1024');
    const reply = await talk(memcached.port, 'set k 0 0 5\r\nhello\r\nget k\r\nget missing\r\n');
    expect(reply).toContain('STORED');
    const after = linesToMap(await runFetch(memcachedFetcher, target));
    expect(Number(after.get('metrics.cmd_set.derive'))).toBe(
      Number(before.get('metrics.cmd_set.derive')) + 1,
    );
    expect(Number(after.get('metrics.cmd_get.derive'))).toBe(
      Number(before.get('metrics.cmd_get.derive')) + 2,
    );
    expect(Number(after.get('metrics.get_hits.derive'))).toBe(
      Number(before.get('metrics.get_hits.derive')) + 1,
    );
    expect(Number(after.get('metrics.get_misses.derive'))).toBe(
      Number(before.get('metrics.get_misses.derive')) + 1,
    );
    expect(Number(after.get('metrics.curr_items.gauge'))).toBe(1);
  });
});

describe('memcached fetcher against bad targets', () => {
  it('refused, black-hole and non-memcached targets fail naming the address', async () => {
    const port = await refusingPort();
    await expect(runFetch(memcachedFetcher, pullTarget('memcached', [String(port)]))).rejects.toThrow(
      `connection refused by 127.0.0.1:${port}`,
    );
    const hole = await startBlackHole();
    try {
      const { ms, error } = await timed(
        runFetch(memcachedFetcher, pullTarget('memcached', [String(hole.port)]), 400),
      );
      expect(error).toEqual(new FetchError(`no answer from 127.0.0.1:${hole.port} within 400 ms`));
      expect(ms).toBeLessThan(3000);
    } finally {
      await hole.stop();
    }
    // An HTTP server answers "stats" with 400 Bad Request and closes.
    const nginx = await startNginx();
    try {
      await expect(runFetch(memcachedFetcher, pullTarget('memcached', [String(nginx.port)]))).rejects.toThrow(
        `127.0.0.1:${nginx.port} closed the connection in the middle of a reply: "HTTP/1.1 400 Bad Request`,
      );
    } finally {
      await nginx.stop();
    }
  });
});
