/**
 * End-to-end ingest: simulated agents publish 50-metric messages to a private Mosquitto →
 * `kurado receive` (the real CLI, SQLite store) → rrdcached, on files already created. In the same
 * run, the raw rrdcached BATCH rate for the same kind of updates is the baseline; the report is
 * values/s, the pipeline/raw ratio, receive's CPU µs per value and RSS, create throughput for new
 * files, and the time from publish to a value readable through rrdcached FETCH.
 *
 *   npm run bench -- ingest            (AGENTS=500 ROUNDS=120 to change the size)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { topicForHost } from '../src/core/protocol/host.js';
import { rrdFilePath } from '../src/core/rrd/layout.js';
import { RrdcachedClient } from '../src/core/rrd/rrdcached.js';
import { startRrdcachedDaemon } from '../src/core/rrd/rrdcached-daemon.js';
import type { RrdUpdate } from '../src/core/rrd/types.js';
import { createRrdWriter } from '../src/core/rrd/writer.js';
import { type RunningKurado, spawnKurado } from '../test/helpers/cli.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';

const AGENTS = Number(process.env.AGENTS ?? 500);
const METRICS = 50;
const ROUNDS = Number(process.env.ROUNDS ?? 120);
const FILES = AGENTS * METRICS;

const root = mkdtempSync(path.join(tmpdir(), 'kurado-bench-'));
const dataDir = path.join(root, 'data');
const hosts = Array.from({ length: AGENTS }, (_, index) => `10.${Math.floor(index / 250)}.${index % 250}.1`);
const metricName = (metric: number) => `bench-metric-${String(metric).padStart(2, '0')}`;
const now = Math.floor(Date.now() / 1000);
// Three blocks of rounds, all in the past: create, raw baseline, pipeline.
const t0 = now - (now % 60) - (3 * ROUNDS + 20) * 60;

function payload(round: number): string {
  const timestamp = t0 + round * 60;
  let text = '';
  for (let metric = 0; metric < METRICS; metric++) {
    text += `bench.metrics.${metricName(metric)}.gauge\t${(round * 7 + metric) % 1000}\t${timestamp}\n`;
  }
  return text;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

function rssMegabytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function waitForUpdates(client: RrdcachedClient, target: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await client.stats();
    if ((stats.UpdatesReceived ?? 0) >= target) return;
    if (Date.now() > deadline)
      throw new Error(`rrdcached received ${stats.UpdatesReceived} of ${target} updates in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const daemon = await startRrdcachedDaemon({ dataDir, stateDir: path.join(root, 'state') });
const mosquitto = await startMosquitto();
const client = new RrdcachedClient(daemon.address);
let receiver: RunningKurado | undefined;
try {
  console.log(
    `${AGENTS} agents × ${METRICS} metrics = ${FILES} files, ${ROUNDS} rounds per phase, 2 cores shared by all`,
  );

  // 1. Create throughput: the first value of every file goes through the writer, which creates it.
  const writer = createRrdWriter({ dataDir, rrdcached: daemon.address });
  const firstRound: RrdUpdate[] = [];
  for (const host of hosts) {
    for (let metric = 0; metric < METRICS; metric++) {
      firstRound.push({
        path: rrdFilePath(dataDir, host, 'bench', metricName(metric), 'gauge'),
        type: 'gauge',
        timestamp: t0,
        value: 1,
      });
    }
  }
  let started = performance.now();
  const created = await writer.write(firstRound);
  const createSeconds = (performance.now() - started) / 1000;
  await writer.close();
  console.log(
    `create: ${created.created} files in ${createSeconds.toFixed(1)} s = ${Math.round(created.created / createSeconds)} files/s`,
  );

  // 2. Raw baseline: one BATCH per round of plain UPDATE lines, no parsing, no store.
  const paths = firstRound.map((update) => update.path);
  started = performance.now();
  for (let round = 1; round <= ROUNDS; round++) {
    const timestamp = t0 + round * 60;
    const errors = await client.batch(
      paths.map((file, index) => `UPDATE ${file} ${timestamp}:${(round + index) % 1000}`),
    );
    if (errors.length > 0)
      throw new Error(`raw BATCH refused ${errors.length} updates: ${errors[0]?.message}`);
  }
  const rawSeconds = (performance.now() - started) / 1000;
  const rawRate = (ROUNDS * FILES) / rawSeconds;
  console.log(
    `raw rrdcached BATCH, one BATCH of ${FILES.toLocaleString()} lines per minute: ${Math.round(rawRate).toLocaleString()} values/s`,
  );

  // 2b. Raw, one BATCH per agent message (50 lines) in arrival order, for a tenth of the rounds.
  const perMessageRounds = Math.max(1, Math.floor(ROUNDS / 10));
  started = performance.now();
  for (let round = ROUNDS + 1; round <= ROUNDS + perMessageRounds; round++) {
    const timestamp = t0 + round * 60;
    for (let agent = 0; agent < AGENTS; agent++) {
      const lines = paths
        .slice(agent * METRICS, (agent + 1) * METRICS)
        .map((file, index) => `UPDATE ${file} ${timestamp}:${(round + index) % 1000}`);
      const errors = await client.batch(lines);
      if (errors.length > 0)
        throw new Error(`raw BATCH refused ${errors.length} updates: ${errors[0]?.message}`);
    }
  }
  const perMessageRate = (perMessageRounds * FILES) / ((performance.now() - started) / 1000);
  console.log(
    `raw rrdcached BATCH, one BATCH per 50-value message: ${Math.round(perMessageRate).toLocaleString()} values/s`,
  );

  // 3. Pipeline: agents → Mosquitto → kurado receive → rrdcached.
  const storeUrl = `sqlite:${path.join(root, 'kurado.db')}`;
  receiver = spawnKurado(
    [
      'receive',
      '--mqtt',
      mosquitto.url,
      '--rrdcached',
      daemon.address,
      '--data-dir',
      dataDir,
      '--store',
      storeUrl,
      '--client-id',
      'bench',
    ],
    { KURADO_LOG_LEVEL: 'info' },
    // PROFILE_RECEIVE=/dir writes a CPU profile of receive there; RECEIVE_NODE_ARGS adds node flags.
    [
      ...(process.env.PROFILE_RECEIVE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_RECEIVE}`] : []),
      ...(process.env.RECEIVE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
  );
  await receiver.waitForLog(/subscribed to agent updates/);
  const pid = receiver.child.pid!;
  const publishers = await Promise.all(
    Array.from({ length: 4 }, (_, index) =>
      mqtt.connectAsync(mosquitto.url, { clientId: `bench-agents-${index}` }),
    ),
  );
  const baseline = (await client.stats()).UpdatesReceived ?? 0;
  const cpuBefore = cpuSeconds(pid);
  started = performance.now();
  const pipelineStart = ROUNDS + perMessageRounds + 1;
  for (let round = pipelineStart; round < pipelineStart + ROUNDS; round++) {
    const message = payload(round);
    await Promise.all(
      hosts.map((host, index) =>
        publishers[index % publishers.length]!.publishAsync(topicForHost(host), message, { qos: 1 }),
      ),
    );
    // Sustained load, not an ever-growing backlog: at most two minutes' messages in the broker,
    // as a real fleet (one message per agent per minute) would never queue more.
    const stored = round - pipelineStart - 1;
    if (stored > 0) await waitForUpdates(client, baseline + stored * FILES, 120_000);
  }
  await waitForUpdates(client, baseline + ROUNDS * FILES, 120_000);
  if (/being dropped/.test(mosquitto.output()))
    console.log('WARNING: Mosquitto dropped messages (see its log)');
  const pipelineSeconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(pid) - cpuBefore;
  const pipelineRate = (ROUNDS * FILES) / pipelineSeconds;
  console.log(
    `pipeline: ${(ROUNDS * FILES).toLocaleString()} values (${(ROUNDS * AGENTS).toLocaleString()} messages) in ${pipelineSeconds.toFixed(2)} s = ${Math.round(pipelineRate).toLocaleString()} values/s`,
  );
  console.log(
    `pipeline/raw ratio: ${(pipelineRate / rawRate).toFixed(2)} against one BATCH per minute, ${(pipelineRate / perMessageRate).toFixed(2)} against one BATCH per message`,
  );
  console.log(
    `receive CPU: ${((cpu * 1e6) / (ROUNDS * FILES)).toFixed(2)} µs per value; peak RSS ${rssMegabytes(pid).toFixed(0)} MB`,
  );

  // 4. Freshness: publish one more minute for one host, time until FETCH shows the value.
  const lastRound = pipelineStart + ROUNDS;
  const file = rrdFilePath(dataDir, hosts[0]!, 'bench', metricName(0), 'gauge');
  const expected = (lastRound * 7) % 1000;
  started = performance.now();
  await publishers[0]!.publishAsync(topicForHost(hosts[0]!), payload(lastRound), { qos: 1 });
  for (;;) {
    const fetched = await client.fetch(file, 'AVERAGE', t0 + (lastRound - 1) * 60, t0 + lastRound * 60);
    const row = fetched.rows.find((candidate) => candidate.timestamp === t0 + lastRound * 60);
    if (row?.values[0] === expected) break;
    if (performance.now() - started > 30_000)
      throw new Error('published value not readable through FETCH within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  console.log(`publish → readable through rrdcached FETCH: ${Math.round(performance.now() - started)} ms`);

  await Promise.all(publishers.map((publisher) => publisher.endAsync()));
} finally {
  // Also on failure: a receiver left running would retry forever against the removed broker.
  await receiver?.stop();
  await client.close();
  await mosquitto.stop();
  await daemon.stop();
  rmSync(root, { recursive: true, force: true });
}
