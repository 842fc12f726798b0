import type { Fetcher, PullTarget } from '../../pull/types.js';
import { GroupCommitter } from '../ingest/group-commit.js';
import type { Ingestor } from '../ingest/ingestor.js';
import type { Logger } from '../log.js';
import { normalizePluginOutput } from '../protocol/plugin-output.js';
import type { HostRecord, MetaStore, PluginSettingValue } from '../store/types.js';
import { PUSH_ONLY_PLUGIN, type PullJob, pluginArgsOf, pluginNameOf, wirePlugin } from './job.js';
import type { JobDelivery, JobSource } from './queue.js';
import { sleep } from './scheduler.js';

/** The plugin setting (seconds) that overrides the worker's timeout for one plugin instance. */
export const TIMEOUT_SETTING = 'timeout';
/** The warning a failed fetch becomes: `<plugin>.warn.fetch`. */
export const FETCH_WARNING = 'fetch';
/** The warning naming output lines of a fetcher that are not `key<TAB>value[<TAB>epoch]`. */
export const OUTPUT_WARNING = 'output';
/** How long a fetcher may take to give up after its signal aborted. */
const ABORT_GRACE_MS = 100;
/** Longest reason kept in a warning. */
const MAX_REASON_LENGTH = 300;
/** Settings whose values never appear in a warning, even when a fetcher's error quotes them. */
const SECRET_SETTING = /pass|secret|token|cred|auth|key/i;
/**
 * Jobs a worker holds unacknowledged per fetch slot: one fetching, the others fetched and waiting
 * for their values to be committed. A job is acknowledged only once stored, so with a prefetch of
 * one per slot every commit stopped all fetching (throughput = slots ÷ (fetch + commit)). Commits
 * run one at a time, so up to two batches wait (one committing, one collecting), each about
 * commit time ÷ fetch time × slots jobs; with commits of 5–15 ms against fetches of 5–10 ms
 * (measured on loopback, loaded machine), three waiting jobs per slot keep the slots fetching.
 */
export const PREFETCH_PER_FETCH_SLOT = 4;

/** The broker prefetch (unacknowledged jobs at once) of a worker running `concurrency` fetches at once. */
export function pullPrefetch(concurrency: number): number {
  return concurrency * PREFETCH_PER_FETCH_SLOT;
}

export interface PullWorkerOptions {
  source: JobSource;
  ingestor: Pick<Ingestor, 'ingest'>;
  store: Pick<MetaStore, 'listHosts' | 'findHost'>;
  fetcherFor: (name: string) => Fetcher | undefined;
  /** Fetches at once; the source's prefetch must be `pullPrefetch(concurrency)`. */
  concurrency: number;
  /** Per-job timeout unless the plugin's `timeout` setting (seconds) says otherwise. */
  defaultTimeoutMs: number;
  logger: Logger;
  /** Where the store is, for messages (no password). */
  storeAddress: string;
  /** Epoch milliseconds; a parameter so tests can move time. */
  now?: () => number;
  summaryIntervalMs?: number;
  /** How long the list of hosts (and their settings) read from the store is reused. */
  hostCacheMs?: number;
}

/** Counters since start; the per-minute summary logs their change. */
export interface PullWorkerTotals {
  /** Jobs whose lines (values or a warning) are stored and acknowledged. */
  stored: number;
  /** Of those, jobs whose fetch failed (stored as `<plugin>.warn.fetch`). */
  failed: number;
  /** Jobs that arrived after their minute ended, dropped. */
  late: number;
  /** Jobs for hosts no longer in the store, dropped. */
  unknownHost: number;
  /** Messages that were no pull job, dropped. */
  malformed: number;
}

/**
 * `kurado pull-worker`: takes jobs from the queue, runs each job's fetcher with a timeout and
 * hands the lines to the same GroupCommitter and Ingestor as `receive`; a job is acknowledged
 * once its lines are stored. A failed fetch is stored too, as a `<plugin>.warn.fetch` warning on
 * the host. `concurrency` fetches run at once, each bounded by its timeout, so a target that
 * never answers holds one fetch slot for that long and delays no other job. A job frees its fetch
 * slot when its lines are handed to the committer, so the next jobs are fetched while a commit
 * runs; jobs delivered while every slot fetches wait here, in delivery order.
 */
export class PullWorker {
  readonly totals: PullWorkerTotals = { stored: 0, failed: 0, late: 0, unknownHost: 0, malformed: 0 };
  private readonly committer: GroupCommitter;
  private readonly hosts: HostDirectory;
  /** Jobs between the start of their fetch and the hand-over of their lines to the committer. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Delivered jobs waiting for a fetch slot, with the time they arrived. */
  private readonly waiting: { delivery: JobDelivery; received: number }[] = [];
  private stopping = false;
  private readonly now: () => number;
  private readonly defaultTimeoutMs: number;
  private readonly stopSignal = new AbortController();
  private summaryTimer: NodeJS.Timeout | undefined;
  private lastSummary: PullWorkerTotals = { ...this.totals };
  /** Milliseconds from delivery to acknowledgement of the jobs stored since the last summary. */
  private latencies: number[] = [];

  constructor(private readonly options: PullWorkerOptions) {
    this.now = options.now ?? Date.now;
    this.defaultTimeoutMs = options.defaultTimeoutMs;
    this.committer = new GroupCommitter({
      ingestor: options.ingestor,
      logger: options.logger,
      // Commit whatever is fetched as soon as the previous commit is done: a commit no longer
      // holds up fetching, and every job waiting for one holds a prefetch slot.
      maxMessages: pullPrefetch(options.concurrency),
      maxDelayMs: 0,
    });
    this.hosts = new HostDirectory(options.store, options.hostCacheMs ?? 30_000, this.now, options.logger);
  }

  async start(): Promise<void> {
    const intervalMs = this.options.summaryIntervalMs ?? 60_000;
    this.summaryTimer = setInterval(() => this.logSummary(intervalMs), intervalMs);
    this.summaryTimer.unref();
    await this.options.source.start((delivery) => {
      this.waiting.push({ delivery, received: this.now() });
      this.startFetches();
    });
  }

  /**
   * Take no new jobs, finish the fetches in flight, store and acknowledge them, then close. Jobs
   * that were delivered but not started stay unacknowledged: closing the source hands them back
   * to the queue for another worker.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.summaryTimer);
    await this.options.source.pause();
    this.stopSignal.abort();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.committer.drain();
    if (this.waiting.length > 0) {
      this.options.logger.info(
        { released: this.waiting.length },
        `${this.waiting.length} job(s) not started go back to the queue`,
      );
      this.waiting.length = 0;
    }
    await this.options.source.close();
    this.logSummary(0);
  }

  /** Start waiting jobs while a fetch slot is free. */
  private startFetches(): void {
    while (!this.stopping && this.inFlight.size < this.options.concurrency && this.waiting.length > 0) {
      const { delivery, received } = this.waiting.shift()!;
      const running = this.handle(delivery, received).catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'pull job failed unexpectedly; dropped');
        delivery.ack();
      });
      this.inFlight.add(running);
      void running.finally(() => {
        this.inFlight.delete(running);
        this.startFetches();
      });
    }
  }

  /** Delivery-to-acknowledgement times of the jobs stored since the last call, milliseconds. */
  takeLatencies(): number[] {
    const taken = this.latencies;
    this.latencies = [];
    return taken;
  }

  /** Runs one job up to the hand-over of its lines to the committer, which acknowledges it once stored. */
  private async handle(delivery: JobDelivery, received: number): Promise<void> {
    const { logger } = this.options;
    const { job } = delivery;
    if (typeof job === 'string') {
      logger.warn(`dropping a message that is no pull job: ${job}`);
      this.totals.malformed++;
      delivery.ack();
      return;
    }
    if (this.now() >= job.deadline * 1000) {
      logger.debug(job, `dropping the job for ${job.host} ${job.plugin}: its minute is over`);
      this.totals.late++;
      delivery.ack();
      return;
    }
    const host = await this.lookUp(job);
    if (host === null) {
      delivery.ack();
      return;
    }
    if (host === undefined) {
      logger.info(job, `dropping the job for ${job.host} ${job.plugin}: the host is not in the store`);
      this.totals.unknownHost++;
      delivery.ack();
      return;
    }
    // Only what the scheduler would enqueue: a job naming another plugin (or a port of the
    // host's choosing) comes from someone else writing to the queue, and is not fetched.
    if (job.plugin === PUSH_ONLY_PLUGIN || !host.plugins.includes(job.plugin)) {
      logger.warn(
        { host: job.host, plugin: job.plugin },
        `dropping the job for ${job.host} ${job.plugin}: the host's role does not list that plugin`,
      );
      this.totals.malformed++;
      delivery.ack();
      return;
    }
    const { lines, failed } = await this.fetchLines(job, host);
    this.committer.add({
      payload: lines.join('\n'),
      host: job.host,
      settle: () => {
        delivery.ack();
        this.totals.stored++;
        if (failed) this.totals.failed++;
        this.latencies.push(this.now() - received);
        this.options.logger.debug(
          { host: job.host, plugin: job.plugin, minute: job.minute, failed },
          'pull job stored',
        );
      },
    });
  }

  /** The job's host, undefined when the store no longer has it, null when the store is down past the job's minute. */
  private async lookUp(job: PullJob): Promise<HostRecord | undefined | null> {
    let delay = 500;
    for (;;) {
      try {
        return await this.hosts.get(job.host);
      } catch (error) {
        const giveUp = this.now() + delay >= job.deadline * 1000 || this.stopSignal.signal.aborted;
        this.options.logger.error(
          { store: this.options.storeAddress, host: job.host, plugin: job.plugin },
          `cannot read host ${job.host} from the store at ${this.options.storeAddress}: ${(error as Error).message}; ${giveUp ? 'job dropped' : `retrying in ${delay} ms`}`,
        );
        if (giveUp) return null;
        await sleep(delay, this.stopSignal.signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /** The wire lines of one job: the fetcher's output, or a `<plugin>.warn.fetch` line. Never throws. */
  private async fetchLines(job: PullJob, host: HostRecord): Promise<{ lines: string[]; failed: boolean }> {
    const name = pluginNameOf(job.plugin);
    const wire = wirePlugin(job.plugin);
    const now = Math.floor(this.now() / 1000);
    const settings = host.settings?.[job.plugin] ?? {};
    const warning = (kind: string, reason: string) =>
      `${wire}.warn.${kind}\t${cleanReason(reason, settings)}\t${now}`;
    const fetcher = this.options.fetcherFor(name);
    if (!fetcher) {
      return { lines: [warning(FETCH_WARNING, `this worker has no fetcher for "${name}"`)], failed: true };
    }
    const timeoutMs = timeoutSetting(settings) ?? this.defaultTimeoutMs;
    const target: PullTarget = {
      address: host.address,
      hostname: host.hostname,
      plugin: job.plugin,
      name,
      args: pluginArgsOf(job.plugin),
      settings,
    };
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The signal tells the fetcher to give up (its error names the endpoint); one that ignores
    // it still costs only the timeout and a moment: the race ends the job.
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), ABORT_GRACE_MS);
      }, timeoutMs);
    });
    try {
      const fetching = fetcher.fetch(target, { signal: controller.signal, timeoutMs, now });
      fetching.catch(() => undefined);
      const output = await Promise.race([fetching, timedOut]);
      const normalized = normalizePluginOutput(wire, output.join('\n'), now);
      const lines = normalized.lines;
      if (normalized.problems.length > 0) {
        const more = normalized.problems.length > 1 ? ` (and ${normalized.problems.length - 1} more)` : '';
        lines.push(
          warning(
            OUTPUT_WARNING,
            `${normalized.problems.length} unusable line(s) from the ${name} fetcher${more}: ${normalized.problems[0]}`,
          ),
        );
      }
      return { lines, failed: false };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.options.logger.debug(
        { host: job.host, plugin: job.plugin },
        `fetch failed: ${cleanReason(reason, settings)}`,
      );
      return { lines: [warning(FETCH_WARNING, reason)], failed: true };
    } finally {
      clearTimeout(timer);
    }
  }

  private logSummary(intervalMs: number): void {
    const now = this.totals;
    const last = this.lastSummary;
    const delta = (key: keyof PullWorkerTotals) => now[key] - last[key];
    const latencies = this.takeLatencies().sort((a, b) => a - b);
    const p95 =
      latencies.length > 0
        ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.95))]!
        : 0;
    this.options.logger.info(
      {
        stored: delta('stored'),
        failed: delta('failed'),
        late: delta('late'),
        unknownHost: delta('unknownHost'),
        malformed: delta('malformed'),
        p95Ms: p95,
        inFlight: this.inFlight.size,
      },
      intervalMs > 0
        ? `last ${Math.round(intervalMs / 1000)}s: ${delta('stored')} jobs stored (${delta('failed')} failed fetches), ${delta('late')} late, p95 ${p95} ms`
        : `stopped after ${now.stored} jobs (${now.failed} failed fetches)`,
    );
    this.lastSummary = { ...now };
  }
}

/** A plugin instance's `timeout` setting in milliseconds, when it is a positive number of seconds. */
function timeoutSetting(settings: Record<string, PluginSettingValue>): number | undefined {
  const value = settings[TIMEOUT_SETTING];
  if (value === undefined || typeof value === 'boolean') return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : undefined;
}

/** A reason as one protocol field: one line, cut, and without the value of any secret setting. */
export function cleanReason(reason: string, settings: Record<string, PluginSettingValue>): string {
  let text = reason;
  for (const [key, value] of Object.entries(settings)) {
    if (!SECRET_SETTING.test(key)) continue;
    const secret = String(value);
    if (secret.length > 0) text = text.split(secret).join('***');
  }
  text = text.replace(/[\t\r\n]+/g, ' ').trim();
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH)}…` : text || 'failed';
}

/**
 * Hosts by address, read from the store as one list and reused for a while (a worker runs
 * thousands of jobs a minute); an address missing from the list is looked up on its own, so a
 * host imported a moment ago is found.
 */
class HostDirectory {
  private byAddress = new Map<string, HostRecord>();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<MetaStore, 'listHosts' | 'findHost'>,
    private readonly maxAgeMs: number,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  async get(address: string): Promise<HostRecord | undefined> {
    if (this.now() - this.loadedAt > this.maxAgeMs) {
      try {
        await this.refresh();
      } catch (error) {
        // A stale list is better than none while the store is away; try again in a few seconds.
        if (this.byAddress.size === 0) throw error;
        this.loadedAt = this.now() - this.maxAgeMs + 5000;
        this.logger.warn(`cannot refresh the host list: ${(error as Error).message}; using the previous one`);
      }
    }
    const cached = this.byAddress.get(address);
    if (cached) return cached;
    const found = await this.store.findHost(address);
    if (found?.address !== address) return undefined;
    this.byAddress.set(address, found);
    return found;
  }

  private refresh(): Promise<void> {
    this.loading ??= this.store
      .listHosts()
      .then((hosts) => {
        this.byAddress = new Map(hosts.map((host) => [host.address, host]));
        this.loadedAt = this.now();
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}
