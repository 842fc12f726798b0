/**
 * Pull path: one `kurado pull-worker` (the compiled CLI) against a loopback nginx, redis-server and
 * memcached, jobs from RabbitMQ, values through rrdcached and a MariaDB store; next to it, in the
 * same run and taking turns with it, a bare loop of the same fetches at the same concurrency
 * without queue or Ingestor. Then the scheduler's round for 10,000 hosts × 3 pull plugins: read the hosts from MariaDB and
 * enqueue 30,000 jobs with publisher confirms.
 *
 *   npm run bench -- pull            (JOBS=12000 CONCURRENCY=16 SECONDS=15 ROUNDS=4 WARMUP_JOBS=3000
 *                                      to change the size, STORE=sqlite for the embedded store
 *                                      instead of MariaDB)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { AmqpSchedulerBackend, lockQueueOf, roundsQueueOf } from '../src/core/pull/amqp.js';
import { encodeJob, type PullJob, pluginArgsOf, pluginNameOf } from '../src/core/pull/job.js';
import { jobsForRound } from '../src/core/pull/scheduler.js';
import { startRrdcachedDaemon } from '../src/core/rrd/rrdcached-daemon.js';
import { openStore } from '../src/core/store/index.js';
import { fetcherFor, isPullPlugin } from '../src/pull/registry.js';
import type { PullTarget } from '../src/pull/types.js';
import { type RunningKurado, spawnKurado } from '../test/helpers/cli.js';
import { createThrowawayDatabase } from '../test/helpers/mariadb.js';
import { AMQP_URL, hostRecord, logRecords } from '../test/helpers/pull-run.js';
import { type RunningServer, startMemcached, startNginx, startRedis } from '../test/helpers/servers.js';

const JOBS = Number(process.env.JOBS ?? 12_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const BARE_SECONDS = Number(process.env.SECONDS ?? 15);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const WARMUP_JOBS = Number(process.env.WARMUP_JOBS ?? 3000);
const SCHEDULE_HOSTS = Number(process.env.SCHEDULE_HOSTS ?? 10_000);
const ADDRESS = '127.0.0.1';

/** CPU milliseconds (user + system) a process has used so far, from Linux's /proc. */
const cpuMsOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

const root = mkdtempSync(path.join(tmpdir(), 'kurado-bench-pull-'));
const dataDir = path.join(root, 'data');
const servers: RunningServer[] = [];
const queue = `kurado.pull.bench-${process.pid}`;
const scheduleQueue = `${queue}-schedule`;
const database = await createThrowawayDatabase('kurado_bench_pull');
const daemon = await startRrdcachedDaemon({ dataDir, stateDir: path.join(root, 'state') });
const broker = await amqp.connect(AMQP_URL).catch((error: Error) => {
  throw new Error(`RabbitMQ at ${AMQP_URL} unreachable: ${error.message}`);
});
const channel = await broker.createChannel();
let worker: RunningKurado | undefined;
try {
  servers.push(await startNginx(), await startRedis(), await startMemcached());
  const [nginx, redis, memcached] = servers as [RunningServer, RunningServer, RunningServer];
  const plugins = [`nginx:${nginx.port}`, `redis:${redis.port}`, `memcached:${memcached.port}`];
  const storeUrl = process.env.STORE === 'sqlite' ? `sqlite:${path.join(root, 'kurado.db')}` : database.url;
  const store = await openStore(storeUrl);
  await store.migrate();
  await store.upsertHosts([hostRecord(ADDRESS, plugins)]);
  console.log(
    `one worker, concurrency ${CONCURRENCY}, ${JOBS} jobs over loopback ${plugins.join(', ')}, store ${storeUrl.split(':')[0]}; 2 cores shared by all`,
  );

  // The worker runs from the start, idle while the queue is empty. The two sides then take turns
  // (ROUNDS rounds: the bare loop for SECONDS/ROUNDS seconds, then the worker drains JOBS/ROUNDS
  // jobs), so a change in the load other work puts on the shared cores hits both sides alike.
  await channel.assertQueue(queue, { durable: true });
  worker = spawnKurado(
    [
      'pull-worker',
      '--amqp',
      AMQP_URL,
      '--queue',
      queue,
      '--concurrency',
      String(CONCURRENCY),
      '--store',
      storeUrl,
      '--data-dir',
      dataDir,
      '--rrdcached',
      daemon.address,
    ],
    { KURADO_LOG_LEVEL: 'info' },
    // PROFILE_WORKER=/dir writes a CPU profile of the worker there.
    process.env.PROFILE_WORKER ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_WORKER}`] : [],
  );
  await worker.waitForLog(/consuming pull jobs/);
  const workerPid = worker.child.pid!;
  const prefetch = Number(logRecords(worker).find((record) => record.prefetch !== undefined)?.prefetch);

  // Bare loop: the same fetches, CONCURRENCY at once, no queue, no Ingestor, no store.
  const targets: PullTarget[] = plugins.map((plugin) => ({
    address: ADDRESS,
    hostname: ADDRESS,
    plugin,
    name: pluginNameOf(plugin),
    args: pluginArgsOf(plugin),
    settings: {},
  }));
  const bareLatencies: number[] = [];
  let bareFetches = 0;
  let bareMs = 0;
  let bareCpuMs = 0;
  let next = 0;
  const bareRound = async (seconds: number) => {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const end = start + seconds * 1000;
    let fetches = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const target = targets[next++ % targets.length]!;
          const started = performance.now();
          await fetcherFor(target.name)!.fetch(target, {
            signal: AbortSignal.timeout(10_000),
            timeoutMs: 10_000,
            now: Math.floor(Date.now() / 1000),
          });
          bareLatencies.push(performance.now() - started);
          fetches++;
        }
      }),
    );
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    bareCpuMs += (cpu.user + cpu.system) / 1000;
    bareFetches += fetches;
    bareMs += ms;
    return (fetches / ms) * 60_000;
  };

  // Worker: publish its share of the jobs and time until the queue is empty. The worker may then
  // still hold up to `prefetch` of them unacknowledged: they are not counted as done.
  let workerJobs = 0;
  let workerMs = 0;
  let workerCpuMs = 0;
  const workerRound = async (jobs: number) => {
    const minute = Math.floor(Date.now() / 60_000) * 60;
    const start = performance.now();
    const cpuStart = cpuMsOf(workerPid);
    for (let i = 0; i < jobs; i++) {
      const job: PullJob = {
        host: ADDRESS,
        plugin: plugins[i % plugins.length]!,
        minute,
        deadline: minute + 3600,
      };
      if (!channel.sendToQueue(queue, encodeJob(job)))
        await new Promise((resolve) => channel.once('drain', resolve));
    }
    for (;;) {
      const { messageCount } = await channel.checkQueue(queue);
      if (messageCount === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const ms = performance.now() - start;
    const done = Math.max(0, jobs - prefetch);
    workerCpuMs += cpuMsOf(workerPid) - cpuStart;
    workerJobs += done;
    workerMs += ms;
    // Let the jobs still in flight finish before the bare loop's turn.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return (done / ms) * 60_000;
  };

  // Warm-up, not counted: the worker creates its RRD files, both sides' code gets compiled.
  await bareRound(2);
  await workerRound(WARMUP_JOBS);
  bareFetches = 0;
  bareMs = 0;
  bareLatencies.length = 0;
  bareCpuMs = 0;
  workerJobs = 0;
  workerMs = 0;
  workerCpuMs = 0;
  const rounds: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const bare = await bareRound(BARE_SECONDS / ROUNDS);
    const pulled = await workerRound(Math.round(JOBS / ROUNDS));
    rounds.push(`${Math.round(pulled / 1000)}k/${Math.round(bare / 1000)}k = ${(pulled / bare).toFixed(2)}`);
  }
  const bareRate = (bareFetches / bareMs) * 60_000;
  bareLatencies.sort((a, b) => a - b);
  console.log(
    `bare loop: ${Math.round(bareRate).toLocaleString()} fetches/min, p95 ${percentile(bareLatencies, 0.95).toFixed(1)} ms, ${(bareCpuMs / bareFetches).toFixed(2)} ms CPU per fetch`,
  );
  await worker.stop('SIGTERM');
  const summaries = logRecords(worker).filter((record) => typeof record.stored === 'number');
  const stored = summaries.reduce((sum, record) => sum + Number(record.stored), 0);
  const failed = summaries.reduce((sum, record) => sum + Number(record.failed), 0);
  const p95 = Math.max(...summaries.map((record) => Number(record.p95Ms)));
  const workerRate = (workerJobs / workerMs) * 60_000;
  console.log(
    `pull-worker (prefetch ${prefetch}): ${stored} jobs stored (${failed} failed fetches) in ${(workerMs / 1000).toFixed(1)} s = ${Math.round(workerRate).toLocaleString()} jobs/min, p95 ${p95} ms from delivery to ack, ${(workerCpuMs / workerJobs).toFixed(2)} ms worker CPU per job`,
  );
  console.log(`rounds (worker/bare jobs per min): ${rounds.join(', ')}`);
  console.log(`worker/bare ratio: ${(workerRate / bareRate).toFixed(2)} (target ≥ 0.7; ≥ 30,000 jobs/min)`);
  if (stored < JOBS + WARMUP_JOBS) throw new Error(`only ${stored} of ${JOBS + WARMUP_JOBS} jobs stored`);

  // 3. Scheduler round: 10,000 hosts × 3 pull plugins (+ base) from MariaDB into RabbitMQ.
  if (SCHEDULE_HOSTS > 0) {
    await store.upsertHosts(
      Array.from({ length: SCHEDULE_HOSTS }, (_, i) =>
        hostRecord(`10.${Math.floor(i / 250)}.${i % 250}.1`, ['base', ...plugins]),
      ),
    );
    const logger = (await import('../src/core/log.js')).createLogger('bench', { level: 'warn' });
    const backend = new AmqpSchedulerBackend({ url: AMQP_URL, queue: scheduleQueue, logger });
    await backend.acquire(new AbortController().signal);
    const roundStart = performance.now();
    const hosts = await store.listHosts();
    const listed = performance.now();
    const roundMinute = Math.floor(Date.now() / 60_000) * 60 + 60;
    const jobs = jobsForRound(hosts, roundMinute, roundMinute + 60, isPullPlugin);
    await backend.publish(jobs, Date.now());
    const roundMs = performance.now() - roundStart;
    console.log(
      `schedule round: ${hosts.length} hosts → ${jobs.length} jobs enqueued and confirmed in ${(roundMs / 1000).toFixed(2)} s (store read ${((listed - roundStart) / 1000).toFixed(2)} s; target ≤ 2 s)`,
    );
    await backend.close();
  }
  await store.close();
} finally {
  await worker?.stop('SIGKILL');
  for (const name of [queue, scheduleQueue, lockQueueOf(scheduleQueue), roundsQueueOf(scheduleQueue)])
    await channel.deleteQueue(name).catch(() => undefined);
  await broker.close().catch(() => undefined);
  await Promise.all(servers.map((server) => server.stop()));
  await daemon.stop();
  await database.drop();
  rmSync(root, { recursive: true, force: true });
}
