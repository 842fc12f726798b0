/**
 * Scale: N simulated hosts × M metrics, one message per host per minute, published as MQTT to
 * RabbitMQ's MQTT plugin (a private vhost of the machine's RabbitMQ, 127.0.0.1:1884) or with
 * `--transport amqp` straight to amq.topic → two `kurado receive --amqp` (the compiled CLI; one
 * active consumer, one standby) → rrdcached over TCP, for `--minutes` real minutes. Reports the
 * values lost (every value is read back at the end), p95 of publish → value readable through
 * rrdcached, and the CPU of every process from /proc/<pid>/stat.
 *
 *   npm run bench -- scale [--hosts 10000] [--metrics 50] [--minutes 5] [--nodes 1]
 *                          [--transport mqtt|amqp] [--connections 50] [--spread 50]
 *
 * Every file is a full RRD (about 186 KB): the bench refuses to start when the RRD files of the
 * fleet would not fit on the disk of the temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { topicForHost } from '../src/core/protocol/host.js';
import { createArguments, hostDirectory, rrdFilePath } from '../src/core/rrd/layout.js';
import { RrdcachedClient } from '../src/core/rrd/rrdcached.js';
import { type RunningKurado, spawnKurado } from '../test/helpers/cli.js';
import { PrivateVhost, requireRabbitMqtt } from '../test/helpers/rabbitmq.js';
import { RrdReader } from '../test/helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../test/helpers/rrdcached.js';

const { values: options } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    metrics: { type: 'string', default: '50' },
    minutes: { type: 'string', default: '5' },
    nodes: { type: 'string', default: '1' },
    transport: { type: 'string', default: 'mqtt' },
    connections: { type: 'string', default: '50' },
    spread: { type: 'string', default: '50' },
  },
});
const HOSTS = Number(options.hosts);
const METRICS = Number(options.metrics);
const MINUTES = Number(options.minutes);
const CONNECTIONS = Number(options.connections);
/** Seconds after each minute over which the hosts' messages are spread (agents' --max-delay). */
const SPREAD = Number(options.spread);
const TRANSPORT = options.transport;
const NODE_COUNTS = options.nodes.split(',').map(Number);
const PROBES_PER_MINUTE = 20;
const LAG_TARGET_SECONDS = 10;
if (TRANSPORT !== 'mqtt' && TRANSPORT !== 'amqp') throw new Error(`--transport ${TRANSPORT}: mqtt or amqp`);
for (const [name, value] of Object.entries({ HOSTS, METRICS, MINUTES, CONNECTIONS, SPREAD })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name.toLowerCase()}: a positive integer`);
}
for (const nodes of NODE_COUNTS) {
  if (!Number.isInteger(nodes) || nodes < 1)
    throw new Error(`--nodes ${options.nodes}: positive integers, e.g. 3,1`);
}

const hosts = Array.from(
  { length: HOSTS },
  (_, index) => `10.${Math.floor(index / 250) % 256}.${index % 250}.${1 + Math.floor(index / 64000)}`,
);
const metricName = (metric: number) => `m${String(metric).padStart(2, '0')}`;
const expectedValue = (minute: number, host: number, metric: number) => (minute * 7 + host + metric) % 1000;

function payload(host: number, minute: number, timestamp: number): string {
  let text = '';
  for (let metric = 0; metric < METRICS; metric++) {
    text += `bench.metrics.${metricName(metric)}.gauge\t${expectedValue(minute, host, metric)}\t${timestamp}\n`;
  }
  return text;
}

/** user+system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rabbitmqPid(): number | undefined {
  try {
    return Number(execFileSync('pidof', ['beam.smp'], { encoding: 'utf8' }).trim().split(' ')[0]);
  } catch {
    return undefined;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Size of one RRD file of Kurado's layout, measured by creating one. */
function rrdFileBytes(dir: string): number {
  const file = path.join(dir, 'size-probe.rrd');
  execFileSync('rrdtool', ['create', file, ...createArguments('gauge', Math.floor(Date.now() / 1000))]);
  const bytes = statSync(file).size;
  rmSync(file);
  return bytes;
}

/** A file as rrdcached over TCP wants it for FETCH: relative to its `-b`. */
function readPath(
  rrdcached: PrivateRrdcached,
  host: string,
  plugin: string,
  name: string,
  type: 'gauge',
): string {
  return path.relative(rrdcached.baseDir, rrdFilePath(rrdcached.baseDir, host, plugin, name, type));
}

interface Publisher {
  publish(host: string, body: string): Promise<void>;
  close(): Promise<void>;
}

async function mqttPublisher(vhost: PrivateVhost): Promise<Publisher> {
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: CONNECTIONS }, (_, index) =>
      mqtt.connectAsync(vhost.mqttUrl(), {
        clientId: `kurado-scale-${index}-${randomBytes(3).toString('hex')}`,
        protocolVersion: 4,
        reconnectPeriod: 1000,
      }),
    ),
  );
  let next = 0;
  return {
    publish: async (host, body) => {
      const client = clients[next++ % clients.length]!;
      await client.publishAsync(topicForHost(host), body, { qos: 1 });
    },
    close: async () => {
      await Promise.all(clients.map((client) => client.endAsync()));
    },
  };
}

async function amqpPublisher(vhost: PrivateVhost): Promise<Publisher> {
  const connection = await amqp.connect(vhost.amqpUrl);
  const channel = await connection.createConfirmChannel();
  return {
    publish: (host, body) =>
      new Promise((resolve, reject) => {
        // What RabbitMQ's MQTT plugin does with the topic: `/` becomes `.`.
        channel.publish(
          'amq.topic',
          topicForHost(host).replaceAll('/', '.'),
          Buffer.from(body),
          {
            persistent: true,
          },
          (error) => (error ? reject(error) : resolve()),
        );
      }),
    close: async () => {
      await channel.waitForConfirms();
      await connection.close();
    },
  };
}

interface RunResult {
  nodes: number;
  published: number;
  lost: number;
  lagP50: number;
  lagP95: number;
  lagMax: number;
  wallSeconds: number;
  cpu: Record<string, number>;
  loadBefore: number[];
  loadAfter: number[];
  drainSeconds: number;
  warmupSeconds: number;
}

async function run(nodes: number, root: string): Promise<RunResult> {
  // One node is Kurado's default (data_dir through one rrdcached); more are [[storage]] nodes.
  const storageNodes: PrivateRrdcached[] = [];
  for (let node = 0; node < nodes; node++) storageNodes.push(await startRrdcached({ tcp: true }));
  const rrdcached = storageNodes[0]!;
  const dataDir = nodes === 1 ? rrdcached.baseDir : mkdtempSync(path.join(root, 'data-'));
  const config = path.join(mkdtempSync(path.join(root, 'config-')), 'kurado.toml');
  writeFileSync(
    config,
    nodes === 1
      ? ''
      : storageNodes
          .map((node, index) => `[[storage]]\nname = "rrd${index + 1}"\nrrdcached = "${node.address}"\n`)
          .join('\n'),
  );
  /** The node holding `host` (each host's files live on exactly one). */
  const nodeOf = (host: number): PrivateRrdcached =>
    storageNodes.find((node) => existsSync(hostDirectory(node.baseDir, hosts[host]!))) ?? rrdcached;
  const readers = new Map(storageNodes.map((node) => [node, new RrdReader(node.address)]));
  const vhost = await PrivateVhost.create();
  const queue = `kurado.update.scale-${randomBytes(4).toString('hex')}`;
  const storeUrl = `sqlite:${path.join(mkdtempSync(path.join(root, 'store-')), 'kurado.db')}`;
  const receivers: RunningKurado[] = [];
  try {
    for (let index = 0; index < 2; index++) {
      const receiver = spawnKurado(
        [
          ...['receive', '--config', config, '--amqp', vhost.amqpUrl, '--amqp-queue', queue],
          ...(nodes === 1 ? ['--rrdcached', rrdcached.address] : []),
          ...['--data-dir', dataDir, '--store', storeUrl],
        ],
        { KURADO_LOG_LEVEL: 'info' },
      );
      receivers.push(receiver);
      // One after the other: the first to subscribe is the active consumer.
      await receiver.waitForLog(/consuming agent updates/, 60_000);
    }
    const publisher = TRANSPORT === 'mqtt' ? await mqttPublisher(vhost) : await amqpPublisher(vhost);
    const pids: Record<string, number> = {
      'receive (active)': receivers[0]!.child.pid!,
      'receive (standby)': receivers[1]!.child.pid!,
    };
    storageNodes.forEach((node, index) => {
      pids[nodes === 1 ? 'rrdcached' : `rrdcached rrd${index + 1}`] = node.pid()!;
    });
    const beam = rabbitmqPid();
    if (beam) pids['RabbitMQ (whole node, shared)'] = beam;
    const now = Math.floor(Date.now() / 1000);
    const firstTimestamp = now - (now % 60);
    /** Whether `host`'s value of `minute` (metric 0) is readable through its node's rrdcached. */
    const readable = async (host: number, minute: number): Promise<boolean> => {
      const timestamp = firstTimestamp + minute * 60;
      const node = nodeOf(host);
      const file = readPath(node, hosts[host]!, 'bench', metricName(0), 'gauge');
      const rows = await readers
        .get(node)!
        .fetch(file, timestamp - 60, timestamp)
        .catch(() => undefined);
      return rows?.get(timestamp) === expectedValue(minute, host, 0);
    };

    // Warm-up, not measured: the fleet's first message creates its files (rrdcached CREATE,
    // bound by the disk), a minute before the measured ones.
    const warmupStart = Date.now();
    await Promise.all(
      hosts.map((host, index) => publisher.publish(host, payload(index, -1, firstTimestamp - 60))),
    );
    const sample = [HOSTS - 1, ...Array.from({ length: 19 }, () => Math.floor(Math.random() * HOSTS))];
    for (const host of sample) {
      while (!(await readable(host, -1))) {
        if (Date.now() - warmupStart > 1_800_000)
          throw new Error('the warm-up minute was not stored in 30 min');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    const warmupSeconds = (Date.now() - warmupStart) / 1000;
    const hostsPerNode = storageNodes.map((node) => hosts.filter((_, host) => nodeOf(host) === node).length);
    console.log(
      `  warm-up: ${HOSTS * METRICS} files created in ${warmupSeconds.toFixed(0)} s (${((HOSTS * METRICS) / warmupSeconds).toFixed(0)} files/s); hosts per node ${hostsPerNode.join(' / ')}`,
    );

    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const ownCpuBefore = process.cpuUsage();
    const loadBefore = loadavg();
    const wallStart = Date.now();
    const lags: number[] = [];
    const probes: Promise<void>[] = [];
    const publishes: Promise<void>[] = [];
    let published = 0;
    let failedPublishes = 0;

    const probe = (host: number, minute: number, sentAt: number) => {
      probes.push(
        (async () => {
          const deadline = sentAt + 300_000;
          while (Date.now() < deadline) {
            if (await readable(host, minute)) {
              lags.push((Date.now() - sentAt) / 1000);
              return;
            }
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          lags.push(Number.POSITIVE_INFINITY);
        })(),
      );
    };

    for (let minute = 0; minute < MINUTES; minute++) {
      const minuteStart = wallStart + minute * 60_000;
      const timestamp = firstTimestamp + minute * 60;
      const probeEvery = Math.max(1, Math.floor(HOSTS / PROBES_PER_MINUTE));
      const probeOffset = Math.floor(Math.random() * probeEvery);
      let host = 0;
      while (host < HOSTS) {
        const due = Math.min(HOSTS, Math.floor(((Date.now() - minuteStart) / (SPREAD * 1000)) * HOSTS) + 1);
        for (; host < due; host++) {
          const sentAt = Date.now();
          const sending = publisher.publish(hosts[host]!, payload(host, minute, timestamp)).then(
            () => {
              published++;
            },
            () => {
              failedPublishes++;
            },
          );
          publishes.push(sending);
          if (host % probeEvery === probeOffset) probe(host, minute, sentAt);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Promise.all(publishes.splice(0));
      const behind = (Date.now() - minuteStart) / 1000;
      console.log(
        `  minute ${minute + 1}/${MINUTES}: ${HOSTS} messages published in ${behind.toFixed(1)} s, load average ${loadavg()[0]!.toFixed(1)}`,
      );
      const nextMinute = minuteStart + 60_000;
      // The last minute too: CPU shares are over whole minutes of the fleet's load.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextMinute - Date.now())));
    }
    await publisher.close();
    await Promise.all(probes);
    const drainStart = Date.now();

    // Every value of every file and minute, read back through rrdcached: the ones not there.
    const missing = async (): Promise<number> => {
      let lost = 0;
      // Two rrdtool processes per node read in parallel.
      const extra = new Map(storageNodes.map((node) => [node, new RrdReader(node.address)]));
      let nextHost = 0;
      await Promise.all(
        [readers, extra].map(async (lane) => {
          for (;;) {
            const host = nextHost++;
            if (host >= HOSTS) return;
            const node = nodeOf(host);
            const own = lane.get(node)!;
            for (let metric = 0; metric < METRICS; metric++) {
              const file = readPath(node, hosts[host]!, 'bench', metricName(metric), 'gauge');
              const rows = await own
                .fetch(file, firstTimestamp - 60, firstTimestamp + (MINUTES - 1) * 60)
                .catch(() => new Map<number, number | null>());
              for (let minute = 0; minute < MINUTES; minute++) {
                if (rows.get(firstTimestamp + minute * 60) !== expectedValue(minute, host, metric)) lost++;
              }
            }
          }
        }),
      );
      for (const reader of extra.values()) await reader.close();
      return lost;
    };
    // Wait for the queue to empty (the active receiver took everything), then read back all.
    const connection = await amqp.connect(vhost.amqpUrl);
    const channel = await connection.createChannel();
    for (;;) {
      const { messageCount } = await channel.checkQueue(queue);
      if (messageCount === 0 || Date.now() - drainStart > 600_000) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await connection.close();
    const drainSeconds = (Date.now() - drainStart) / 1000;
    const wallSeconds = (Date.now() - wallStart) / 1000;
    const cpu: Record<string, number> = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) - cpuBefore[name]!]),
    );
    const own = process.cpuUsage(ownCpuBefore);
    cpu['load generator + lag probes (bench process)'] = (own.user + own.system) / 1e6;
    const loadAfter = loadavg();
    // Write every node's queued values to disk with its write threads first (after the CPU was
    // measured): reading back file by file would otherwise flush them one at a time.
    // How fast that goes is what bounds a node's files: rrdcached writes each file every -w s.
    const flushStart = Date.now();
    const clients = storageNodes.map((node) => new RrdcachedClient(node.address));
    // UpdatesWritten counts file writes (each with all of a file's queued values).
    const written = async () =>
      (await Promise.all(clients.map((client) => client.stats()))).reduce(
        (sum, stats) => sum + (stats.UpdatesWritten ?? 0),
        0,
      );
    const writtenBefore = await written();
    await Promise.all(clients.map((client) => client.flushAll()));
    for (const client of clients) {
      while (((await client.stats()).QueueLength ?? 0) > 0)
        await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const flushSeconds = (Date.now() - flushStart) / 1000;
    const queued = (await written()) - writtenBefore;
    for (const client of clients) await client.close();
    console.log(
      `  FLUSHALL: ${queued} files with queued values written in ${flushSeconds.toFixed(0)} s (${(queued / flushSeconds).toFixed(0)} files/s over ${nodes} node(s))`,
    );
    let lost = await missing();
    for (let attempt = 0; lost > 0 && attempt < 6; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      lost = await missing();
    }
    if (lost > 0) console.log(`  active receiver's last log lines:\n${receivers[0]!.logs().slice(-3000)}`);
    lags.sort((a, b) => a - b);
    if (failedPublishes > 0) console.log(`  ${failedPublishes} publishes failed`);
    return {
      nodes,
      published: published * METRICS,
      lost,
      warmupSeconds,
      lagP50: percentile(lags, 0.5),
      lagP95: percentile(lags, 0.95),
      lagMax: lags.at(-1) ?? Number.NaN,
      wallSeconds,
      cpu,
      loadBefore,
      loadAfter,
      drainSeconds,
    };
  } finally {
    for (const receiver of receivers) await receiver.stop();
    for (const reader of readers.values()) await reader.close();
    await vhost.remove().catch((error: Error) => console.error(`removing ${vhost.name}: ${error.message}`));
    for (const node of storageNodes) await node.stop();
    if (dataDir !== rrdcached.baseDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

await requireRabbitMqtt();
const root = mkdtempSync(path.join(tmpdir(), 'kurado-scale-'));
try {
  const fileBytes = rrdFileBytes(root);
  const needed = HOSTS * METRICS * fileBytes;
  const { bavail, bsize } = statfsSync(root);
  const free = bavail * bsize;
  const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;
  if (needed > free * 0.8) {
    throw new Error(
      `${HOSTS} hosts × ${METRICS} metrics are ${HOSTS * METRICS} RRD files of ${fileBytes} bytes = ${gb(needed)}; ` +
        `${tmpdir()} has ${gb(free)} free: use fewer --hosts or --metrics`,
    );
  }
  console.log(
    `${HOSTS} hosts × ${METRICS} metrics per minute for ${MINUTES} min, ${TRANSPORT === 'mqtt' ? `MQTT (${CONNECTIONS} connections) → RabbitMQ's MQTT plugin` : 'AMQP → amq.topic'}` +
      ` → 2 × kurado receive --amqp → rrdcached (TCP); messages spread over ${SPREAD} s of each minute; ` +
      `${HOSTS * METRICS} files × ${(fileBytes / 1024).toFixed(0)} KiB = ${gb(needed)} per run; 2 cores shared by everything`,
  );
  const results: RunResult[] = [];
  for (const nodes of NODE_COUNTS) {
    console.log(`\n${nodes} storage node(s):`);
    const result = await run(nodes, root);
    results.push(result);
    console.log(
      `  values published ${result.published}, lost ${result.lost}${result.lost === 0 ? '' : '  <-- MUST BE 0'}; ` +
        `offered ${((HOSTS * METRICS) / 60).toFixed(0)} values/s (${(HOSTS / 60).toFixed(0)} messages/s); ` +
        `queue empty ${result.drainSeconds.toFixed(1)} s after the end of the last minute; measured over ${result.wallSeconds.toFixed(0)} s`,
    );
    console.log(
      `  publish → readable: p50 ${result.lagP50.toFixed(2)} s, p95 ${result.lagP95.toFixed(2)} s, max ${result.lagMax.toFixed(2)} s ` +
        `(target p95 ≤ ${LAG_TARGET_SECONDS} s: ${result.lagP95 <= LAG_TARGET_SECONDS ? 'met' : 'NOT MET'})`,
    );
    for (const [name, seconds] of Object.entries(result.cpu)) {
      console.log(
        `  CPU ${name}: ${((seconds / result.wallSeconds) * 100).toFixed(1)} % of a core, ` +
          `${((seconds * 1e6) / result.published).toFixed(2)} µs per value`,
      );
    }
    console.log(
      `  load average before ${result.loadBefore.map((load) => load.toFixed(1)).join(' ')}, after ${result.loadAfter.map((load) => load.toFixed(1)).join(' ')}`,
    );
  }
  if (results.some((result) => result.lost > 0)) process.exitCode = 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}
