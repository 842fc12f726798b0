import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicForHost } from '../../src/core/protocol/host.js';
import { openStore } from '../../src/core/store/index.js';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { eventually, listRrdFiles, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
const seed = readFileSync(
  new URL('../../src/core/protocol/fixtures/seed-agent-output.tsv', import.meta.url),
  'utf8',
);
const SEED_TIME = 1404871027;

/** The upstream agent sample (src/core/protocol/fixtures) moved to `timestamp`. */
function seedAt(timestamp: number): string {
  return seed.replaceAll(String(SEED_TIME), String(timestamp));
}

/** A minute-aligned start an hour ago, so every value of a test lies in the past. */
function minuteAgo(minutes: number): number {
  const now = Math.floor(Date.now() / 1000);
  return now - (now % 60) - minutes * 60;
}

interface Setup {
  rrdcached: PrivateRrdcached;
  storeUrl: string;
  reader: RrdReader;
}

async function setUp(): Promise<Setup> {
  const rrdcached = await startRrdcached();
  const storeUrl = `sqlite:${path.join(mkdtempSync(path.join(tmpdir(), 'kurado-store-')), 'kurado.db')}`;
  return { rrdcached, storeUrl, reader: new RrdReader(rrdcached.address) };
}

function receive(setup: Setup, broker: string[], extra: string[] = []): RunningKurado {
  return spawnKurado([
    'receive',
    ...broker,
    '--rrdcached',
    setup.rrdcached.address,
    '--data-dir',
    setup.rrdcached.baseDir,
    '--store',
    setup.storeUrl,
    ...extra,
  ]);
}

/** Publish each payload with QoS 1 to `kurado/update/<host>`; resolves when the broker acked all. */
async function publishMqtt(url: string, messages: { host: string; payload: string }[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `test-pub-${randomUUID()}` });
  await Promise.all(
    messages.map(({ host, payload }) => client.publishAsync(topicForHost(host), payload, { qos: 1 })),
  );
  await client.endAsync();
}

async function publishAmqp(messages: { host: string; payload: string }[]): Promise<void> {
  const connection = await amqp.connect(AMQP_URL).catch((error: Error) => {
    throw new Error(`RabbitMQ at ${AMQP_URL} unreachable: ${error.message}`);
  });
  const channel = await connection.createConfirmChannel();
  for (const { host, payload } of messages) {
    // What RabbitMQ's MQTT plugin does with the agent's topic: `/` becomes `.`.
    channel.publish('amq.topic', topicForHost(host).replaceAll('/', '.'), Buffer.from(payload), {
      persistent: true,
    });
  }
  await channel.waitForConfirms();
  await connection.close();
}

/**
 * Minutes `first`…`first + count - 1` of two gauges per host (value = minute index, counted from
 * `start`), one message per host+minute.
 */
function gaugeMessages(
  hosts: string[],
  start: number,
  count: number,
  first = 0,
): { host: string; payload: string }[] {
  const messages: { host: string; payload: string }[] = [];
  for (let minute = first; minute < first + count; minute++) {
    for (const host of hosts) {
      const timestamp = start + minute * 60;
      messages.push({
        host,
        payload: `test.metrics.minute.gauge\t${minute}\t${timestamp}\ntest.metrics.double.gauge\t${minute * 2}\t${timestamp}\n`,
      });
    }
  }
  return messages;
}

/** Waits until `host`'s minute `minute` (value = minute) is readable through rrdcached. */
async function waitForMinute(
  setup: Setup,
  host: string,
  start: number,
  minute: number,
  describe: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  const file = path.join(setup.rrdcached.baseDir, host, 'test', 'minute.gauge.rrd');
  await eventually(
    async () =>
      (await setup.reader.fetch(file, start, start + minute * 60)).get(start + minute * 60) === minute,
    describe,
    timeoutMs,
  );
}

/** Every minute after the first is readable through rrdcached with the value that was sent. */
async function expectEveryMinute(setup: Setup, hosts: string[], start: number, count: number): Promise<void> {
  const missing: string[] = [];
  for (const host of hosts) {
    const file = path.join(setup.rrdcached.baseDir, host, 'test', 'minute.gauge.rrd');
    const rows = await setup.reader.fetch(file, start, start + (count - 1) * 60);
    for (let minute = 1; minute < count; minute++) {
      const value = rows.get(start + minute * 60);
      if (value !== minute) missing.push(`${host} minute ${minute}: ${value}`);
    }
  }
  expect(missing.slice(0, 10), `${missing.length} values missing`).toEqual([]);
}

describe('kurado receive through Mosquitto (MQTT)', { timeout: 300_000 }, () => {
  let setup: Setup;
  let mosquitto: PrivateMosquitto;
  // One stable client id, as in a deployment: a persistent session of a receiver that never comes
  // back stays a member of the shared group, and the broker keeps queueing its share for it.
  const clientId = `t-${randomUUID()}`;

  beforeAll(async () => {
    setup = await setUp();
    mosquitto = await startMosquitto();
  });
  afterAll(async () => {
    await setup.reader.close();
    await setup.rrdcached.stop();
    await mosquitto.stop();
  });

  it('stores the upstream agent sample as 35 RRD files with the right RRAs and values, meta and warnings', async () => {
    const receiver = receive(setup, ['--mqtt', mosquitto.url, '--client-id', clientId]);
    try {
      await receiver.waitForLog(/subscribed to agent updates/);
      const start = minuteAgo(30);
      await publishMqtt(mosquitto.url, [
        { host: '10.9.8.7', payload: seedAt(start) },
        { host: '10.9.8.7', payload: seedAt(start + 60) },
      ]);
      const base = path.join(setup.rrdcached.baseDir, '10.9.8.7', 'base');
      await eventually(
        () => listRrdFiles(base).length === 35,
        () => `${listRrdFiles(base).length} files in ${base}`,
      );
      const memory = await setup.reader.fetch(path.join(base, 'memory-total.gauge.rrd'), start, start + 60);
      expect(memory.get(start + 60)).toBe(480718848);
      const info = await setup.reader.info(path.join(base, 'cpu-user.derive.rrd'));
      expect(info.get('step')).toBe('60');
      expect(info.get('ds[n].type')).toBe('DERIVE');
      expect(info.get('ds[n].minimal_heartbeat')).toBe('120');
      const rras = [...info.keys()].filter((key) => /^rra\[\d+\]\.cf$/.test(key));
      expect(rras).toHaveLength(12);
      expect(new Set(rras.map((key) => info.get(key)))).toEqual(new Set(['AVERAGE', 'MIN', 'MAX']));
      expect(new Set(rras.map((key) => info.get(key.replace('.cf', '.rows'))))).toEqual(
        new Set(['2880', '960', '1100']),
      );
      expect(listRrdFiles(base).some((file) => file.includes('device'))).toBe(false);

      const store = await openStore(setup.storeUrl);
      try {
        const now = Math.floor(Date.now() / 1000);
        await eventually(
          async () => (await store.warnings('10.9.8.7', now)).length > 0,
          () => 'no warning about the rejected .device lines',
        );
        const meta = await store.meta('10.9.8.7', now, 'base');
        expect(meta.find((entry) => entry.name === 'version')?.value).toMatch(/^Linux version 2\.6\.32/);
        const warnings = await store.warnings('10.9.8.7', now);
        expect(warnings[0]?.message).toMatch(/3 line\(s\) rejected.*unknown data-source type "device"/);
        const host = await store.findHost('10.9.8.7');
        expect(host?.origin).toBe('auto');
      } finally {
        await store.close();
      }
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });

  it('loses nothing when receive is killed -9 in the middle of 10,000 messages', async () => {
    const hosts = Array.from({ length: 500 }, (_, index) => `kill9-${index}.example.net`);
    const start = minuteAgo(40);
    const messages = gaugeMessages(hosts, start, 20);
    let receiver = receive(setup, ['--mqtt', mosquitto.url, '--client-id', clientId]);
    await receiver.waitForLog(/subscribed to agent updates/);
    const publishing = publishMqtt(mosquitto.url, messages);
    await eventually(
      () => listRrdFiles(setup.rrdcached.baseDir).filter((file) => file.startsWith('kill9-')).length >= 200,
      () => 'receive did not start storing',
    );
    await receiver.stop('SIGKILL');
    await publishing;
    receiver = receive(setup, ['--mqtt', mosquitto.url, '--client-id', clientId]);
    try {
      await waitForMinute(setup, hosts.at(-1)!, start, 19, () => 'the last message never arrived', 120_000);
      await expectEveryMinute(setup, hosts, start, 20);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });

  it('takes a burst of 5,000 messages at once through a stock-configured Mosquitto without loss', async () => {
    const hosts = Array.from({ length: 5000 }, (_, index) => `burst-${index}.example.net`);
    const start = minuteAgo(20);
    const receiver = receive(setup, ['--mqtt', mosquitto.url, '--client-id', clientId]);
    try {
      await receiver.waitForLog(/subscribed to agent updates/);
      await publishMqtt(mosquitto.url, gaugeMessages(hosts, start, 1));
      await publishMqtt(mosquitto.url, gaugeMessages(hosts, start, 1, 1));
      await waitForMinute(setup, hosts.at(-1)!, start, 1, () => 'burst not stored', 120_000);
      const stored = listRrdFiles(setup.rrdcached.baseDir).filter((file) => file.startsWith('burst-'));
      expect(stored.length).toBe(10_000);
      expect(mosquitto.output()).not.toMatch(/Outgoing messages are being dropped/);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });

  it('loses nothing when rrdcached crashes and restarts in the middle of a stream', async () => {
    const hosts = Array.from({ length: 50 }, (_, index) => `crash-${index}.example.net`);
    const start = minuteAgo(60);
    const receiver = receive(setup, ['--mqtt', mosquitto.url, '--client-id', clientId]);
    try {
      await receiver.waitForLog(/subscribed to agent updates/);
      await publishMqtt(mosquitto.url, gaugeMessages(hosts, start, 10));
      await eventually(
        () =>
          listRrdFiles(setup.rrdcached.baseDir).filter((file) => file.startsWith('crash-')).length === 100,
        () => 'first half not stored',
      );
      await setup.rrdcached.kill('SIGKILL');
      const more = gaugeMessages(hosts, start, 10, 10);
      const publishing = publishMqtt(mosquitto.url, more);
      await receiver.waitForLog(/cannot store batch/);
      await setup.rrdcached.start();
      await publishing;
      // The reader's rrdtool lost its daemon connection with the crash: read through a new one.
      await setup.reader.close();
      setup.reader = new RrdReader(setup.rrdcached.address);
      await waitForMinute(
        setup,
        hosts.at(-1)!,
        start,
        19,
        () =>
          `stream did not resume after rrdcached came back; receive logs:\n${receiver.logs().slice(-3000)}`,
      );
      await expectEveryMinute(setup, hosts, start, 20);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });
  it("hands a decommissioned receiver's share back to the group after --forget-sessions", async () => {
    const gone = `gone-${randomUUID()}`;
    const retired = receive(setup, ['--mqtt', mosquitto.url, '--client-id', gone, '--mqtt-connections', '8']);
    await retired.waitForLog(/subscribed to agent updates/);
    expect(await retired.stop()).toBe(0);
    const forget = spawnKurado([
      'receive',
      '--mqtt',
      mosquitto.url,
      '--client-id',
      gone,
      '--mqtt-connections',
      '8',
      '--forget-sessions',
    ]);
    expect(await forget.exited()).toBe(0);
    expect(forget.logs()).toMatch(/ended 8 persistent session/);

    const hosts = Array.from({ length: 64 }, (_, index) => `share-${index}.example.net`);
    const start = minuteAgo(20);
    const receiver = receive(setup, ['--mqtt', mosquitto.url, '--client-id', clientId]);
    try {
      await receiver.waitForLog(/subscribed to agent updates/);
      await publishMqtt(mosquitto.url, gaugeMessages(hosts, start, 2));
      await eventually(
        () =>
          listRrdFiles(setup.rrdcached.baseDir).filter((file) => file.startsWith('share-')).length === 128,
        () =>
          `${listRrdFiles(setup.rrdcached.baseDir).filter((file) => file.startsWith('share-')).length} of 128 files`,
      );
      await expectEveryMinute(setup, hosts, start, 2);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });
});

describe('kurado receive through RabbitMQ (AMQP)', { timeout: 300_000 }, () => {
  let setup: Setup;
  const queue = `kurado.test.${randomUUID()}`;

  beforeAll(async () => {
    setup = await setUp();
  });
  afterAll(async () => {
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await connection.close();
    await setup.reader.close();
    await setup.rrdcached.stop();
  });

  it('stores the sample sent through amq.topic, hostnames with dots included', async () => {
    const receiver = receive(setup, ['--amqp', AMQP_URL, '--amqp-queue', queue]);
    try {
      await receiver.waitForLog(/consuming agent updates/);
      const start = minuteAgo(30);
      await publishAmqp([
        { host: 'db1.example.com', payload: seedAt(start) },
        { host: 'db1.example.com', payload: seedAt(start + 60) },
      ]);
      const base = path.join(setup.rrdcached.baseDir, 'db1.example.com', 'base');
      await eventually(
        () => listRrdFiles(base).length === 35,
        () => `${listRrdFiles(base).length} files in ${base}`,
      );
      const load = await setup.reader.fetch(path.join(base, 'memory-total.gauge.rrd'), start, start + 60);
      expect(load.get(start + 60)).toBe(480718848);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });

  it('loses nothing when receive is killed -9 while 10,000 messages are published at once', async () => {
    const hosts = Array.from({ length: 500 }, (_, index) => `amqp-${index}.example.net`);
    const start = minuteAgo(40);
    let receiver = receive(setup, ['--amqp', AMQP_URL, '--amqp-queue', queue]);
    await receiver.waitForLog(/consuming agent updates/);
    const publishing = publishAmqp(gaugeMessages(hosts, start, 20));
    await eventually(
      () => listRrdFiles(setup.rrdcached.baseDir).filter((file) => file.startsWith('amqp-')).length >= 200,
      () => 'receive did not start storing',
    );
    await receiver.stop('SIGKILL');
    await publishing;
    receiver = receive(setup, ['--amqp', AMQP_URL, '--amqp-queue', queue]);
    try {
      await waitForMinute(setup, hosts.at(-1)!, start, 19, () => 'the last message never arrived', 120_000);
      await expectEveryMinute(setup, hosts, start, 20);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });
});
