import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/core/store/index.js';
import type { MetaStore } from '../../src/core/store/types.js';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { minuteMessage, minutesAgo, missingMinutes, publishMqtt } from '../helpers/fault-stream.js';
import { type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { eventually, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const METRICS = 2500;
const MINUTES = 20;
/** Below the default message bounds, above the ones this receive is given. */
const MAX_BYTES = 3_000_000;
const MAX_LINES = 60_000;

/** `metrics` new gauges × `minutes` minutes from `start`: value = metric + minute. */
function bigPayload(metrics: number, minutes: number, start: number, plugin = 'proc'): string {
  const lines: string[] = [];
  for (let minute = 0; minute < minutes; minute++) {
    for (let metric = 0; metric < metrics; metric++) {
      lines.push(`${plugin}.metrics.p${metric}.gauge\t${metric + minute}\t${start + minute * 60}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * One big message must not stall the fleet: a plugin's 50,000-line message (2,500 new metrics ×
 * 20 minutes) to a private Mosquitto → `kurado receive` → private rrdcached. While its files are
 * being created, another host's next minute is stored; the big message is stored once, with no
 * reconnect and no redelivery. Messages above the byte and line bounds are refused with a warning
 * on their host and do not disturb the other host. (Event-loop delay and lag in seconds are
 * measured by `npm run bench -- big-message`, not here.)
 */
describe('receive: one big message does not stall the fleet', () => {
  let root: string;
  let broker: PrivateMosquitto;
  let rrdcached: PrivateRrdcached;
  let reader: RrdReader;
  let receive: RunningKurado;
  let store: MetaStore;
  const small = 'small.bigmsg.example';
  const start = minutesAgo(60);

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'kurado-bigmsg-test-'));
    [broker, rrdcached] = await Promise.all([startMosquitto(), startRrdcached()]);
    reader = new RrdReader(rrdcached.address);
    const storeUrl = `sqlite:${path.join(root, 'kurado.db')}`;
    receive = spawnKurado([
      'receive',
      ...['--mqtt', broker.url, '--client-id', `bigmsg-test-${process.pid}`, '--mqtt-connections', '4'],
      ...['--rrdcached', rrdcached.address, '--data-dir', rrdcached.baseDir, '--store', storeUrl],
      ...['--max-message-bytes', String(MAX_BYTES), '--max-message-lines', String(MAX_LINES)],
    ]);
    await receive.waitForLog(/subscribed to agent updates/, 60_000);
    store = await openStore(storeUrl);
    await publishMqtt(broker.url, [minuteMessage(small, start, 0)]);
    await eventually(
      async () => (await missingMinutes(reader, rrdcached.baseDir, small, start, 1)).length === 0,
      () => `the small host's first minute is not stored; receive:\n${receive.logs().slice(-2000)}`,
      30_000,
    );
  }, 120_000);

  afterAll(async () => {
    const code = await receive?.stop('SIGTERM');
    await store?.close();
    await reader?.close();
    await Promise.all([rrdcached?.stop(), broker?.stop()]);
    rmSync(root, { recursive: true, force: true });
    expect(code).toBe(0);
  }, 60_000);

  it("stores another host's minute while the big message's files are created, and the big message once", async () => {
    const big = 'big.bigmsg.example';
    const payload = bigPayload(METRICS, MINUTES, start);
    expect(payload.length).toBeLessThan(MAX_BYTES);
    await publishMqtt(broker.url, [{ host: big, payload }]);
    // The receiver has parsed the message and is creating its files: now the other host publishes.
    const bigDir = path.join(rrdcached.baseDir, big, 'proc');
    await eventually(
      () => existsSync(bigDir),
      () => `no file of ${big} created yet`,
      60_000,
      20,
    );
    const lastFile = path.join(bigDir, `p${METRICS - 1}.gauge.rrd`);
    const lastTimestamp = start + (MINUTES - 1) * 60;
    const bigStored = async () =>
      (await reader.fetch(lastFile, lastTimestamp - 60, lastTimestamp).catch(() => new Map())).get(
        lastTimestamp,
      ) ===
      METRICS - 1 + MINUTES - 1;
    await publishMqtt(broker.url, [minuteMessage(small, start, 1)]);
    await eventually(
      async () => (await missingMinutes(reader, rrdcached.baseDir, small, start, 2)).length === 0,
      () => `the small host's second minute is not stored; receive:\n${receive.logs().slice(-2000)}`,
      30_000,
      20,
    );
    // Stored beside the big message, not after it.
    expect(await bigStored()).toBe(false);
    await eventually(
      bigStored,
      () => `the big message is not stored; receive:\n${receive.logs().slice(-3000)}`,
      120_000,
    );

    // Once: every file has each of its minutes, the broker delivered it once, no connection dropped.
    const first = await reader.fetch(path.join(bigDir, 'p0.gauge.rrd'), start - 60, lastTimestamp);
    expect(
      [...first]
        .filter(([timestamp]) => timestamp >= start && timestamp <= lastTimestamp)
        .map(([, value]) => value),
    ).toEqual(Array.from({ length: MINUTES }, (_, minute) => minute));
    expect(broker.output()).not.toMatch(
      /Sending PUBLISH to \S+ \(d1, q1, r0, m\d+, 'kurado\/update\/big\.bigmsg/,
    );
    expect(receive.logs()).not.toMatch(
      /reconnecting to MQTT broker|subscribed again|Keepalive|keepalive timeout/i,
    );
    expect(broker.output()).not.toMatch(/bigmsg-test-\S+ has exceeded timeout/);
  }, 240_000);

  it('refuses a message above --max-message-bytes and cuts one above --max-message-lines, with a warning on the host', async () => {
    const huge = 'huge.bigmsg.example';
    const long = 'long.bigmsg.example';
    // The host of the oversized message is known (it sent a good minute before).
    await publishMqtt(broker.url, [minuteMessage(huge, start, 0)]);
    await eventually(
      async () => (await missingMinutes(reader, rrdcached.baseDir, huge, start, 1)).length === 0,
      () => `${huge}'s first minute is not stored`,
      30_000,
    );
    const oversized = bigPayload(3000, 25, start, 'huge');
    expect(oversized.length).toBeGreaterThan(MAX_BYTES);
    const tooManyLines = bigPayload(1000, 61, start, 'long');
    expect(tooManyLines.length).toBeLessThan(MAX_BYTES);
    await publishMqtt(broker.url, [
      { host: huge, payload: oversized },
      { host: long, payload: tooManyLines },
      minuteMessage(small, start, 2),
    ]);
    const now = () => Math.floor(Date.now() / 1000);
    await eventually(
      async () =>
        (await store.warnings(huge, now())).some((warning) => warning.name === 'message-limit') &&
        (await store.warnings(long, now())).some((warning) => warning.name === 'message-limit'),
      () => `no message-limit warnings; receive:\n${receive.logs().slice(-3000)}`,
      120_000,
    );
    const [hugeWarning] = (await store.warnings(huge, now())).filter(
      (warning) => warning.name === 'message-limit',
    );
    expect(hugeWarning?.message).toMatch(
      new RegExp(`message of ${Buffer.byteLength(oversized)} bytes refused: larger than ${MAX_BYTES} bytes`),
    );
    expect(hugeWarning?.message).toContain('limits.max_message_bytes');
    const [longWarning] = (await store.warnings(long, now())).filter(
      (warning) => warning.name === 'message-limit',
    );
    expect(longWarning?.message).toMatch(/lines from line 60001 on refused, more than 60000 lines/);
    // Nothing of the oversized message was written; the cut one kept its first 60,000 lines.
    expect(existsSync(path.join(rrdcached.baseDir, huge, 'huge'))).toBe(false);
    const lastKept = start + 59 * 60;
    const rows = await reader.fetch(
      path.join(rrdcached.baseDir, long, 'long', 'p999.gauge.rrd'),
      lastKept - 60,
      lastKept + 60,
    );
    expect(rows.get(lastKept)).toBe(999 + 59);
    expect(rows.get(lastKept + 60) ?? null).toBeNull();
    // The other host is not affected.
    await eventually(
      async () => (await missingMinutes(reader, rrdcached.baseDir, small, start, 3)).length === 0,
      () => `the small host's third minute is not stored`,
      30_000,
    );
  }, 240_000);
});
