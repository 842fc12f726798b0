import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicForHost } from '../../src/core/protocol/host.js';
import { hostDirectory, listHosts, rrdFilePath } from '../../src/core/rrd/layout.js';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { PrivateVhost, RABBITMQ_MQTT, rabbitmqctl, requireRabbitMqtt } from '../helpers/rabbitmq.js';
import { eventually, listRrdFiles, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

// Agents publish MQTT to RabbitMQ's MQTT plugin, which routes `kurado/update/<host>` through
// amq.topic as `kurado.update.<host>`; `kurado receive --amqp` consumes a queue bound to it.
// Each test runs in a private vhost of the machine's RabbitMQ, so its queue sees only its own
// messages, and removes the vhost (queues and users included) afterwards.

interface Setup {
  dir: string;
  rrdcached: PrivateRrdcached;
  storeUrl: string;
  reader: RrdReader;
  vhost: PrivateVhost;
  queue: string;
}

async function setUp(): Promise<Setup> {
  await requireRabbitMqtt();
  const dir = mkdtempSync(path.join(tmpdir(), 'kurado-rabbitmqtt-'));
  const rrdcached = await startRrdcached();
  const vhost = await PrivateVhost.create();
  return {
    dir,
    rrdcached,
    storeUrl: `sqlite:${path.join(dir, 'kurado.db')}`,
    reader: new RrdReader(rrdcached.address),
    vhost,
    queue: `kurado.update.test-${randomBytes(4).toString('hex')}`,
  };
}

async function tearDown(setup: Setup): Promise<void> {
  const connection = await amqp.connect(setup.vhost.amqpUrl);
  const channel = await connection.createChannel();
  await channel.deleteQueue(setup.queue);
  await connection.close();
  await setup.vhost.remove();
  await setup.reader.close();
  await setup.rrdcached.stop();
  rmSync(setup.dir, { recursive: true, force: true });
}

function receive(setup: Setup): RunningKurado {
  return spawnKurado([
    'receive',
    '--amqp',
    setup.vhost.amqpUrl,
    '--amqp-queue',
    setup.queue,
    '--rrdcached',
    setup.rrdcached.address,
    '--data-dir',
    setup.rrdcached.baseDir,
    '--store',
    setup.storeUrl,
  ]);
}

/** `kurado agent` ticking every second with one conf.d plugin `probe` that prints `constant.gauge <value>`. */
function agent(setup: Setup, name: string, mqttUrl: string, self: string, value: number): RunningKurado {
  const confD = path.join(setup.dir, name, 'conf.d');
  mkdirSync(confD, { recursive: true });
  writeFileSync(
    path.join(confD, 'probe.toml'),
    `[plugin.metrics.probe]\ncommand = "printf 'constant.gauge\\\\t${value}\\\\n'"\n`,
  );
  return spawnKurado([
    'agent',
    '--mqtt',
    mqttUrl,
    '--self',
    self,
    '--conf-d',
    confD,
    '--state-dir',
    path.join(setup.dir, name, 'state'),
    '--interval-seconds',
    '1',
  ]);
}

function probeFile(setup: Setup, host: string): string {
  return rrdFilePath(setup.rrdcached.baseDir, host, 'probe', 'constant', 'gauge');
}

/** Non-null values of the last ten minutes of a 1-minute file. */
async function recentValues(setup: Setup, file: string): Promise<number[]> {
  const now = Math.floor(Date.now() / 1000);
  const rows = await setup.reader.fetch(file, now - 600, now);
  return [...rows.values()].filter((value): value is number => value !== null);
}

/** A minute-aligned start `minutes` ago, so every value of the stream lies before now. */
function minutesAgo(minutes: number): number {
  const now = Math.floor(Date.now() / 1000);
  return now - (now % 60) - minutes * 60;
}

describe('agents through RabbitMQ’s MQTT plugin → two receive --amqp', { timeout: 300_000 }, () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp();
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  it('stores every value of kurado agent and MQTT 3.1 clients although one receiver is killed -9 mid-stream', async () => {
    // The first receiver to subscribe is the queue's active consumer, the second its standby:
    // the stream kills the active one.
    const receivers = [receive(setup)];
    const running: { stop(signal?: NodeJS.Signals): Promise<number | null> }[] = [...receivers];
    try {
      await receivers[0]!.waitForLog(/consuming agent updates/, 60_000);
      receivers.push(receive(setup));
      running.push(receivers[1]!);
      await receivers[1]!.waitForLog(/consuming agent updates/, 60_000);

      // The agent of an IPv4 host publishes on kurado/update/192_0_2_<n> (RabbitMQ would split
      // the dots into routing-key words); receive must store it under the dotted address.
      const agentHost = `192.0.2.${1 + Math.floor(Math.random() * 254)}`;
      const agentProcess = agent(setup, 'agent', setup.vhost.mqttUrl(), agentHost, 7);
      running.push(agentProcess);

      // Older agents in the field speak MQTT 3.1 with client ids longer than 3.1's 23 characters.
      const hosts = [
        ...Array.from({ length: 12 }, (_, index) => `web-${index}.legacy.example.net`),
        ...Array.from({ length: 3 }, (_, index) => `198.51.100.${index + 1}`),
        '2001:db8::31',
      ];
      const mosquittoHost = 'mosquitto-pub.legacy.example.net';
      const clientId = `kurado-legacy-agent-${randomBytes(12).toString('hex')}`;
      expect(clientId.length).toBeGreaterThan(23);
      const client = await mqtt.connectAsync(setup.vhost.mqttUrl(), {
        protocolId: 'MQIsdp',
        protocolVersion: 3,
        clientId,
      });
      const [vhostUser, password] = [`${setup.vhost.name}:guest`, 'guest'];
      const [mqttHost, mqttPort] = RABBITMQ_MQTT.split(':') as [string, string];
      const mosquittoPub: ChildProcess = spawn(
        'mosquitto_pub',
        [
          '-h',
          mqttHost,
          '-p',
          mqttPort,
          '-V',
          'mqttv31',
          '-i',
          `${clientId}-mosquitto-pub`,
          '-u',
          vhostUser,
        ].concat(['-P', password, '-q', '1', '-t', topicForHost(mosquittoHost), '-l']),
        { stdio: ['pipe', 'ignore', 'pipe'] },
      );
      let mosquittoErrors = '';
      mosquittoPub.stderr?.on('data', (chunk: Buffer) => {
        mosquittoErrors += chunk.toString();
      });
      const mosquittoExit = new Promise<number | null>((resolve) => mosquittoPub.once('exit', resolve));

      const minutes = 30;
      const start = minutesAgo(minutes + 5);
      for (let minute = 0; minute < minutes; minute++) {
        const timestamp = start + minute * 60;
        const line = `test.metrics.minute.gauge\t${minute}\t${timestamp}`;
        await Promise.all(
          hosts.map((host) => client.publishAsync(topicForHost(host), `${line}\n`, { qos: 1 })),
        );
        mosquittoPub.stdin?.write(`${line}\n`);
        if (minute === 10) {
          // Mid-stream: the active receiver has stored values, and dies without acknowledging.
          await eventually(
            () => listRrdFiles(setup.rrdcached.baseDir).some((file) => file.endsWith('minute.gauge.rrd')),
            () => 'no stream value stored before the kill',
          );
          expect(await receivers[0]!.stop('SIGKILL')).toBe(null);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await client.endAsync();
      mosquittoPub.stdin?.end();
      expect(await mosquittoExit, mosquittoErrors).toBe(0);

      const everyHost = [...hosts, mosquittoHost];
      const missing = async (): Promise<string[]> => {
        const found: string[] = [];
        for (const host of everyHost) {
          const file = rrdFilePath(setup.rrdcached.baseDir, host, 'test', 'minute', 'gauge');
          const rows = await setup.reader
            .fetch(file, start, start + (minutes - 1) * 60)
            .catch(() => new Map<number, number | null>());
          for (let minute = 1; minute < minutes; minute++) {
            const value = rows.get(start + minute * 60);
            if (value !== minute) found.push(`${host} minute ${minute}: ${value}`);
          }
        }
        return found;
      };
      let lastMissing: string[] = [];
      await eventually(
        async () => {
          lastMissing = await missing();
          return lastMissing.length === 0;
        },
        () => `${lastMissing.length} values missing, e.g. ${lastMissing.slice(0, 5).join('; ')}`,
        120_000,
      );

      await eventually(
        async () => (await recentValues(setup, probeFile(setup, agentHost))).includes(7),
        () => `kurado agent's value never reached ${probeFile(setup, agentHost)}`,
        60_000,
      );
      // Stored under the dotted address, and no host named like the underscored topic appeared.
      expect(listHosts(setup.rrdcached.baseDir).sort()).toEqual([...everyHost, agentHost].sort());
      expect(await receivers[1]!.stop()).toBe(0);
    } finally {
      for (const child of running) await child.stop('SIGKILL');
    }
  });
});

describe('receive --amqp on a queue an older Kurado declared', { timeout: 120_000 }, () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp();
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  it('names the queue and how to replace it', async () => {
    const connection = await amqp.connect(setup.vhost.amqpUrl);
    const channel = await connection.createChannel();
    await channel.assertQueue(setup.queue, { durable: true });
    await connection.close();
    const receiver = receive(setup);
    try {
      const line = await receiver.waitForLog(/declared without a single active consumer/, 60_000);
      expect(line).toContain(`rabbitmqctl delete_queue ${setup.queue}`);
    } finally {
      await receiver.stop('SIGKILL');
    }
  });
});

describe('Securing agents: RabbitMQ topic permissions (README example)', { timeout: 300_000 }, () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp();
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  it('lets agent A store its own values but not write host B’s topic', async () => {
    const suffix = randomBytes(3).toString('hex');
    // Users are named like their topic's host part, as the README says.
    const hostA = `agent-a-${suffix}.example.net`;
    const hostB = `agent-b-${suffix}.example.net`;
    const vhost = setup.vhost.name;
    for (const [user, password] of [
      [hostA, 'secret-a'],
      [hostB, 'secret-b'],
    ] as const) {
      await setup.vhost.addUser(user, password);
      // Exactly the README's lines, with -p <vhost>.
      await rabbitmqctl(
        'set_permissions',
        '-p',
        vhost,
        user,
        '^mqtt-subscription-.*',
        '^(amq\\.topic|mqtt-subscription-.*)$',
        '^(amq\\.topic|mqtt-subscription-.*)$',
      );
      await rabbitmqctl(
        'set_topic_permissions',
        '-p',
        vhost,
        user,
        'amq.topic',
        '^kurado\\.update\\.{username}$',
        '^$',
      );
    }
    const receiver = receive(setup);
    const processes: RunningKurado[] = [receiver];
    try {
      await receiver.waitForLog(/consuming agent updates/, 60_000);
      const impostor = agent(setup, 'impostor', setup.vhost.mqttUrl(hostA, 'secret-a'), hostB, 666);
      const agentA = agent(setup, 'a', setup.vhost.mqttUrl(hostA, 'secret-a'), hostA, 1);
      processes.push(impostor, agentA);
      await eventually(
        async () => (await recentValues(setup, probeFile(setup, hostA))).includes(1),
        () => `agent A's own value never reached ${probeFile(setup, hostA)}:\n${agentA.logs().slice(-2000)}`,
      );
      // RabbitMQ refuses the impostor's publish and closes its connection; it keeps retrying.
      await eventually(
        () => (impostor.logs().match(/publish failed/g) ?? []).length >= 3,
        () => `the impostor's publishes were not refused:\n${impostor.logs().slice(-2000)}`,
      );
      expect(existsSync(hostDirectory(setup.rrdcached.baseDir, hostB))).toBe(false);

      // B's own credentials do write B: the path the impostor was refused works for its owner.
      const agentB = agent(setup, 'b', setup.vhost.mqttUrl(hostB, 'secret-b'), hostB, 2);
      processes.push(agentB);
      await eventually(
        async () => (await recentValues(setup, probeFile(setup, hostB))).includes(2),
        () => `agent B's own value never reached ${probeFile(setup, hostB)}:\n${agentB.logs().slice(-2000)}`,
      );
      expect(await recentValues(setup, probeFile(setup, hostB))).not.toContain(666);
      expect(new Set(await recentValues(setup, probeFile(setup, hostB)))).toEqual(new Set([2]));
    } finally {
      for (const child of processes) await child.stop('SIGKILL');
    }
  });
});
