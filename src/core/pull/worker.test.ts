import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyIngestReport } from '../../../test/helpers/ingest-fakes.js';
import type { Fetcher } from '../../pull/types.js';
import { FetchError } from '../../pull/types.js';
import { type InboundMessage, Ingestor, type IngestReport } from '../ingest/ingestor.js';
import type { Logger } from '../log.js';
import type { RrdUpdate, RrdWriter, WriteReport } from '../rrd/types.js';
import { openStore } from '../store/index.js';
import type { HostRecord, MetaStore } from '../store/types.js';
import type { PullJob } from './job.js';
import { MemoryPullQueue } from './memory-queue.js';
import type { JobDelivery, JobSource } from './queue.js';
import { PullWorker, pullPrefetch } from './worker.js';

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

/**
 * A queue with a broker's rules for one consumer: at most `prefetch` unacknowledged jobs, and the
 * jobs still unacknowledged when the consumer closes go back to the queue for the next one.
 */
class FakeBroker {
  ready: PullJob[] = [];
  acked: PullJob[] = [];
  private unacked = new Set<PullJob>();
  private consumer: ((delivery: JobDelivery) => void) | undefined;
  closed = false;

  constructor(private readonly prefetch: number) {}

  get inFlight(): number {
    return this.unacked.size;
  }

  publish(jobs: PullJob[]): void {
    this.ready.push(...jobs);
    this.dispatch();
  }

  source(): JobSource {
    return {
      start: async (onJob) => {
        this.closed = false;
        this.consumer = onJob;
        this.dispatch();
      },
      pause: async () => {
        this.consumer = undefined;
      },
      close: async () => {
        this.consumer = undefined;
        this.closed = true;
        this.ready.unshift(...this.unacked);
        this.unacked.clear();
      },
    };
  }

  private dispatch(): void {
    while (this.consumer && this.unacked.size < this.prefetch && this.ready.length > 0) {
      const job = this.ready.shift()!;
      this.unacked.add(job);
      this.consumer({
        job,
        ack: () => {
          if (!this.unacked.delete(job)) return;
          this.acked.push(job);
          queueMicrotask(() => this.dispatch());
        },
      });
    }
  }
}

/** An Ingestor stand-in whose commits finish when the test says so, or fail. */
class ControlledIngestor {
  batches: InboundMessage[][] = [];
  private waiting: { resolve: (report: IngestReport) => void; reject: (error: Error) => void }[] = [];
  failWith: Error | undefined;

  ingest(messages: readonly InboundMessage[]): Promise<IngestReport> {
    this.batches.push([...messages]);
    if (this.failWith) return Promise.reject(this.failWith);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  get pending(): number {
    return this.waiting.length;
  }

  /** Let the oldest commit succeed. */
  finishOne(): void {
    const report = emptyIngestReport(0);
    this.waiting.shift()?.resolve(report);
  }

  /** Let every commit from now on succeed at once. */
  finishAll(): void {
    this.failWith = undefined;
    while (this.waiting.length > 0) this.finishOne();
    this.ingest = async (messages) => {
      this.batches.push([...messages]);
      return emptyIngestReport(messages.length);
    };
  }
}

/** A fetcher whose fetches finish when the test says so; counts how many run at once. */
class ControlledFetcher implements Fetcher {
  readonly name = 'gate';
  running = 0;
  mostAtOnce = 0;
  started = 0;
  private gates: (() => void)[] = [];

  fetch(): Promise<string[]> {
    this.started++;
    this.running++;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.running);
    return new Promise((resolve) =>
      this.gates.push(() => {
        this.running--;
        resolve(['metrics.v.gauge\t1']);
      }),
    );
  }

  /** Finish the `count` oldest fetches. */
  finish(count = Number.POSITIVE_INFINITY): void {
    for (let i = 0; i < count && this.gates.length > 0; i++) this.gates.shift()!();
  }
}

describe('PullWorker fetch slots and commits (fake broker, fetcher and Ingestor)', () => {
  const target = host('10.0.1.1', ['gate']);
  const store = {
    listHosts: async () => [target],
    findHost: async (address: string) => (address === target.address ? target : undefined),
  };
  const jobs = (count: number): PullJob[] => {
    const minute = Math.floor(Date.now() / 1000);
    return Array.from({ length: count }, () => ({
      host: target.address,
      plugin: 'gate',
      minute,
      deadline: minute + 60,
    }));
  };
  let worker: PullWorker | undefined;

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });

  async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  function start(concurrency: number, broker: FakeBroker, ingestor: ControlledIngestor, fetcher: Fetcher) {
    worker = new PullWorker({
      source: broker.source(),
      ingestor,
      store,
      fetcherFor: (name) => (name === 'gate' ? fetcher : undefined),
      concurrency,
      defaultTimeoutMs: 10_000,
      logger,
      storeAddress: 'fake',
    });
    return worker;
  }

  it('holds more jobs than fetch slots, so the broker prefetch covers the jobs waiting for a commit', () => {
    expect(pullPrefetch(16)).toBeGreaterThan(16);
    expect(pullPrefetch(1)).toBeGreaterThan(1);
  });

  it('never runs more fetches at once than its concurrency, however many jobs the broker hands over', async () => {
    const broker = new FakeBroker(pullPrefetch(3));
    const fetcher = new ControlledFetcher();
    const ingestor = new ControlledIngestor();
    ingestor.finishAll();
    await start(3, broker, ingestor, fetcher).start();
    broker.publish(jobs(30));
    await until(() => fetcher.running === 3, 'three fetches running');
    expect(broker.inFlight).toBe(pullPrefetch(3));
    await until(() => {
      fetcher.finish(1);
      return broker.acked.length === 30;
    }, 'all 30 jobs stored');
    expect(fetcher.mostAtOnce).toBe(3);
    expect(fetcher.started).toBe(30);
  });

  it('acknowledges a job only once its commit resolved, and keeps fetching the next jobs meanwhile', async () => {
    const broker = new FakeBroker(pullPrefetch(2));
    const fetcher = new ControlledFetcher();
    const ingestor = new ControlledIngestor();
    await start(2, broker, ingestor, fetcher).start();
    broker.publish(jobs(6));
    await until(() => fetcher.running === 2, 'two fetches running');
    fetcher.finish(2);
    await until(() => ingestor.pending === 1, 'a commit started');
    // The commit of the first two is still running: nothing is acknowledged, yet the two fetch
    // slots already took the next jobs.
    await until(() => fetcher.started === 4, 'the next two fetches started during the commit');
    expect(broker.acked).toHaveLength(0);
    expect(ingestor.batches[0]).toHaveLength(2);
    ingestor.finishOne();
    await until(() => broker.acked.length === 2, 'the committed jobs acknowledged');
    expect(worker!.totals.stored).toBe(2);
    fetcher.finish();
    ingestor.finishAll();
    await until(() => {
      fetcher.finish();
      return broker.acked.length === 6;
    }, 'all 6 jobs stored');
    expect(worker!.totals.stored).toBe(6);
  });

  it('acknowledges nothing when the commit fails; the broker gives the jobs to the next worker, which stores them', async () => {
    const broker = new FakeBroker(pullPrefetch(2));
    const fetcher = new ControlledFetcher();
    const failing = new ControlledIngestor();
    failing.failWith = new Error('rrdcached at unix:/run/rrdcached.sock unreachable');
    const first = start(2, broker, failing, fetcher);
    await first.start();
    broker.publish(jobs(2));
    await until(() => fetcher.running === 2, 'two fetches running');
    fetcher.finish();
    await until(() => failing.batches.length >= 1, 'a commit tried');
    expect(broker.acked).toHaveLength(0);
    // SIGTERM while the write path is down: the worker gives up on the batch and closes.
    await first.stop();
    worker = undefined;
    expect(broker.acked).toHaveLength(0);
    expect(first.totals.stored).toBe(0);
    expect(broker.ready).toHaveLength(2);

    const working = new ControlledIngestor();
    working.finishAll();
    const second = start(2, broker, working, fetcher);
    await second.start();
    await until(() => fetcher.running === 2, 'the redelivered jobs fetched again');
    fetcher.finish();
    await until(() => broker.acked.length === 2, 'the redelivered jobs stored');
    expect(second.totals.stored).toBe(2);
  });

  it('on stop finishes and stores the fetches in flight, acknowledges them, and hands back the jobs not started', async () => {
    const broker = new FakeBroker(pullPrefetch(2));
    const fetcher = new ControlledFetcher();
    const ingestor = new ControlledIngestor();
    const w = start(2, broker, ingestor, fetcher);
    await w.start();
    broker.publish(jobs(20));
    await until(() => fetcher.running === 2, 'two fetches running');
    expect(broker.inFlight).toBe(pullPrefetch(2));
    const stopping = w.stop();
    worker = undefined;
    // The two fetches in flight finish and their commit runs; stop waits for it.
    fetcher.finish();
    await until(() => ingestor.pending === 1, 'the last commit started');
    expect(broker.closed).toBe(false);
    ingestor.finishOne();
    await stopping;
    expect(broker.acked).toHaveLength(2);
    expect(w.totals.stored).toBe(2);
    expect(fetcher.started).toBe(2);
    expect(broker.closed).toBe(true);
    expect(broker.ready).toHaveLength(18);
  });
});
