import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { topicForHost } from '../../../src/core/protocol/index.js';
import {
  freePort,
  PrivateMosquitto,
  parseCleanly,
  type RunningProcess,
  startAgentProcess,
  subscribe,
  tempDir,
  uniqueSelf,
  waitFor,
} from './helpers.js';

const SHARED_BROKER = 'mqtt://127.0.0.1:1883';
const TICK = 2;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function watch(agent: RunningProcess): RunningProcess {
  cleanups.push(() => agent.stop());
  return agent;
}

/** Every tick epoch follows the previous one by exactly one interval: no gap, no duplicate. */
function expectConsecutive(epochs: number[], details = ''): void {
  for (let i = 1; i < epochs.length; i++) {
    expect(epochs[i]! - epochs[i - 1]!, `ticks ${epochs.join(', ')}\n${details}`).toBe(TICK);
  }
}

describe('kurado agent against Mosquitto', () => {
  it('publishes one well-formed message per tick, plugins that hang, fail or print garbage reported as warnings', async () => {
    const self = uniqueSelf('ticks');
    const dir = tempDir('ticks');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const confD = path.join(dir, 'conf.d');
    mkdirSync(confD);
    writeFileSync(
      path.join(confD, 'plugins.toml'),
      [
        '[plugin.metrics.good]',
        `command = "printf 'requests.derive\\\\t42\\\\n'"`,
        '[plugin.metrics.hang]',
        'command = "sleep 600"',
        'timeout = 1',
        '[plugin.metrics.fail]',
        'command = "echo connection refused >&2; exit 1"',
        '[plugin.metrics.junk]',
        'command = "echo this is not a metric"',
        '',
      ].join('\n'),
    );
    const { client, messages } = await subscribe(SHARED_BROKER, topicForHost(self));
    cleanups.push(() => client.endAsync());
    const agent = watch(
      startAgentProcess([
        '--mqtt',
        '127.0.0.1:1883',
        '--self',
        self,
        '--conf-d',
        confD,
        '--state-dir',
        path.join(dir, 'state'),
        '--interval-seconds',
        String(TICK),
      ]),
    );
    await waitFor('three ticks', () => messages.length >= 3, 30_000, agent.output);

    const epochs = messages.map((message) => message.epoch);
    expectConsecutive(epochs);
    for (const message of messages) {
      expect(message.topic).toBe(`kurado/update/${self}`);
      expect(message.epoch % TICK).toBe(0);
      const parsed = parseCleanly(message.payload, self);
      expect(parsed.rejected).toEqual([]);
      const names = parsed.metrics.map((metric) => `${metric.plugin}.${metric.name}`);
      expect(names).toEqual(
        expect.arrayContaining(['base.cpu-user', 'base.loadavg-1', 'base.memory-used', 'good.requests']),
      );
      const warnings = Object.fromEntries(
        parsed.warnings.map((warning) => [`${warning.plugin}.${warning.name}`, warning.message]),
      );
      expect(warnings['hang.command']).toMatch(/timed out after 1 s; its process group was killed/);
      expect(warnings['fail.command']).toBe('failed to exec plugin:fail: exit_code: 1: connection refused');
      expect(warnings['junk.output']).toMatch(/expected key<TAB>value/);
      expect(parsed.meta.find((meta) => meta.name === 'agent-version')?.value).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect(await agent.stop()).toBe(0);
  });

  it('defaults --self to the local address of the broker connection', async () => {
    const dir = tempDir('self');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // Another test may publish as 127.0.0.1 too; tell this agent's messages apart by their plugin.
    const marker = `m${Math.random().toString(36).slice(2, 10)}`;
    mkdirSync(path.join(dir, 'conf.d'));
    writeFileSync(
      path.join(dir, 'conf.d', 'm.toml'),
      `[plugin.metrics.${marker}]\ncommand = "printf 'x\\\\t1\\\\n'"\n`,
    );
    const { client, messages } = await subscribe(SHARED_BROKER, 'kurado/update/127_0_0_1');
    cleanups.push(() => client.endAsync());
    const agent = watch(
      startAgentProcess([
        '--mqtt',
        SHARED_BROKER,
        '--conf-d',
        path.join(dir, 'conf.d'),
        '--state-dir',
        path.join(dir, 'state'),
        '--interval-seconds',
        String(TICK),
      ]),
    );
    const mine = () => messages.filter((message) => message.payload.includes(`${marker}.metrics.x.gauge`));
    await waitFor('a tick published as 127_0_0_1', () => mine().length >= 1, 20_000, agent.output);
  });

  it('keeps ticks while the broker is down and replays them in order with their timestamps', async () => {
    const dir = tempDir('outage');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // Directly under the temp dir: Mosquitto drops to its own user when started as root, and must
    // reach this directory to save the subscriber's session when it stops.
    const brokerDir = tempDir('outage-broker');
    cleanups.push(() => rmSync(brokerDir, { recursive: true, force: true }));
    const broker = new PrivateMosquitto(await freePort(), brokerDir);
    await broker.start();
    cleanups.push(() => broker.stop());
    const self = uniqueSelf('outage');
    // A persistent session, as `kurado receive` has: the broker queues for it while it reconnects.
    const { client, messages } = await subscribe(broker.url, topicForHost(self), {
      clientId: `kurado-test-outage-${process.pid}`,
      clean: false,
    });
    cleanups.push(() => client.endAsync(true));
    const agent = watch(
      startAgentProcess([
        '--mqtt',
        `127.0.0.1:${broker.port}`,
        '--self',
        self,
        '--state-dir',
        path.join(dir, 'state'),
        '--interval-seconds',
        String(TICK),
      ]),
    );
    await waitFor('two ticks before the outage', () => messages.length >= 2, 20_000, agent.output);

    await broker.stop();
    const downAt = Math.floor(Date.now() / 1000);
    await new Promise((resolve) => setTimeout(resolve, (3 * TICK + 1) * 1000));
    const upAt = Math.floor(Date.now() / 1000);
    await broker.start();

    // Wait for a tick collected after the broker came back: everything before it has arrived.
    await waitFor(
      'a tick after the restart',
      () => messages.some((message) => message.epoch > upAt + TICK),
      30_000,
      () => `${agent.output()}\nreceived ${messages.map((m) => m.epoch).join(', ')}`,
    );
    const epochs = messages.map((message) => message.epoch);
    expectConsecutive(
      epochs,
      `down ${downAt}, up ${upAt}\nagent:\n${agent.output()}\nbroker:\n${broker.output()}`,
    );
    const duringOutage = epochs.filter((epoch) => epoch > downAt && epoch < upAt);
    expect(duringOutage.length).toBeGreaterThanOrEqual(3);
    for (const message of messages) expect(parseCleanly(message.payload, self).rejected).toEqual([]);
  });

  it('fails loudly with the broker address when --mqtt is unusable', async () => {
    const agent = watch(startAgentProcess(['--mqtt', 'http://127.0.0.1:1883']));
    const code = await new Promise<number | null>((resolve) => agent.child.on('exit', resolve));
    expect(code).toBe(2);
    expect(agent.output()).toMatch(/--mqtt "http:\/\/…": only mqtt:\/\/ and mqtts:\/\/ are supported/);
  });
});
