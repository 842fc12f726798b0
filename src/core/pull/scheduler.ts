import type { Logger } from '../log.js';
import type { HostRecord, MetaStore } from '../store/types.js';
import { PUSH_ONLY_PLUGIN, type PullJob, pluginNameOf } from './job.js';
import type { SchedulerBackend } from './queue.js';

export const DEFAULT_PERIOD_MS = 60_000;
/** A round starts this long after its minute: agents' values of the minute are in by then. */
export const DEFAULT_OFFSET_MS = 3_000;

export interface PullSchedulerOptions {
  store: Pick<MetaStore, 'listHosts'>;
  backend: SchedulerBackend;
  /** Whether workers can pull a plugin name (it has a fetcher). */
  isPulled: (name: string) => boolean;
  logger: Logger;
  /** Where the store is, for messages (no password). */
  storeAddress: string;
  /** Length of a scheduling period; a minute except in tests. */
  periodMs?: number;
  /** How long after the period starts its round runs; 5 % of the period unless given. */
  offsetMs?: number;
  /** Epoch milliseconds; a parameter so tests can move time. */
  now?: () => number;
  /** Called after every round that enqueued its jobs. */
  onRound?: (report: RoundReport) => void;
}

export interface RoundReport {
  /** Epoch seconds of the minute the jobs are for. */
  minute: number;
  jobs: number;
  hosts: number;
  /** How long reading the store and enqueueing took, milliseconds. */
  ms: number;
}

/** The jobs of one round: one per host × plugin that a worker can pull, in host order. */
export function jobsForRound(
  hosts: readonly HostRecord[],
  minute: number,
  deadline: number,
  isPulled: (name: string) => boolean,
  onUnpulled?: (name: string) => void,
): PullJob[] {
  const jobs: PullJob[] = [];
  for (const host of hosts) {
    for (const plugin of host.plugins) {
      const name = pluginNameOf(plugin);
      if (name === PUSH_ONLY_PLUGIN) continue;
      if (!isPulled(name)) {
        onUnpulled?.(name);
        continue;
      }
      jobs.push({ host: host.address, plugin, minute, deadline });
    }
  }
  return jobs;
}

/**
 * `kurado schedule`: once per minute, a few seconds after the minute starts, reads the hosts and
 * enqueues one job per host × pull plugin, each expiring when its minute ends.
 *
 * Rounds never overlap and a minute is never enqueued twice: a round that runs past the next
 * minute's start is logged, the next minute's round then starts late, and minutes that passed
 * entirely are logged as skipped. Only the scheduler holding the backend's lock enqueues; one
 * that takes over reads which minute the last round was for and continues from there, so no
 * minute is missing.
 */
export class PullScheduler {
  private readonly periodMs: number;
  private readonly offsetMs: number;
  private readonly now: () => number;
  private readonly abort = new AbortController();
  private stopping = false;
  private loop: Promise<void> | undefined;
  /** Index (epoch ms / period) of the last period whose round ran or was given up. */
  private lastDone: number | undefined;
  private readonly unpulledWarned = new Set<string>();

  constructor(private readonly options: PullSchedulerOptions) {
    this.periodMs = options.periodMs ?? DEFAULT_PERIOD_MS;
    this.offsetMs = options.offsetMs ?? Math.min(DEFAULT_OFFSET_MS, Math.round(this.periodMs * 0.05));
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop after the round in flight (if any) has enqueued its jobs. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { backend, logger } = this.options;
    let holding = false;
    while (!this.stopping) {
      if (!holding || !backend.active) {
        holding = false;
        await backend.acquire(this.abort.signal);
        if (this.stopping) break;
        if (!backend.active) continue;
        holding = true;
        try {
          const recorded = await backend.lastRound();
          if (recorded !== undefined) {
            const index = Math.floor((recorded * 1000) / this.periodMs);
            if (this.lastDone === undefined || index > this.lastDone) this.lastDone = index;
          }
        } catch (error) {
          logger.warn(`cannot read the last scheduled minute: ${(error as Error).message}`);
        }
      }
      const target = this.nextPeriod();
      const tickAt = target * this.periodMs + this.offsetMs;
      const wait = tickAt - this.now();
      if (wait > 0) await sleep(wait, this.abort.signal);
      if (this.stopping) break;
      if (!backend.active) continue;
      await this.round(target, Math.max(0, -wait));
    }
  }

  /** The period whose round comes next, logging periods that passed without a round. */
  private nextPeriod(): number {
    const now = this.now();
    const current = Math.floor(now / this.periodMs);
    if (this.lastDone === undefined)
      return now < current * this.periodMs + this.offsetMs ? current : current + 1;
    const next = this.lastDone + 1;
    if (next < current) {
      const skipped = current - next;
      this.options.logger.warn(
        { from: this.minuteOf(next), to: this.minuteOf(current - 1), skipped },
        `${skipped} minute(s) were not scheduled (${iso(this.minuteOf(next))} to ${iso(this.minuteOf(current - 1))}): the previous round ran past them or no scheduler was active`,
      );
      this.lastDone = current - 1;
      return current;
    }
    return next;
  }

  private minuteOf(index: number): number {
    return (index * this.periodMs) / 1000;
  }

  private async round(index: number, lateMs: number): Promise<void> {
    const { backend, logger, store } = this.options;
    const started = this.now();
    const minute = this.minuteOf(index);
    const deadline = this.minuteOf(index + 1);
    if (lateMs > 1000)
      logger.warn({ minute, lateMs }, `round for ${iso(minute)} starts ${Math.round(lateMs / 1000)} s late`);
    let hosts: HostRecord[] | undefined;
    let delay = 1000;
    while (hosts === undefined) {
      try {
        hosts = await store.listHosts();
      } catch (error) {
        const giveUp = this.stopping || this.now() + delay >= deadline * 1000;
        logger.error(
          { store: this.options.storeAddress, minute, retryInMs: giveUp ? undefined : delay },
          `cannot read the hosts from the store at ${this.options.storeAddress}: ${(error as Error).message}; ${giveUp ? `minute ${iso(minute)} is not scheduled` : `retrying in ${delay / 1000} s`}`,
        );
        if (giveUp) {
          this.lastDone = index;
          return;
        }
        await sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, 30_000);
      }
    }
    const jobs = jobsForRound(hosts, minute, deadline, this.options.isPulled, (name) =>
      this.warnUnpulled(name),
    );
    try {
      await backend.publish(jobs, this.now());
    } catch (error) {
      logger.error(
        { minute, jobs: jobs.length },
        `enqueueing the jobs for ${iso(minute)} failed: ${(error as Error).message}`,
      );
      // Still the active scheduler: the broker refused; retrying could enqueue jobs twice. Lock
      // lost: whoever holds it next (perhaps us) redoes the minute, as it was not recorded.
      if (backend.active) this.lastDone = index;
      return;
    }
    this.lastDone = index;
    try {
      await backend.recordRound(minute);
    } catch (error) {
      logger.warn(`cannot record the round for ${iso(minute)}: ${(error as Error).message}`);
    }
    const finished = this.now();
    const report: RoundReport = { minute, jobs: jobs.length, hosts: hosts.length, ms: finished - started };
    const nextTick = (index + 1) * this.periodMs + this.offsetMs;
    if (finished > nextTick) {
      logger.warn(
        report,
        `round for ${iso(minute)} took ${report.ms} ms and ran past the start of the next round; the next round starts late`,
      );
    } else {
      logger.info(report, `enqueued ${jobs.length} pull jobs for ${hosts.length} hosts`);
    }
    this.options.onRound?.(report);
  }

  private warnUnpulled(name: string): void {
    if (this.unpulledWarned.has(name)) return;
    this.unpulledWarned.add(name);
    this.options.logger.warn(
      { plugin: name },
      `plugin "${name}" has no fetcher: hosts listing it are not pulled (this is said once)`,
    );
  }
}

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
