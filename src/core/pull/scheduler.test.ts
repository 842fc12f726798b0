import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../log.js';
import type { HostRecord } from '../store/types.js';
import {
  decodeJob,
  encodeJob,
  MAX_JOB_BYTES,
  MAX_JOB_SPAN_SECONDS,
  type PullJob,
  wirePlugin,
} from './job.js';
import { MemoryPullQueue } from './memory-queue.js';
import { jobsForRound, PullScheduler, type RoundReport } from './scheduler.js';

/** A logger that keeps what it was told, by level. */
function recordingLogger() {
  const lines: { level: string; message: string }[] = [];
  const at =
    (level: string) =>
    (first: unknown, second?: unknown): void => {
      lines.push({ level, message: typeof first === 'string' ? first : String(second ?? '') });
    };
  const logger = {
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    debug: at('debug'),
    trace: at('trace'),
    fatal: at('fatal'),
  } as unknown as Logger;
  return { logger, lines, at: (level: string) => lines.filter((line) => line.level === level) };
}

function host(address: string, plugins: string[]): HostRecord {
  return {
    address,
    hostname: address,
    comments: '',
    service: 'shop',
    label: '',
    role: 'web',
    plugins,
    origin: 'import',
  };
}

const PULLED = new Set(['nginx', 'redis', 'memcached']);
const isPulled = (name: string) => PULLED.has(name);
const at = (iso: string) => new Date(iso).getTime();

/** Collects what the queue hands a worker. */
function drainInto(queue: MemoryPullQueue): PullJob[] {
  const received: PullJob[] = [];
  void queue.source(1_000_000).start((delivery) => {
    if (typeof delivery.job !== 'string') received.push(delivery.job);
    delivery.ack();
  });
  return received;
}

describe('jobsForRound', () => {
  it('makes one job per host and pull plugin, never base, and names plugins without a fetcher', () => {
    const unpulled: string[] = [];
    const jobs = jobsForRound(
      [
        host('10.0.0.1', ['base', 'nginx:8080:/nginx_status', 'redis:6379']),
        host('10.0.0.2', ['base', 'mysql:3306', 'memcached']),
      ],
      1_800_000_000,
      1_800_000_060,
      isPulled,
      (name) => unpulled.push(name),
    );
    expect(jobs).toEqual([
      {
        host: '10.0.0.1',
        plugin: 'nginx:8080:/nginx_status',
        minute: 1_800_000_000,
        deadline: 1_800_000_060,
      },
      { host: '10.0.0.1', plugin: 'redis:6379', minute: 1_800_000_000, deadline: 1_800_000_060 },
      { host: '10.0.0.2', plugin: 'memcached', minute: 1_800_000_000, deadline: 1_800_000_060 },
    ]);
    expect(unpulled).toEqual(['mysql']);
  });
});

describe('pull jobs on the wire', () => {
  it('carry no settings and survive encoding; foreign messages are named', () => {
    const job = { host: 'db01', plugin: 'mysql:3307', minute: 1_800_000_000, deadline: 1_800_000_060 };
    expect(decodeJob(encodeJob(job))).toEqual(job);
    expect(JSON.parse(encodeJob(job).toString())).toEqual(job);
    expect(decodeJob('hello')).toBe('not JSON');
    expect(decodeJob('{"host":"a","plugin":"b","minute":5,"deadline":5}')).toMatch(/deadline/);
  });

  it('are bounded: a big body is not parsed, a deadline far after the minute is no job', () => {
    const big = JSON.stringify({
      ...{ host: 'db01', plugin: 'mysql', minute: 0, deadline: 60 },
      pad: 'x'.repeat(MAX_JOB_BYTES),
    });
    expect(decodeJob(Buffer.from(big))).toMatch(
      new RegExp(`^${big.length} bytes, more than a job's ${MAX_JOB_BYTES}$`),
    );
    expect(
      decodeJob(encodeJob({ host: 'db01', plugin: 'mysql', minute: 0, deadline: MAX_JOB_SPAN_SECONDS })),
    ).toEqual(expect.objectContaining({ deadline: MAX_JOB_SPAN_SECONDS }));
    expect(
      decodeJob(encodeJob({ host: 'db01', plugin: 'mysql', minute: 0, deadline: MAX_JOB_SPAN_SECONDS + 1 })),
    ).toBe(`"deadline" more than ${MAX_JOB_SPAN_SECONDS} s after "minute"`);
  });

  it('escape an identifier so the key splits at the right dot and unescapes to it', () => {
    expect(wirePlugin('nginx:8080:/status.php')).toBe('nginx%3A8080%3A%2Fstatus%2Ephp');
    expect(decodeURIComponent(wirePlugin('http:80:/a%20b.c'))).toBe('http:80:/a%20b.c');
  });
});

describe('PullScheduler', () => {
  let scheduler: PullScheduler | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ now: at('2026-11-29T12:00:10Z') });
  });
  afterEach(async () => {
    await scheduler?.stop();
    scheduler = undefined;
    vi.useRealTimers();
  });

  function start(options: { hosts: () => Promise<HostRecord[]>; queue?: MemoryPullQueue; logger?: Logger }): {
    rounds: RoundReport[];
    queue: MemoryPullQueue;
    jobs: PullJob[];
  } {
    const queue = options.queue ?? new MemoryPullQueue();
    const jobs = drainInto(queue);
    const rounds: RoundReport[] = [];
    scheduler = new PullScheduler({
      store: { listHosts: options.hosts },
      backend: queue,
      isPulled,
      logger: options.logger ?? recordingLogger().logger,
      storeAddress: 'sqlite:/test.db',
      onRound: (report) => rounds.push(report),
    });
    scheduler.start();
    return { rounds, queue, jobs };
  }

  it('runs once a minute, 3 s after the minute, one job per host × pull plugin for that minute', async () => {
    const log = recordingLogger();
    const hosts = [host('10.0.0.1', ['base', 'nginx', 'redis:6379', 'apache']), host('10.0.0.2', ['apache'])];
    const { rounds, jobs } = start({ hosts: async () => hosts, logger: log.logger });

    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:01:02.900Z') - Date.now());
    expect(rounds).toHaveLength(0); // 12:00:10 is past 12:00:03: the first round is 12:01:03
    await vi.advanceTimersByTimeAsync(200);
    expect(rounds.map((r) => new Date(r.minute * 1000).toISOString())).toEqual(['2026-11-29T12:01:00.000Z']);
    expect(jobs).toEqual([
      {
        host: '10.0.0.1',
        plugin: 'nginx',
        minute: at('2026-11-29T12:01:00Z') / 1000,
        deadline: at('2026-11-29T12:02:00Z') / 1000,
      },
      {
        host: '10.0.0.1',
        plugin: 'redis:6379',
        minute: at('2026-11-29T12:01:00Z') / 1000,
        deadline: at('2026-11-29T12:02:00Z') / 1000,
      },
    ]);

    await vi.advanceTimersByTimeAsync(2 * 60_000);
    expect(rounds.map((r) => new Date(r.minute * 1000).toISOString())).toEqual([
      '2026-11-29T12:01:00.000Z',
      '2026-11-29T12:02:00.000Z',
      '2026-11-29T12:03:00.000Z',
    ]);
    expect(jobs).toHaveLength(6);
    // One warning per plugin name without a fetcher, however many hosts and rounds list it.
    expect(log.at('warn').filter((line) => line.message.includes('"apache" has no fetcher'))).toHaveLength(1);
  });

  it('starts the current minute at once when started before its round time', async () => {
    vi.setSystemTime(at('2026-11-29T12:00:01Z'));
    const { rounds } = start({ hosts: async () => [host('10.0.0.1', ['nginx'])] });
    await vi.advanceTimersByTimeAsync(2_500);
    expect(rounds.map((r) => r.minute)).toEqual([at('2026-11-29T12:00:00Z') / 1000]);
  });

  it('lets a job expire when its minute ends before a worker takes it', async () => {
    const queue = new MemoryPullQueue();
    scheduler = new PullScheduler({
      store: { listHosts: async () => [host('10.0.0.1', ['nginx']), host('10.0.0.2', ['redis'])] },
      backend: queue,
      isPulled,
      logger: recordingLogger().logger,
      storeAddress: 'x',
    });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:01:30Z') - Date.now());
    expect(queue.depth).toBe(2);
    // The worker comes back in the next minute: the old minute's jobs are gone, not replayed.
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:02:01Z') - Date.now());
    const received = drainInto(queue);
    expect(received).toEqual([]);
    expect(queue.expired).toBe(2);
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:02:04Z') - Date.now());
    expect(received.map((job) => job.minute)).toEqual([
      at('2026-11-29T12:02:00Z') / 1000,
      at('2026-11-29T12:02:00Z') / 1000,
    ]);
  });

  it('never doubles a minute when a round runs past the next one: it logs and starts the next late', async () => {
    const log = recordingLogger();
    let calls = 0;
    const { rounds, jobs } = start({
      logger: log.logger,
      hosts: async () => {
        calls++;
        // The first round's store read takes 70 s: past 12:02:03.
        if (calls === 1) await new Promise((resolve) => setTimeout(resolve, 70_000));
        return [host('10.0.0.1', ['nginx'])];
      },
    });
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:03:30Z') - Date.now());
    const minutes = rounds.map((r) => new Date(r.minute * 1000).toISOString().slice(11, 16));
    expect(minutes).toEqual(['12:01', '12:02', '12:03']);
    expect(new Set(jobs.map((job) => `${job.host} ${job.minute}`)).size).toBe(jobs.length);
    expect(log.at('warn').some((line) => /ran past the start of the next round/.test(line.message))).toBe(
      true,
    );
    expect(log.at('warn').some((line) => /starts \d+ s late/.test(line.message))).toBe(true);
  });

  it('logs minutes a round ran past entirely and does not replay them', async () => {
    const log = recordingLogger();
    let calls = 0;
    const { rounds } = start({
      logger: log.logger,
      hosts: async () => {
        calls++;
        if (calls === 1) await new Promise((resolve) => setTimeout(resolve, 130_000));
        return [host('10.0.0.1', ['nginx'])];
      },
    });
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:04:30Z') - Date.now());
    const minutes = rounds.map((r) => new Date(r.minute * 1000).toISOString().slice(11, 16));
    expect(minutes).toEqual(['12:01', '12:03', '12:04']);
    expect(log.at('warn').some((line) => /1 minute\(s\) were not scheduled/.test(line.message))).toBe(true);
  });

  it('continues after the last recorded round when it takes over, so no minute is missing', async () => {
    vi.setSystemTime(at('2026-11-29T12:05:20Z'));
    const queue = new MemoryPullQueue();
    // The previous active scheduler enqueued 12:04 and died before 12:05:03.
    await queue.recordRound(at('2026-11-29T12:04:00Z') / 1000);
    const { rounds } = start({ queue, hosts: async () => [host('10.0.0.1', ['nginx'])] });
    await vi.advanceTimersByTimeAsync(50_000);
    expect(rounds.map((r) => new Date(r.minute * 1000).toISOString().slice(11, 16))).toEqual([
      '12:05',
      '12:06',
    ]);
    expect(await queue.lastRound()).toBe(at('2026-11-29T12:06:00Z') / 1000);
  });

  it('retries an unreachable store with backoff, naming it, and gives the minute up only when it is over', async () => {
    const log = recordingLogger();
    let calls = 0;
    const { rounds } = start({
      logger: log.logger,
      hosts: async () => {
        calls++;
        if (calls <= 2 || (calls >= 4 && calls <= 12)) throw new Error('connect ECONNREFUSED 127.0.0.1:3306');
        return [host('10.0.0.1', ['nginx'])];
      },
    });
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:01:10Z') - Date.now());
    expect(rounds.map((r) => r.minute)).toEqual([at('2026-11-29T12:01:00Z') / 1000]);
    const errors = log.at('error').map((line) => line.message);
    expect(errors[0]).toMatch(/store at sqlite:\/test\.db: connect ECONNREFUSED.*retrying in 1 s/);
    expect(errors[1]).toMatch(/retrying in 2 s/);
    // 12:02: the store stays away all minute; the minute is given up, 12:03 runs normally.
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:03:30Z') - Date.now());
    expect(
      log.at('error').some((line) => /minute 2026-11-29T12:02:00.000Z is not scheduled/.test(line.message)),
    ).toBe(true);
    expect(rounds.map((r) => new Date(r.minute * 1000).toISOString().slice(11, 16))).toEqual([
      '12:01',
      '12:03',
    ]);
  });

  it('finishes the round in flight when stopped', async () => {
    let release: (() => void) | undefined;
    const { rounds } = start({
      hosts: () =>
        new Promise((resolve) => {
          release = () => resolve([host('10.0.0.1', ['nginx'])]);
        }),
    });
    await vi.advanceTimersByTimeAsync(at('2026-11-29T12:01:04Z') - Date.now());
    const stopping = scheduler!.stop();
    release!();
    await stopping;
    scheduler = undefined;
    expect(rounds).toHaveLength(1);
  });
});
