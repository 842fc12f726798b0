import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { minuteMessage, minutesAgo, missingMinutes, publishMqtt } from '../helpers/fault-stream.js';
import { type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { eventually, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const HOSTS = ['sigterm-a.example.com', 'sigterm-b.example.com'];
const MINUTES = 6;
const STOP_TIMEOUT_SECONDS = 5;

/**
 * SIGTERM reaches `receive` while rrdcached is unreachable: it must exit within its
 * `--stop-timeout` without acknowledging what it could not store, so the broker keeps it, and
 * the next `receive` (same client id, rrdcached back) stores all of it.
 */
describe('fault: SIGTERM while rrdcached is unreachable', () => {
  let root: string;
  let broker: PrivateMosquitto;
  let rrdcached: PrivateRrdcached;
  let reader: RrdReader;
  const running: RunningKurado[] = [];

  const receive = () => {
    const child = spawnKurado([
      'receive',
      ...['--mqtt', broker.url, '--client-id', `faults-sigterm-${process.pid}`, '--mqtt-connections', '4'],
      ...['--rrdcached', rrdcached.address, '--data-dir', rrdcached.baseDir],
      ...['--store', `sqlite:${path.join(root, 'kurado.db')}`],
      ...['--stop-timeout', String(STOP_TIMEOUT_SECONDS)],
    ]);
    running.push(child);
    return child;
  };

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'kurado-sigterm-'));
    [broker, rrdcached] = await Promise.all([startMosquitto(), startRrdcached()]);
    reader = new RrdReader(rrdcached.address);
  }, 60_000);

  afterAll(async () => {
    for (const child of running) if (child.child.exitCode === null) await child.stop('SIGKILL');
    await reader?.close();
    await Promise.all([rrdcached?.stop(), broker?.stop()]);
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('exits within --stop-timeout, acknowledges nothing unstored, and the next receive stores it', async () => {
    const start = minutesAgo(MINUTES + 30);
    const first = receive();
    await first.waitForLog(/subscribed to agent updates/, 60_000);
    await publishMqtt(
      broker.url,
      HOSTS.map((host) => minuteMessage(host, start, 0)),
    );
    await eventually(
      async () => (await missingMinutes(reader, rrdcached.baseDir, HOSTS[0]!, start, 1)).length === 0,
      () => `minute 0 not stored; logs:\n${first.logs().slice(-3000)}`,
      20_000,
    );

    // rrdcached goes away; the rest of the stream arrives and cannot be stored.
    await rrdcached.kill('SIGTERM');
    const rest = [];
    for (let minute = 1; minute < MINUTES; minute++) {
      for (const host of HOSTS) rest.push(minuteMessage(host, start, minute));
    }
    await publishMqtt(broker.url, rest);
    await first.waitForLog(/cannot store batch/, 30_000);

    const signalled = Date.now();
    first.child.kill('SIGTERM');
    const code = await first.exited();
    const seconds = (Date.now() - signalled) / 1000;
    // Within the stop timeout (plus the time node needs to exit), whatever the exit code says.
    expect(seconds, first.logs().slice(-3000)).toBeLessThan(STOP_TIMEOUT_SECONDS + 2);
    expect(first.logs()).toMatch(/stop timeout|giving up on batch at shutdown/);
    expect(code === 0 || code === 1).toBe(true);

    // rrdcached is back; a new receive with the same client id gets the broker's copies.
    await rrdcached.start();
    const second = receive();
    let missing: Record<string, number[]> = {};
    await eventually(
      async () => {
        missing = {};
        for (const host of HOSTS) {
          const list = await missingMinutes(reader, rrdcached.baseDir, host, start, MINUTES);
          if (list.length > 0) missing[host] = list;
        }
        return Object.keys(missing).length === 0;
      },
      () => `missing minutes ${JSON.stringify(missing)}; logs:\n${second.logs().slice(-3000)}`,
      30_000,
    );
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 120_000);
});
