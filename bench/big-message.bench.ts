/**
 * One big message must not stall the fleet: a private Mosquitto, rrdcached and `kurado receive`
 * (compiled, with an event-loop delay probe preloaded). A host whose file exists publishes one
 * line; then a plugin's 100,000-line message arrives (5,000 new metrics × 20 minutes); 3 s later
 * the small host publishes its next minute, and another every 500 ms until the big message is
 * stored. Reports how long those minutes took to become readable, the receiver's event-loop delay
 * (perf_hooks.monitorEventLoopDelay over the whole big message, and per second), reconnects,
 * redeliveries, duplicates and peak RSS.
 *
 *   npm run bench -- big-message      (LINES=100000 METRICS=5000 to change; 5,000 is the default files-per-host limit)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnKurado } from '../test/helpers/cli.js';
import { minuteMessage, minutesAgo, missingMinutes, publishMqtt } from '../test/helpers/fault-stream.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { RrdReader } from '../test/helpers/rrd-assert.js';
import { startRrdcached } from '../test/helpers/rrdcached.js';

const LINES = Number(process.env.LINES ?? 100_000);
const METRICS = Number(process.env.METRICS ?? 5_000);
const ROWS = Math.ceil(LINES / METRICS);

const PROBE = `import { monitorEventLoopDelay } from 'node:perf_hooks';
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
setInterval(() => {
  process.stderr.write(JSON.stringify({ probe: 'eld', t: Date.now(), p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 }) + '\\n');
  h.reset();
}, 1000).unref();
// The bench's window: the first SIGUSR2 starts it, the second prints it.
const window = monitorEventLoopDelay({ resolution: 10 });
let open = false;
process.on('SIGUSR2', () => {
  if (!open) {
    window.reset();
    window.enable();
  } else {
    window.disable();
    process.stderr.write(JSON.stringify({ probe: 'window', p50: window.percentile(50) / 1e6, p99: window.percentile(99) / 1e6, max: window.max / 1e6, count: window.count }) + '\\n');
  }
  open = !open;
});
`;

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const root = mkdtempSync(path.join(tmpdir(), 'kurado-bigmsg-'));
const probe = path.join(root, 'eld-probe.mjs');
writeFileSync(probe, PROBE);
const [broker, rrdcached] = await Promise.all([startMosquitto(), startRrdcached()]);
const reader = new RrdReader(rrdcached.address);
const receive = spawnKurado(
  [
    'receive',
    ...['--mqtt', broker.url, '--client-id', `bench-bigmsg-${process.pid}`],
    ...['--rrdcached', rrdcached.address, '--data-dir', rrdcached.baseDir],
    ...['--store', `sqlite:${path.join(root, 'kurado.db')}`],
  ],
  { KURADO_LOG_LEVEL: 'info' },
  ['--import', probe],
);
let failed = false;
try {
  await receive.waitForLog(/subscribed to agent updates/, 60_000);
  const pid = receive.child.pid as number;
  const start = minutesAgo(60);
  const small = 'small.example.com';
  await publishMqtt(broker.url, [minuteMessage(small, start, 0)]);
  while ((await missingMinutes(reader, rrdcached.baseDir, small, start, 1)).length > 0) await sleep(100);

  const big = 'bighost.example.com';
  const lines: string[] = [];
  for (let row = 0; row < ROWS; row++) {
    for (let metric = 0; metric < METRICS && lines.length < LINES; metric++) {
      lines.push(`proc.metrics.p${metric}.gauge\t${metric + row}\t${start + row * 60}`);
    }
  }
  const payload = `${lines.join('\n')}\n`;
  let maxRss = rssMb(pid);
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssMb(pid));
  }, 250);
  const bigAt = Date.now();
  process.kill(pid, 'SIGUSR2');
  await publishMqtt(broker.url, [{ host: big, payload }]);
  // 3 s later the small host publishes its next minute (the scenario of the report), and then
  // one more minute every 500 ms until the big message is stored: each one's lag is measured.
  await sleep(3000);
  const lastFile = path.join(rrdcached.baseDir, big, 'proc', `p${METRICS - 1}.gauge.rrd`);
  const lastTimestamp = start + (ROWS - 1) * 60;
  let bigDone = Number.NaN;
  /** Small minute → when it was published; lags in seconds once readable. */
  const publishedAt = new Map<number, number>();
  const smallLags = new Map<number, number>();
  let nextMinute = 1;
  let nextPublishAt = Date.now();
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline && (Number.isNaN(bigDone) || smallLags.size < publishedAt.size)) {
    if (Number.isNaN(bigDone) && Date.now() >= nextPublishAt) {
      publishedAt.set(nextMinute, Date.now());
      await publishMqtt(broker.url, [minuteMessage(small, start, nextMinute)]);
      nextMinute++;
      nextPublishAt += 500;
    }
    const missing = new Set(await missingMinutes(reader, rrdcached.baseDir, small, start, nextMinute));
    for (const [minute, at] of publishedAt) {
      if (!smallLags.has(minute) && !missing.has(minute)) smallLags.set(minute, (Date.now() - at) / 1000);
    }
    if (Number.isNaN(bigDone)) {
      const rows = await reader.fetch(lastFile, lastTimestamp - 60, lastTimestamp).catch(() => new Map());
      if (rows.get(lastTimestamp) === METRICS - 1 + ROWS - 1) bigDone = (Date.now() - bigAt) / 1000;
    }
    await sleep(50);
  }
  const smallLag = smallLags.get(1) ?? Number.NaN;
  const worstSmallLag = Math.max(...smallLags.values());
  clearInterval(sampler);
  process.kill(pid, 'SIGUSR2');
  await sleep(1500);
  const logs = receive.logs().split('\n');
  const probes = logs
    .filter((line) => line.startsWith('{"probe":"eld"'))
    .map((line) => JSON.parse(line) as { t: number; p50: number; p99: number; max: number })
    .filter(
      (sample) =>
        sample.t >= bigAt && sample.t <= bigAt + (Number.isNaN(bigDone) ? 300 : bigDone) * 1000 + 1000,
    );
  const windowLine = logs.find((line) => line.startsWith('{"probe":"window"'));
  const whole = windowLine
    ? (JSON.parse(windowLine) as { p50: number; p99: number; max: number; count: number })
    : undefined;
  const worstP99 = Math.max(0, ...probes.map((sample) => sample.p99));
  const reconnects = logs.filter((line) => line.includes('reconnecting to MQTT broker')).length;
  const redelivered = (
    broker.output().match(/Sending PUBLISH to \S+ \(d1, q1, r0, m\d+, 'kurado\/update\/bighost/g) ?? []
  ).length;
  const code = await receive.stop('SIGTERM');
  const summary = receive
    .logs()
    .split('\n')
    .find((line) => line.includes('stopped after'));
  const duplicates = summary ? (JSON.parse(summary) as { duplicates?: number }).duplicates : undefined;
  console.log(
    [
      `big message: ${LINES} lines (${METRICS} new metrics × ${ROWS} minutes), ${(payload.length / 1e6).toFixed(1)} MB; stored in ${bigDone.toFixed(1)} s`,
      `small host published 3 s after it: readable after ${smallLag.toFixed(2)} s; ${smallLags.size} minutes published every 500 ms until the big message was stored: worst ${worstSmallLag.toFixed(2)} s (target ≤ 2 s)`,
      `receive event-loop delay from publishing the big message until it was stored: p50 ${whole?.p50.toFixed(0)} ms, p99 ${whole?.p99.toFixed(0)} ms, max ${whole?.max.toFixed(0)} ms (${whole?.count} samples; target p99 ≤ 100 ms); worst per-second p99 ${worstP99.toFixed(0)} ms`,
      `MQTT reconnects of receive: ${reconnects}; broker redeliveries of the big message: ${redelivered}; duplicates counted: ${duplicates ?? 'n/a'}; receive peak RSS ${maxRss.toFixed(0)} MB; exit ${code}`,
    ].join('\n'),
  );
  if (Number.isNaN(bigDone) || Number.isNaN(smallLag)) failed = true;
} finally {
  if (receive.child.exitCode === null) await receive.stop('SIGKILL');
  await reader.close();
  await Promise.all([rrdcached.stop(), broker.stop()]);
  rmSync(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
