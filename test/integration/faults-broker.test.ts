import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicForHost } from '../../src/core/protocol/host.js';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { minuteMessage, minutesAgo, missingMinutes } from '../helpers/fault-stream.js';
import { type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { eventually, listRrdFiles, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const SIMULATED = ['broker-fault-a.example.com', 'broker-fault-b.example.com', 'broker-fault-c.example.com'];
const MINUTES = 50;
const RESTART_AT = 15;
const TICK_MS = 150;

/**
 * The broker (a private Mosquitto with persistence, like Debian's) restarts while agents tick and
 * `receive` runs. Simulated agents publish one minute each per 150 ms with QoS 1 and a persistent
 * session, the way the agent's MQTT client does, through the outage; every one of their minutes
 * must be in the RRD files afterwards. A real `kurado agent` ticking every 2 s runs alongside and
 * must be stored again after the restart.
 *
 * Mosquitto 2.0.11 restores sessions but not their shared subscriptions, and drops what agents
 * publish before a member of the group subscribes again (the README says so). That window is the
 * broker's; what receive owns is subscribing again at once. So the simulated agents reach the
 * broker through a gate that lets them in only once receive logs that it subscribed again, which
 * keeps the test about receive instead of about which side of that race a loaded machine favours.
 */
describe('fault: the MQTT broker restarts while agents tick and receive runs', () => {
  let root: string;
  let broker: PrivateMosquitto;
  let rrdcached: PrivateRrdcached;
  let reader: RrdReader;
  let receive: RunningKurado;
  let agent: RunningKurado;
  const realAgent = `broker-fault-agent-${process.pid}.example.com`;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'kurado-brokerfault-'));
    [broker, rrdcached] = await Promise.all([startMosquitto(), startRrdcached()]);
    reader = new RrdReader(rrdcached.address);
    receive = spawnKurado([
      'receive',
      ...['--mqtt', broker.url, '--client-id', `faults-broker-${process.pid}`, '--mqtt-connections', '4'],
      ...['--rrdcached', rrdcached.address, '--data-dir', rrdcached.baseDir],
      ...['--store', `sqlite:${path.join(root, 'kurado.db')}`],
    ]);
    await receive.waitForLog(/subscribed to agent updates/, 60_000);
    mkdirSync(path.join(root, 'conf.d'));
    agent = spawnKurado([
      'agent',
      ...['--mqtt', broker.url, '--self', realAgent, '--conf-d', path.join(root, 'conf.d')],
      ...['--state-dir', path.join(root, 'agent-state'), '--interval-seconds', '2'],
    ]);
  }, 90_000);

  afterAll(async () => {
    const codes = await Promise.all([agent?.stop('SIGTERM'), receive?.stop('SIGTERM')]);
    await reader?.close();
    await Promise.all([rrdcached?.stop(), broker?.stop()]);
    rmSync(root, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  }, 60_000);

  it('misses no minute afterwards', async () => {
    const start = minutesAgo(MINUTES + 60);
    const agentDir = path.join(rrdcached.baseDir, realAgent, 'base');
    await eventually(
      () => listRrdFiles(agentDir).some((file) => file.startsWith('loadavg-1.')),
      () => `the real agent's values are not stored; agent:\n${agent.logs().slice(-2000)}`,
      30_000,
    );
    const loadFile = path.join(
      agentDir,
      listRrdFiles(agentDir).find((file) => file.startsWith('loadavg-1.'))!,
    );

    const gate = await openGate(broker.port);
    const clients: MqttClient[] = SIMULATED.map((host) =>
      mqtt.connect(`mqtt://127.0.0.1:${gate.port}`, {
        clientId: `sim-${host}`,
        clean: false,
        reconnectPeriod: 1000,
        keepalive: 10,
      }),
    );
    const acked: Promise<void>[] = [];
    let restart: Promise<void> | undefined;
    let restartedAt = 0;
    try {
      for (let minute = 0; minute < MINUTES; minute++) {
        SIMULATED.forEach((host, index) => {
          const { payload } = minuteMessage(host, start, minute);
          acked.push(
            new Promise<void>((resolve, reject) =>
              clients[index]!.publish(topicForHost(host), payload, { qos: 1 }, (error) =>
                error ? reject(error) : resolve(),
              ),
            ),
          );
        });
        if (minute === RESTART_AT) {
          restart = (async () => {
            gate.close();
            await broker.stop();
            await new Promise((resolve) => setTimeout(resolve, 3000));
            await broker.start();
            restartedAt = Math.floor(Date.now() / 1000);
            // Every connection of the group, so none of the restored sessions is left without it.
            await eventually(
              () => receive.logs().split('subscribed again to agent updates after a reconnect').length > 4,
              () => `receive did not subscribe again on all 4 connections:\n${receive.logs().slice(-3000)}`,
              30_000,
            );
            gate.open();
          })();
        }
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      }
      await restart;
      // Every publish was acknowledged by the broker (the ones made during the outage after the
      // reconnect).
      await Promise.all(acked);
    } finally {
      await Promise.all(clients.map((client) => client.endAsync()));
      await gate.stop();
    }

    let missing: Record<string, number[]> = {};
    await eventually(
      async () => {
        missing = {};
        for (const host of SIMULATED) {
          const list = await missingMinutes(reader, rrdcached.baseDir, host, start, MINUTES);
          if (list.length > 0) missing[host] = list;
        }
        return Object.keys(missing).length === 0;
      },
      () =>
        `missing minutes ${JSON.stringify(missing)}; receive:\n${receive.logs().slice(-3000)}\nbroker:\n${broker.output().slice(-6000)}`,
      40_000,
    );
    // The real agent reconnected too: its values after the restart are stored.
    await eventually(
      async () => Number((await reader.info(loadFile)).get('last_update')) > restartedAt + 2,
      () => `no value of ${realAgent} after the restart; agent:\n${agent.logs().slice(-2000)}`,
      30_000,
    );
    expect(receive.child.exitCode).toBeNull();
  }, 120_000);
});

/**
 * A TCP gate in front of the broker for the simulated agents: while closed it drops their
 * connections (MQTT.js keeps retrying with its queued publishes), while open it forwards.
 */
async function openGate(brokerPort: number): Promise<{
  port: number;
  open(): void;
  close(): void;
  stop(): Promise<void>;
}> {
  let isOpen = true;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!isOpen) {
      client.destroy();
      return;
    }
    const upstream = connect(brokerPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('gate has no TCP port');
  return {
    port: address.port,
    open: () => {
      isOpen = true;
    },
    close: () => {
      isOpen = false;
      for (const socket of sockets) socket.destroy();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
