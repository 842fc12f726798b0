/**
 * `kurado schedule` and `kurado pull-worker` as processes against RabbitMQ, MariaDB, a private
 * rrdcached and a private nginx: faults, worker outage, scheduler failover. The scheduling
 * "minute" is shortened with the hidden --period-seconds flag (3 or 10 s) so these take seconds;
 * it changes only how often rounds run, not how jobs expire, are taken over or stored.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeJob } from '../../src/core/pull/job.js';
import { spawnKurado } from '../helpers/cli.js';
import { hostRecord, type PullSetup, pullSetup, storedJobs } from '../helpers/pull-run.js';
import { eventually, listRrdFiles } from '../helpers/rrd-assert.js';
import { type RunningServer, refusingPort, startBlackHole, startNginx } from '../helpers/servers.js';

const GOOD_HOSTS = Array.from({ length: 50 }, (_, i) => `127.0.0.${i + 2}`);

let nginx: RunningServer;
let setup: PullSetup | undefined;

beforeAll(async () => {
  nginx = await startNginx({ extraAddresses: GOOD_HOSTS });
});
afterAll(async () => {
  await nginx?.stop();
});
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('kurado schedule + pull-worker', { timeout: 240_000 }, () => {
  it('stores 50 good targets on time while a black hole costs its timeout and a refusing port warns', async () => {
    setup = await pullSetup();
    const s = setup;
    const blackHole = await startBlackHole();
    const refused = await refusingPort();
    try {
      const plugin = `nginx:${nginx.port}`;
      await s.store.upsertHosts([
        ...GOOD_HOSTS.map((address) => hostRecord(address, [plugin])),
        hostRecord('127.0.0.1', [`nginx:${blackHole.port}`], {
          [`nginx:${blackHole.port}`]: { timeout: 4 },
        }),
        hostRecord('127.0.0.61', [`nginx:${refused}`]),
      ]);
      const workers = [s.worker(['--concurrency', '4']), s.worker(['--concurrency', '4'])];
      await Promise.all(workers.map((w) => w.waitForLog(/consuming pull jobs/, 90_000)));
      const scheduler = s.schedule(['--period-seconds', '10']);
      await scheduler.waitForLog(/enqueued 52 pull jobs for 52 hosts/, 90_000);
      await eventually(
        async () => (await s.store.warnings('127.0.0.1', Math.floor(Date.now() / 1000))).length > 0,
        () => `no warning for the black hole; worker logs:\n${workers[0]!.logs().slice(-2000)}`,
        30_000,
      );
      const now = Math.floor(Date.now() / 1000);
      const [holeWarning] = await s.store.warnings('127.0.0.1', now);
      expect(holeWarning).toMatchObject({ plugin: `nginx:${blackHole.port}`, name: 'fetch' });
      expect(holeWarning!.message).toMatch(
        new RegExp(`no answer from .*:${blackHole.port}.* within 4000 ms`),
      );
      expect(blackHole.connections()).toBeGreaterThan(0);
      const [refusedWarning] = await s.store.warnings('127.0.0.61', now);
      expect(refusedWarning).toMatchObject({ plugin: `nginx:${refused}`, name: 'fetch' });
      expect(refusedWarning!.message).toMatch(/refused/);

      // Every good host of that round was stored before the black hole's timeout ran out (the
      // black hole listens on 127.0.0.1 only, the good hosts are nginx's other loopback addresses).
      const holeStoredAt = (await s.store.lastReceived('127.0.0.1'))[0]!.at;
      for (const address of GOOD_HOSTS) {
        const received = await s.store.lastReceived(address);
        expect(
          received.map((r) => r.plugin),
          address,
        ).toEqual([plugin]);
        expect(received[0]!.at, address).toBeLessThan(holeStoredAt);
        expect(listRrdFiles(`${s.rrdcached.baseDir}/${address}`)).toContain(
          `nginx%3A${nginx.port}/reqs.derive.rrd`,
        );
      }
      const statuses = await s.store.statusReports(now, ['127.0.0.1', '127.0.0.61']);
      expect(statuses.get('127.0.0.1')?.reason).toMatch(/fetch/);
      // `kurado status` shows the warning with its reason.
      const status = spawnKurado(['status', '--store', s.database.url, '--problems', '--fail-on', 'never']);
      expect(await status.exited()).toBe(0);
      expect(status.logs()).toMatch(/127\.0\.0\.61[^\n]*warn[^\n]*refused/);
      // Both workers took part (competing consumers).
      for (const worker of workers) expect(storedJobs(worker).length).toBeGreaterThan(0);
    } finally {
      await blackHole.stop();
    }
  });

  it('drops the jobs of minutes no worker was there for instead of replaying them', async () => {
    setup = await pullSetup();
    const s = setup;
    const plugin = `nginx:${nginx.port}`;
    const hosts = GOOD_HOSTS.slice(0, 5);
    await s.store.upsertHosts(hosts.map((address) => hostRecord(address, [plugin])));
    const period = 3;
    s.schedule(['--period-seconds', String(period)]);
    let workers = [s.worker(), s.worker()];
    await eventually(
      () => workers.reduce((n, w) => n + storedJobs(w).length, 0) >= 10,
      () => `workers stored too few jobs; logs:\n${workers[0]!.logs().slice(-2000)}`,
      30_000,
    );
    // SIGTERM: jobs in flight are stored and acknowledged, exit code 0.
    expect(await Promise.all(workers.map((w) => w.stop('SIGTERM')))).toEqual([0, 0]);

    await sleep(4 * period * 1000);
    // Without workers the queue holds at most the current minute's jobs (and the previous
    // one's for a moment), not four minutes' worth.
    const { messageCount } = await s.channel.checkQueue(s.queue);
    expect(messageCount).toBeLessThanOrEqual(2 * hosts.length);

    const restartedAt = Date.now() / 1000;
    workers = [s.worker(), s.worker()];
    await Promise.all(workers.map((w) => w.waitForLog(/consuming pull jobs/, 90_000)));
    await sleep(2 * period * 1000);
    const stored = workers.flatMap((w) => storedJobs(w));
    expect(stored.length).toBeGreaterThan(0);
    // Nothing from the minutes without workers: only the minute running at restart and later.
    for (const job of stored) expect(job.minute + period).toBeGreaterThan(restartedAt - 1);
    const perMinute = new Map<number, number>();
    for (const job of stored) perMinute.set(job.minute, (perMinute.get(job.minute) ?? 0) + 1);
    for (const count of perMinute.values()) expect(count).toBeLessThanOrEqual(hosts.length);
  });

  it('a standby scheduler takes over when the active one is killed, and no minute is missing', async () => {
    setup = await pullSetup();
    const s = setup;
    const hosts = GOOD_HOSTS.slice(0, 3);
    await s.store.upsertHosts(hosts.map((address) => hostRecord(address, ['base', `nginx:${nginx.port}`])));
    const period = 3;
    const first = s.schedule(['--period-seconds', String(period)]);
    await first.waitForLog(/active scheduler/, 90_000);
    const second = s.schedule(['--period-seconds', String(period)]);
    await second.waitForLog(/standby: another scheduler holds/, 90_000);

    // Read the queue as a worker would, counting jobs per minute.
    const perMinute = new Map<number, number>();
    await s.channel.consume(s.queue, (message) => {
      if (!message) return;
      const job = decodeJob(message.content);
      if (typeof job !== 'string') perMinute.set(job.minute, (perMinute.get(job.minute) ?? 0) + 1);
      s.channel.ack(message);
    });
    // Killed after its second round was enqueued and recorded (a scheduler killed between the
    // two makes its successor enqueue that minute again: doubled, never missing).
    await eventually(
      () => (first.logs().match(/enqueued 3 pull jobs/g) ?? []).length >= 2,
      () => `no rounds; logs:\n${first.logs().slice(-2000)}`,
      20_000,
    );
    expect(await first.stop('SIGKILL')).toBeNull();
    const before = perMinute.size;
    await second.waitForLog(/active scheduler/, 15_000);
    await eventually(
      () => perMinute.size >= before + 3,
      () => `the standby did not continue; logs:\n${second.logs().slice(-2000)}`,
      30_000,
    );
    expect(await second.stop('SIGTERM')).toBe(0);
    const minutes = [...perMinute.keys()].sort((a, b) => a - b);
    for (let i = 1; i < minutes.length; i++) expect(minutes[i]! - minutes[i - 1]!).toBe(period);
    for (const minute of minutes) expect(perMinute.get(minute), `minute ${minute}`).toBe(hosts.length);
  });
});
