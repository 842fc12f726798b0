/**
 * `kurado up` under a fleet: the compiled CLI in its own process (own data dir, free ports, its
 * own rrdcached, SQLite store, its embedded broker, this machine's agent) and, in this process,
 * 1,000 simulated agents — one MQTT connection each, as real agents have, QoS 1 like the real
 * agent — each publishing one message of 50 gauge metrics per minute, the agents spread evenly
 * over the minute. The first minute creates 50,000 RRD files.
 *
 * Readable: a graph would show the value, i.e. `rrdtool fetch --daemon` (which makes rrdcached
 * write the file first) returns the published value for its minute. For every message one of its
 * 50 files (a different one each minute) is polled so until the value shows: publish → readable
 * lag. At the end every value of every file is fetched and compared: values lost must be 0.
 * RSS is the `up` process's (rrdcached, a process of its own, is reported beside it).
 *
 *   npm run bench -- up [--minutes 5] [--agents 1000] [--metrics 50]
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { topicForHost } from '../src/core/protocol/host.js';
import { spawnKurado } from '../test/helpers/cli.js';
import { freePort } from '../test/helpers/mosquitto.js';
import { RrdReader } from '../test/helpers/rrd-assert.js';

const { values: options } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    agents: { type: 'string', default: '1000' },
    metrics: { type: 'string', default: '50' },
  },
});
const MINUTES = Number(options.minutes);
const AGENTS = Number(options.agents);
const METRICS = Number(options.metrics);
for (const [name, value] of Object.entries({ MINUTES, AGENTS, METRICS })) {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name.toLowerCase()} must be a positive integer`);
}
const TARGET_RSS_MB = 500;
const TARGET_P95_S = 5;
/** How long values may take to become readable after the last publish before they count as lost. */
const SETTLE_MS = 120_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds a process used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The rrdcached that `up` started, a child of it. */
function rrdcachedPid(upPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${upPid}/task/${upPid}/children`, 'utf8').trim().split(/\s+/);
    return children
      .map(Number)
      .find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'rrdcached');
  } catch {
    return undefined;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** up's warnings and errors, counted by message: what went wrong when a target is missed. */
function problems(logs: string): string[] {
  const counts = new Map<string, number>();
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    const record = JSON.parse(line) as { level: number; msg?: string };
    if (record.level < 40) continue;
    const key = `${record.level >= 50 ? 'error' : 'warn'}: ${(record.msg ?? '').slice(0, 160)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([key, count]) => `up ${key} (×${count})`);
}

const hostOf = (agent: number) => `bench-agent-${String(agent).padStart(4, '0')}.example.com`;
const metricName = (metric: number) => `m${String(metric).padStart(2, '0')}`;
/** Distinct per agent, metric and minute, so a value read back names what was published. */
const publishedValue = (agent: number, metric: number, minute: number) =>
  agent * 1000 + minute * 100 + metric;

const root = mkdtempSync(path.join(tmpdir(), 'kurado-upbench-'));
const dataDir = path.join(root, 'data');
const webPort = await freePort();
const up = spawnKurado(
  ['up', '--data-dir', dataDir, '--listen', `127.0.0.1:${webPort}`, '--mqtt-listen', '127.0.0.1:0'],
  { KURADO_LOG_LEVEL: 'info', KURADO_LOG_FORMAT: 'json' },
);
const clients: MqttClient[] = [];
const readers: RrdReader[] = [];
let failed = false;
try {
  const upLine = JSON.parse(await up.waitForLog(/"msg":"Kurado is up/, 120_000)) as {
    mqttPort: number;
    rrdcached: string;
  };
  const upPid = up.child.pid as number;
  const cachedPid = rrdcachedPid(upPid);
  const brokerUrl = `mqtt://127.0.0.1:${upLine.mqttPort}`;
  readers.push(new RrdReader(upLine.rrdcached), new RrdReader(upLine.rrdcached));
  const [probeReader] = readers as [RrdReader, RrdReader];

  // One connection per agent, opened 50 at a time, with the real agent's client options.
  let disconnects = 0;
  for (let first = 0; first < AGENTS; first += 50) {
    const batch = [];
    for (let agent = first; agent < Math.min(AGENTS, first + 50); agent++) {
      batch.push(
        mqtt.connectAsync(brokerUrl, {
          clientId: `kurado-agent-${hostOf(agent)}`,
          keepalive: 60,
          clean: true,
          protocolVersion: 4,
          reconnectPeriod: 1000,
          writeCache: false,
        }),
      );
    }
    for (const client of await Promise.all(batch)) {
      client.on('offline', () => disconnects++);
      clients.push(client);
    }
  }
  const rssAfterConnect = rssMb(upPid);

  let maxRss = rssMb(upPid);
  let maxCachedRss = rssMb(cachedPid);
  const rssByMinute: number[] = [];
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssMb(upPid));
    maxCachedRss = Math.max(maxCachedRss, rssMb(cachedPid));
  }, 500);
  const cpuAtStart = cpuSeconds(upPid);
  const cachedCpuAtStart = cachedPid === undefined ? 0 : cpuSeconds(cachedPid);
  const progress = setInterval(() => {
    console.log(
      `  ${((Date.now() - startMs) / 1000).toFixed(0)} s: awaiting PUBACK ${unacknowledged}, not yet readable ${outstanding.size}, agent disconnects ${disconnects}, up RSS ${rssMb(upPid).toFixed(0)} MB; probe fetch p50/max ${percentile(
        fetchMs.sort((a, b) => a - b),
        50,
      )}/${fetchMs.at(-1)} ms, polling pass max ${Math.max(0, ...passMs)} ms`,
    );
    fetchMs = [];
    passMs = [];
  }, 15_000);

  interface Probe {
    file: string;
    timestamp: number;
    value: number;
    minute: number;
    publishedAt: number;
    lagMs?: number;
  }
  const probes: Probe[] = [];
  const outstanding = new Set<Probe>();
  /** Durations of the probe fetches and of whole polling passes since the last progress line. */
  let fetchMs: number[] = [];
  let passMs: number[] = [];
  let publishErrors = 0;
  let unacknowledged = 0;
  let publishing = true;
  const startMs = Date.now();
  let lastPublishAt = startMs;

  // Poll the sampled file of every message not yet readable, oldest first, one fetch at a time.
  const poller = (async () => {
    while (publishing || outstanding.size > 0) {
      const passStarted = Date.now();
      for (const probe of [...outstanding]) {
        const fetchStarted = Date.now();
        const rows = await probeReader
          .fetch(probe.file, probe.timestamp - 60, probe.timestamp)
          .catch(() => new Map<number, number | null>());
        fetchMs.push(Date.now() - fetchStarted);
        if (rows.get(probe.timestamp) === probe.value) {
          probe.lagMs = Date.now() - probe.publishedAt;
          outstanding.delete(probe);
        }
      }
      passMs.push(Date.now() - passStarted);
      if (!publishing && Date.now() - lastPublishAt > SETTLE_MS) break;
      await sleep(Math.max(0, 100 - (Date.now() - passStarted)));
    }
  })();

  const firstTimestamp = Math.floor(startMs / 60_000) * 60;
  const publishes: Promise<unknown>[] = [];
  for (let minute = 0; minute < MINUTES; minute++) {
    const timestamp = firstTimestamp + minute * 60;
    for (let agent = 0; agent < AGENTS; agent++) {
      const due = startMs + (minute * AGENTS + agent) * (60_000 / AGENTS);
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const lines: string[] = [];
      for (let metric = 0; metric < METRICS; metric++) {
        lines.push(
          `bench.metrics.${metricName(metric)}.gauge\t${publishedValue(agent, metric, minute)}\t${timestamp}`,
        );
      }
      const sampled = (agent + minute) % METRICS;
      const probe: Probe = {
        file: path.join(dataDir, hostOf(agent), 'bench', `${metricName(sampled)}.gauge.rrd`),
        timestamp,
        value: publishedValue(agent, sampled, minute),
        minute,
        publishedAt: Date.now(),
      };
      probes.push(probe);
      outstanding.add(probe);
      lastPublishAt = probe.publishedAt;
      unacknowledged++;
      publishes.push(
        (clients[agent] as MqttClient)
          .publishAsync(topicForHost(hostOf(agent)), `${lines.join('\n')}\n`, { qos: 1 })
          .then(
            () => unacknowledged--,
            () => publishErrors++,
          ),
      );
    }
    rssByMinute.push(rssMb(upPid));
    console.log(
      `minute ${minute + 1}/${MINUTES}: published ${AGENTS} messages; up RSS ${rssMb(upPid).toFixed(0)} MB; not yet readable ${outstanding.size}`,
    );
  }
  // A message the broker never acknowledged is one an agent would send again: wait, but bounded.
  await Promise.race([Promise.all(publishes), sleep(SETTLE_MS)]);
  publishing = false;
  await poller;
  const cpuUsed = cpuSeconds(upPid) - cpuAtStart;
  const cachedCpuUsed = cachedPid === undefined ? Number.NaN : cpuSeconds(cachedPid) - cachedCpuAtStart;
  const fileBytes = statSync(path.join(dataDir, hostOf(0), 'bench', `${metricName(0)}.gauge.rrd`)).size;
  clearInterval(sampler);
  clearInterval(progress);

  // Every value of every file, read back through rrdcached.
  const expected = AGENTS * METRICS * MINUTES;
  let lost = 0;
  const lostExamples: string[] = [];
  const checkStarted = Date.now();
  const checkAgent = async (reader: RrdReader, agent: number) => {
    for (let metric = 0; metric < METRICS; metric++) {
      const file = path.join(dataDir, hostOf(agent), 'bench', `${metricName(metric)}.gauge.rrd`);
      const rows = await reader
        .fetch(file, firstTimestamp - 60, firstTimestamp + (MINUTES - 1) * 60)
        .catch(() => new Map<number, number | null>());
      for (let minute = 0; minute < MINUTES; minute++) {
        if (rows.get(firstTimestamp + minute * 60) !== publishedValue(agent, metric, minute)) {
          lost++;
          if (lostExamples.length < 5) lostExamples.push(`${file} minute ${minute}`);
        }
      }
    }
  };
  await Promise.all(
    readers.map(async (reader, index) => {
      for (let agent = index; agent < AGENTS; agent += readers.length) await checkAgent(reader, agent);
    }),
  );
  const checkSeconds = (Date.now() - checkStarted) / 1000;

  const lags = probes
    .filter((probe) => probe.lagMs !== undefined)
    .map((probe) => (probe.lagMs as number) / 1000)
    .sort((a, b) => a - b);
  const neverReadable = probes.length - lags.length;
  const perMinute = Array.from({ length: MINUTES }, (_, minute) => {
    const minuteLags = probes
      .filter((probe) => probe.minute === minute && probe.lagMs !== undefined)
      .map((probe) => (probe.lagMs as number) / 1000)
      .sort((a, b) => a - b);
    return `minute ${minute + 1}: p50 ${percentile(minuteLags, 50).toFixed(2)} s, p95 ${percentile(minuteLags, 95).toFixed(2)} s, max ${(minuteLags.at(-1) ?? Number.NaN).toFixed(2)} s, RSS ${rssByMinute[minute]?.toFixed(0)} MB`;
  });
  const p95 = percentile(lags, 95);
  const disconnectsDuringRun = disconnects;
  const code = await up.stop('SIGTERM');
  const summary = up
    .logs()
    .split('\n')
    .filter((line) => line.includes('"msg":"stopped after'));
  console.log(
    [
      `kurado up with ${AGENTS} agents (one MQTT connection each) × ${METRICS} metrics, one message per agent per minute, ${MINUTES} minutes: ${expected} values, ${AGENTS * METRICS} files`,
      `up RSS: after connecting ${rssAfterConnect.toFixed(0)} MB, max ${maxRss.toFixed(0)} MB (target ≤ ${TARGET_RSS_MB} MB); its rrdcached max ${maxCachedRss.toFixed(0)} MB`,
      `CPU over the run: up ${cpuUsed.toFixed(1)} s (${((cpuUsed / expected) * 1e6).toFixed(1)} µs per value), its rrdcached ${cachedCpuUsed.toFixed(1)} s; the first minute created ${AGENTS * METRICS} files of ${(fileBytes / 1024).toFixed(0)} KiB = ${((AGENTS * METRICS * fileBytes) / 2 ** 30).toFixed(1)} GiB; load average at the end ${loadavg()
        .map((load) => load.toFixed(1))
        .join(' ')}`,
      `publish → readable (rrdtool fetch --daemon shows the value), one sampled file per message, ${lags.length} messages: p50 ${percentile(lags, 50).toFixed(2)} s, p95 ${p95.toFixed(2)} s, max ${(lags.at(-1) ?? Number.NaN).toFixed(2)} s (target p95 ≤ ${TARGET_P95_S} s); never readable within ${SETTLE_MS / 1000} s: ${neverReadable}`,
      ...perMinute.map((line) => `  ${line}`),
      `values lost: ${lost} of ${expected} (every file fetched back in ${checkSeconds.toFixed(0)} s)${lostExamples.length > 0 ? `, e.g. ${lostExamples.join('; ')}` : ''}`,
      `publish errors ${publishErrors}, never acknowledged ${unacknowledged}, agent disconnects during the run ${disconnectsDuringRun}; up exit ${code} after SIGTERM`,
      ...problems(up.logs()),
      ...summary.map((line) => `up's summary: ${line}`),
    ].join('\n'),
  );
  failed = lost > 0 || neverReadable > 0 || unacknowledged > 0 || code !== 0;
} finally {
  await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
  // SIGTERM first: `up` stops its rrdcached; SIGKILL only when it does not stop in time.
  await Promise.race([up.stop('SIGTERM'), sleep(30_000)]);
  await up.stop('SIGKILL');
  await Promise.all(readers.map((reader) => reader.close()));
  rmSync(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
