/**
 * Sharded RRD storage end to end, loopback standing for the network: three rrdcached nodes on
 * TCP ports with separate `-b` trees, RabbitMQ (a private vhost), two `kurado receive --amqp`
 * and one `kurado serve`, all reading one kurado.toml with three `[[storage]]` entries.
 * Simulated agents publish to amq.topic as RabbitMQ's MQTT plugin does. Proves: hosts spread
 * over the nodes and every host's graphs draw with data (also a graph reading another host on
 * another node), `kurado storage list` shows the spread, and a node killed for NODE_DOWN_MS
 * stalls only its own hosts and loses none of their values once it is back.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rrdFilePath } from '../../src/core/rrd/layout.js';
import { RrdcachedClient } from '../../src/core/rrd/rrdcached.js';
import { openStore } from '../../src/core/store/index.js';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { PrivateVhost } from '../helpers/rabbitmq.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

/**
 * How long a node stays down: a minute, long enough for its messages to pile up unacknowledged
 * while the other nodes' hosts go on being stored minute after minute.
 */
const NODE_DOWN_MS = 60_000;
const HOSTS = Array.from({ length: 9 }, (_, i) => `web${i + 1}`);
/** Minute timestamps, the first two hours ago: no waiting for the wall clock. */
const BASE = Math.floor(Date.now() / 1000 / 60) * 60 - 7200;
/** More simulated minutes than a test publishes (one every second or two while a node is down). */
const LAST_MINUTE = 110;
const at = (minute: number) => BASE + minute * 60;

function payload(host: string, minute: number): string {
  const value = HOSTS.indexOf(host) * 100 + minute;
  return [
    `base.metrics.loadavg-1.gauge\t${value}\t${at(minute)}`,
    `cross.metrics.load.gauge\t${value}\t${at(minute)}`,
    `base.meta.uptime\t${minute}\t${at(minute)}`,
    '',
  ].join('\n');
}

describe('three storage nodes, two receivers, one serve', () => {
  let dir: string;
  let nodes: PrivateRrdcached[] = [];
  let vhost: PrivateVhost;
  let broker: ChannelModel;
  let channel: Channel;
  const processes: RunningKurado[] = [];
  let web: string;
  let env: NodeJS.ProcessEnv;
  let storeUrl: string;
  const readers = new Map<string, RrdcachedClient>();

  const publish = async (minute: number, hosts = HOSTS) => {
    for (const host of hosts) {
      channel.publish('amq.topic', `kurado.update.${host}`, Buffer.from(payload(host, minute)), {
        persistent: true,
      });
    }
    await (channel as unknown as { waitForConfirms(): Promise<void> }).waitForConfirms();
  };

  const assignments = async () => {
    const store = await openStore(storeUrl, { schema: 'none' });
    try {
      return await store.storageAssignments();
    } finally {
      await store.close();
    }
  };

  /** Minutes stored for `host` on its node, read through that node (FETCH). */
  const storedMinutes = async (host: string, node: string): Promise<number[]> => {
    const reader = readers.get(node) as RrdcachedClient;
    const file = path.relative('/d', rrdFilePath('/d', host, 'base', 'loadavg-1', 'gauge'));
    const fetched = await reader.fetch(file, 'AVERAGE', at(0), at(LAST_MINUTE)).catch(() => undefined);
    if (!fetched) return [];
    const value0 = HOSTS.indexOf(host) * 100;
    return fetched.rows
      .map((row) => row.values[0])
      .filter((value): value is number => value !== null && value !== undefined)
      .map((value) => Math.round(value - value0));
  };

  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline)
        throw new Error(
          `${what} not reached within ${timeoutMs} ms; receive logs:\n${processes.map((p) => p.logs().slice(-1500)).join('\n---\n')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  const kurado = async (args: string[]) => {
    const run = spawnKurado(args, env);
    const code = await run.exited();
    return { code, output: run.logs() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kurado-nodes-'));
    nodes = await Promise.all([1, 2, 3].map(() => startRrdcached({ tcp: true })));
    for (const [index, node] of nodes.entries())
      readers.set(`rrd${index + 1}`, new RrdcachedClient(node.address, { unreachableAfterMs: 1000 }));
    vhost = await PrivateVhost.create();
    storeUrl = `sqlite:${path.join(dir, 'kurado.db')}`;
    const graphs = path.join(dir, 'graphs');
    mkdirSync(graphs);
    // A graph of host web1 that also reads web2: they live on different nodes (placement order).
    writeFileSync(
      path.join(graphs, 'cross.toml'),
      [
        '[[graph]]',
        'key = "pair"',
        'title = "Pair"',
        'group = "Pair"',
        "lines = '''",
        'DEF:mine={rrd load.gauge}:n:AVERAGE',
        'DEF:theirs={rrd load.gauge host=web2}:n:AVERAGE',
        'LINE1:mine#FF0000:mine',
        'LINE1:theirs#0000FF:theirs',
        "'''",
        '',
      ].join('\n'),
    );
    const config = path.join(dir, 'kurado.toml');
    writeFileSync(
      config,
      [
        `data_dir = "${path.join(dir, 'data')}"`,
        `store = "${storeUrl}"`,
        `amqp = "${vhost.amqpUrl}"`,
        `graphs_dir = "${graphs}"`,
        ...nodes.flatMap((node, index) => [
          '[[storage]]',
          `name = "rrd${index + 1}"`,
          `rrdcached = "${node.address}"`,
        ]),
        '',
      ].join('\n'),
    );
    env = { KURADO_CONFIG: config };
    broker = await amqp.connect(vhost.amqpUrl);
    channel = await broker.createConfirmChannel();
    for (const name of ['a', 'b']) {
      const receive = spawnKurado(['receive', '--client-id', `nodes-${name}`], env);
      processes.push(receive);
      await receive.waitForLog(/consuming agent updates/, 60_000);
    }
    const serve = spawnKurado(['serve', '--listen', '127.0.0.1:0'], env);
    processes.push(serve);
    web = `http://${(JSON.parse(await serve.waitForLog(/kurado serve listening/, 60_000)) as { listen: string }).listen}`;
  }, 180_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    await broker?.close().catch(() => undefined);
    for (const reader of readers.values()) await reader.close();
    await vhost?.remove();
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('spreads hosts over the nodes, draws every host from its node, and storage list shows it', async () => {
    // web1 first on its own, then web2: the fewest-hosts rule puts them on different nodes.
    await publish(1, ['web1']);
    await waitFor('web1 placed', async () => (await assignments()).has('web1'));
    await publish(1, HOSTS.slice(1));
    for (let minute = 2; minute <= 5; minute++) await publish(minute);
    await waitFor('every host placed', async () => (await assignments()).size === HOSTS.length);
    const placed = await assignments();
    await waitFor('minutes 1-5 stored on every host’s node', async () => {
      for (const host of HOSTS) {
        if ((await storedMinutes(host, placed.get(host) as string)).length < 5) return false;
      }
      return true;
    });
    const perNode = new Map<string, string[]>();
    for (const [host, node] of placed) perNode.set(node, [...(perNode.get(node) ?? []), host]);
    expect([...perNode.values()].map((hosts) => hosts.length)).toEqual([3, 3, 3]);
    expect(placed.get('web1')).not.toBe(placed.get('web2'));
    // Each host's files are in its node's tree only, and nothing is under the local data_dir.
    for (const host of HOSTS) {
      const trees = nodes.filter((node) =>
        existsSync(rrdFilePath(node.baseDir, host, 'base', 'loadavg-1', 'gauge')),
      );
      expect(trees).toEqual([nodes[Number((placed.get(host) as string).slice(3)) - 1]]);
    }
    expect(existsSync(path.join(dir, 'data'))).toBe(false);

    for (const host of HOSTS) {
      const page = await fetch(`${web}/host/${host}`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain(`/graph/${host}/base/`);
      const png = await fetch(`${web}/graph/${host}/base/loadavg-1.png?term=day`);
      expect(png.status).toBe(200);
      expect(png.headers.get('content-type')).toBe('image/png');
      expect((await png.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      // "No data" is decided from the node's listing: a graph whose files the host lacks is 404.
      expect((await fetch(`${web}/graph/${host}/base/cpu.png?term=day`)).status).toBe(404);
      const data = (await (await fetch(`${web}/api/graph/${host}/base/loadavg-1.json?term=day`)).json()) as {
        rows: { values: (number | null)[] }[];
      };
      expect(data.rows.some((row) => row.values.some((value) => value !== null))).toBe(true);
    }
    // web1's graph reads web2's file on web2's node (DEF daemon=): both series have data.
    const pair = (await (await fetch(`${web}/api/graph/web1/cross/pair.json?term=day`)).json()) as {
      legends: string[];
      rows: { values: (number | null)[] }[];
    };
    expect(pair.legends).toEqual(['mine', 'theirs']);
    const theirs = pair.rows.map((row) => row.values[1]).filter((value) => value !== null);
    expect(theirs.length).toBeGreaterThan(0);
    expect(Math.max(...(theirs as number[]))).toBeGreaterThan(100);

    const list = await kurado(['storage', 'list', '--json']);
    expect(list.code).toBe(0);
    const shown = JSON.parse(list.output.slice(list.output.indexOf('['))) as {
      name: string;
      hosts: number;
      files: number;
      reachable: boolean;
    }[];
    expect(shown.map((node) => [node.name, node.hosts, node.files, node.reachable])).toEqual([
      ['rrd1', 3, 6, true],
      ['rrd2', 3, 6, true],
      ['rrd3', 3, 6, true],
    ]);
  }, 240_000);

  it('config check names every bad [[storage]] entry', async () => {
    const bad = path.join(dir, 'bad.toml');
    writeFileSync(
      bad,
      '[[storage]]\nname = "a"\nrrdcached = "unix:/run/x.sock"\n[[storage]]\nname = "a"\nrrdcached = "10.0.0.1:42217"\n',
    );
    const check = await kurado(['config', 'check', '--no-rrdtool', '-c', bad]);
    expect(check.code).toBe(1);
    expect(check.output).toContain('[[storage]] "a": rrdcached "unix:/run/x.sock" is a unix socket');
    expect(check.output).toContain('[[storage]] "a": the name is used twice');
    expect(check.output).toContain('2 error(s)');
  });

  it(`stalls only the hosts of a node killed for ${NODE_DOWN_MS / 1000} s and loses none of their values`, async () => {
    const placed = await assignments();
    const victimName = placed.get('web1') as string;
    const victim = nodes[Number(victimName.slice(3)) - 1] as PrivateRrdcached;
    const stalled = HOSTS.filter((host) => placed.get(host) === victimName);
    const others = HOSTS.filter((host) => placed.get(host) !== victimName);
    await victim.kill('SIGKILL');
    const downSince = Date.now();
    let minute = 6;
    // Minutes keep coming while the node is down; the other nodes' hosts are stored meanwhile.
    while (Date.now() - downSince < NODE_DOWN_MS) {
      await publish(minute);
      const current = minute;
      await waitFor(
        `minute ${current} of the other nodes' hosts stored while ${victimName} is down`,
        async () => {
          for (const host of others) {
            if (!(await storedMinutes(host, placed.get(host) as string)).includes(current)) return false;
          }
          return true;
        },
        15_000,
      );
      minute++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const lastMinute = minute - 1;
    expect(lastMinute).toBeGreaterThan(8);
    expect(lastMinute).toBeLessThanOrEqual(LAST_MINUTE);
    const list = await kurado(['storage', 'list']);
    expect(list.code).toBe(1);
    expect(list.output).toMatch(new RegExp(`${victimName}.*NO:`));
    // A graph of a host on the down node fails with a server error, it does not hang or lie.
    const down = await fetch(`${web}/graph/${stalled[0]}/base/loadavg-1.png?term=day`);
    expect(down.status).toBeGreaterThanOrEqual(500);

    await victim.start();
    await waitFor(
      `every minute of ${stalled.join(', ')} stored after ${victimName} came back`,
      async () => {
        for (const host of stalled) {
          if ((await storedMinutes(host, victimName)).length < lastMinute) return false;
        }
        return true;
      },
      90_000,
    );
    const expected = Array.from({ length: lastMinute }, (_, i) => i + 1);
    for (const host of HOSTS) expect(await storedMinutes(host, placed.get(host) as string)).toEqual(expected);
    const again = await fetch(`${web}/graph/${stalled[0]}/base/loadavg-1.png?term=day`);
    expect(again.status).toBe(200);
  }, 240_000);
});
