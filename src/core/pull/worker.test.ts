import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fetcher } from '../../pull/types.js';
import { FetchError } from '../../pull/types.js';
import { Ingestor } from '../ingest/ingestor.js';
import type { Logger } from '../log.js';
import type { RrdUpdate, RrdWriter, WriteReport } from '../rrd/types.js';
import { openStore } from '../store/index.js';
import type { HostRecord, MetaStore } from '../store/types.js';
import type { PullJob } from './job.js';
import { MemoryPullQueue } from './memory-queue.js';
import { PullWorker } from './worker.js';

/** An RRD writer that keeps the updates (the RRD side has its own tests against rrdcached). */
class RecordingWriter implements RrdWriter {
  updates: RrdUpdate[] = [];
  async write(updates: RrdUpdate[]): Promise<WriteReport> {
    this.updates.push(...updates);
    return { accepted: updates.length, duplicates: 0, created: 0, failed: [] };
  }
  async close(): Promise<void> {}
}

const messages: string[] = [];
const logger = new Proxy(
  {},
  {
    get:
      () =>
      (first: unknown, second?: unknown): void => {
        messages.push(typeof first === 'string' ? first : String(second ?? ''));
      },
  },
) as Logger;

const host = (address: string, plugins: string[], settings?: HostRecord['settings']): HostRecord => ({
  address,
  hostname: `${address}.example`,
  comments: '',
  service: 'shop',
  label: '',
  role: 'web',
  plugins,
  origin: 'import',
  ...(settings ? { settings } : {}),
});

const fetchers: Record<string, Fetcher> = {
  // Reads its port from the identifier and reports it, like a real status page.
  nginx: {
    name: 'nginx',
    fetch: async (target) => [`metrics.reqs.derive\t${target.args[0]}`, `meta.server\tnginx/1.22`],
  },
  // Refused, with a message that (wrongly) quotes the password it was given.
  mysql: {
    name: 'mysql',
    fetch: async (target) => {
      throw new FetchError(`access denied for kurado using "${target.settings.password}"`);
    },
  },
  // Accepts and never answers, and ignores the abort signal too.
  redis: { name: 'redis', fetch: () => new Promise<string[]>(() => undefined) },
};

describe('PullWorker', () => {
  let store: MetaStore;
  let writer: RecordingWriter;
  let queue: MemoryPullQueue;
  let worker: PullWorker | undefined;
  const now = () => Math.floor(Date.now() / 1000);
  const job = (hostAddress: string, plugin: string, minute = now()): PullJob => ({
    host: hostAddress,
    plugin,
    minute,
    deadline: minute + 60,
  });

  beforeEach(async () => {
    messages.length = 0;
    store = await openStore('sqlite::memory:');
    await store.migrate();
    await store.upsertHosts([
      host('10.0.0.1', ['base', 'nginx:8080:/nginx_status', 'redis:6379']),
      host('10.0.0.2', ['mysql:3306'], {
        'mysql:3306': { user: 'kurado', password: 's3cr3t-pw', timeout: 0.3 },
      }),
      host('10.0.0.3', ['redis'], { redis: { timeout: 1 } }),
    ]);
    writer = new RecordingWriter();
    queue = new MemoryPullQueue();
  });

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await store.close();
  });

  async function startWorker(concurrency = 4, defaultTimeoutMs = 5000): Promise<PullWorker> {
    worker = new PullWorker({
      source: queue.source(concurrency),
      ingestor: new Ingestor({ dataDir: '/data', writer, store }),
      store,
      fetcherFor: (name) => fetchers[name],
      concurrency,
      defaultTimeoutMs,
      logger,
      storeAddress: 'sqlite::memory:',
    });
    await worker.start();
    return worker;
  }

  async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline)
        throw new Error(`not reached within ${timeoutMs} ms; log: ${messages.join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('stores a fetch under the host and plugin identifier through the Ingestor, then acknowledges', async () => {
    const w = await startWorker();
    await queue.publish([job('10.0.0.1', 'nginx:8080:/nginx_status')]);
    await until(() => w.totals.stored === 1);
    expect(writer.updates).toEqual([
      expect.objectContaining({
        path: '/data/10.0.0.1/nginx%3A8080%3A%2Fnginx_status/reqs.derive.rrd',
        type: 'derive',
        value: 8080,
      }),
    ]);
    const meta = await store.meta('10.0.0.1', now());
    expect(meta.map((m) => [m.plugin, m.name, m.value])).toEqual([
      ['nginx:8080:/nginx_status', 'server', 'nginx/1.22'],
    ]);
    expect((await store.lastReceived('10.0.0.1')).map((r) => r.plugin)).toEqual(['nginx:8080:/nginx_status']);
  });

  it('turns a failed fetch into <plugin>.warn.fetch with the reason, never the password', async () => {
    const w = await startWorker();
    await queue.publish([job('10.0.0.2', 'mysql:3306')]);
    await until(() => w.totals.stored === 1);
    const warnings = await store.warnings('10.0.0.2', now());
    expect(warnings.map((x) => [x.plugin, x.name])).toEqual([['mysql:3306', 'fetch']]);
    expect(warnings[0]!.message).toBe('access denied for kurado using "***"');
    expect(w.totals.failed).toBe(1);
    expect(messages.join('\n')).not.toContain('s3cr3t-pw');
    expect((await store.statusReports(now(), ['10.0.0.2'])).get('10.0.0.2')?.reason).toMatch(/fetch/);
  });

  it('gives a black-hole target only its timeout (the plugin setting) while other jobs go through', async () => {
    const w = await startWorker(4);
    await queue.publish([
      job('10.0.0.3', 'redis'),
      ...Array.from({ length: 20 }, () => job('10.0.0.1', 'nginx:8080:/nginx_status')),
    ]);
    // The black hole holds one slot of four; the 20 jobs behind it are stored meanwhile.
    await until(() => w.totals.stored === 20);
    expect(w.totals.failed).toBe(0);
    await until(() => w.totals.stored === 21);
    expect(w.totals.failed).toBe(1);
    const warnings = await store.warnings('10.0.0.3', now());
    expect(warnings[0]?.message).toBe('no answer within 1000 ms');
  });

  it('drops jobs whose minute is over and jobs for hosts no longer in the store, acknowledging them', async () => {
    const w = await startWorker();
    const late = job('10.0.0.1', 'nginx:80', now() - 120);
    // Published straight to the worker: the queue itself would have dropped it already.
    await queue.publish([job('10.0.0.99', 'nginx:80')]);
    await until(() => w.totals.unknownHost === 1);
    expect(messages.some((m) => /10\.0\.0\.99 nginx:80: the host is not in the store/.test(m))).toBe(true);
    const direct = new PullWorker({
      source: {
        start: async (onJob) => onJob({ job: late, ack: () => acked.push('late') }),
        pause: async () => undefined,
        close: async () => undefined,
      },
      ingestor: new Ingestor({ dataDir: '/data', writer, store }),
      store,
      fetcherFor: (name) => fetchers[name],
      concurrency: 1,
      defaultTimeoutMs: 5000,
      logger,
      storeAddress: 'x',
    });
    const acked: string[] = [];
    await direct.start();
    await until(() => acked.length === 1);
    expect(direct.totals.late).toBe(1);
    await direct.stop();
    expect(writer.updates).toEqual([]);
  });

  it("drops a job naming a plugin the host's role does not list (another port, base): nothing is fetched", async () => {
    const w = await startWorker();
    await queue.publish([
      job('10.0.0.1', 'nginx:22:/'),
      job('10.0.0.1', 'base'),
      job('10.0.0.1', 'nginx:8080:/nginx_status'),
    ]);
    await until(() => w.totals.stored === 1 && w.totals.malformed === 2);
    expect(writer.updates.map((u) => u.value)).toEqual([8080]);
    expect(messages.filter((m) => /the host's role does not list that plugin/.test(m))).toHaveLength(2);
    expect((await store.lastReceived('10.0.0.1')).map((r) => r.plugin)).toEqual(['nginx:8080:/nginx_status']);
  });

  it('on stop finishes the jobs in flight, stores and acknowledges them', async () => {
    const slow: Fetcher = {
      name: 'nginx',
      fetch: () => new Promise((resolve) => setTimeout(() => resolve(['metrics.reqs.derive\t1']), 200)),
    };
    fetchers.slow = slow;
    await store.upsertHosts([
      host(
        '10.0.0.4',
        Array.from({ length: 8 }, (_, i) => `slow:${i}`),
      ),
    ]);
    const w = await startWorker(8);
    await queue.publish(Array.from({ length: 8 }, (_, i) => job('10.0.0.4', `slow:${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await w.stop();
    worker = undefined;
    expect(w.totals.stored).toBe(8);
    expect(writer.updates).toHaveLength(8);
    delete fetchers.slow;
  });
});
