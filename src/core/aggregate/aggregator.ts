import type { Logger } from '../log.js';
import { AGGREGATES_DIRECTORY } from '../protocol/host.js';
import { aggregateFilePath, RRD_STEP } from '../rrd/layout.js';
import type { RrdUpdate, RrdWriter } from '../rrd/types.js';
import type { HostStorage } from '../storage/sharded.js';
import type { MetaStore } from '../store/types.js';
import { type AggregateSpecs, type ScopeSummary, SUMMARY_NAMES, summarize } from './summary.js';

/** A round runs this long after its minute starts: the minute's agent and pull values are in. */
export const AGGREGATE_OFFSET_SECONDS = 30;

export interface AggregatorOptions {
  dataDir: string;
  store: Pick<MetaStore, 'listHosts' | 'latestValues'>;
  writer: RrdWriter;
  /**
   * Sharded storage: the summaries' directory is placed on a node like a host (in the store, so
   * every receiver writes them to the same node and `serve` reads them there).
   */
  storage?: Pick<HostStorage, 'resolve'>;
  specs: AggregateSpecs;
  logger?: Logger;
  /** Epoch milliseconds; a parameter so tests can move time. */
  now?: () => number;
}

export interface AggregateRoundReport {
  /** Epoch seconds the summaries were written for (a minute boundary). */
  minute: number;
  scopes: number;
  values: number;
  /** Values the summary files already had: another receiver wrote this minute first. */
  duplicates: number;
  ms: number;
}

/** The summary file updates of one round, stamped with `minute`. */
export function summaryUpdates(
  dataDir: string,
  scopes: readonly ScopeSummary[],
  minute: number,
): RrdUpdate[] {
  const updates: RrdUpdate[] = [];
  for (const scope of scopes) {
    for (const [plugin, summary] of scope.plugins) {
      const file = (name: string) => aggregateFilePath(dataDir, scope.service, scope.label, plugin, name);
      updates.push({
        path: file(SUMMARY_NAMES.hosts),
        type: 'gauge',
        timestamp: minute,
        value: summary.hosts,
      });
      for (const [pattern, { sum, count }] of summary.patterns) {
        updates.push({
          path: file(SUMMARY_NAMES.sum(pattern)),
          type: 'gauge',
          timestamp: minute,
          value: count === 0 ? null : sum,
        });
        updates.push({
          path: file(SUMMARY_NAMES.count(pattern)),
          type: 'gauge',
          timestamp: minute,
          value: count,
        });
      }
    }
  }
  return updates;
}

/**
 * Writes the summary RRD files of every service and label once a minute, from the latest values
 * the Ingestor keeps in the store (one read of the store, not of the hosts' RRD files). Every
 * `receive` runs one: they read the same store, so they compute the same sums, and a minute a
 * receiver already wrote is refused by the files as a duplicate (counted, harmless).
 */
export class Aggregator {
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: AggregatorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Compute and write the summaries of the current minute. */
  async runOnce(): Promise<AggregateRoundReport> {
    const started = this.now();
    const nowSeconds = Math.floor(started / 1000);
    const minute = nowSeconds - (nowSeconds % RRD_STEP);
    const [hosts, rows] = await Promise.all([
      this.options.store.listHosts(),
      this.options.store.latestValues([...this.options.specs.keys()]),
    ]);
    const scopes = summarize(hosts, rows, this.options.specs, nowSeconds);
    const updates = summaryUpdates(this.options.dataDir, scopes, minute);
    if (updates.length > 0) await this.options.storage?.resolve([AGGREGATES_DIRECTORY], () => undefined);
    const report = updates.length > 0 ? await this.options.writer.write(updates) : undefined;
    if (report && report.failed.length > 0) {
      this.options.logger?.error(
        { failed: report.failed.slice(0, 3), count: report.failed.length },
        'summary values refused',
      );
    }
    return {
      minute,
      scopes: scopes.length,
      values: report?.accepted ?? 0,
      duplicates: report?.duplicates ?? 0,
      ms: this.now() - started,
    };
  }

  /** Run every minute at AGGREGATE_OFFSET_SECONDS past it until stop(). A failed round is logged. */
  start(): void {
    const schedule = () => {
      if (this.stopped) return;
      const period = RRD_STEP * 1000;
      const now = this.now();
      const next = now - (now % period) + AGGREGATE_OFFSET_SECONDS * 1000;
      const delay = next > now ? next - now : next + period - now;
      this.timer = setTimeout(() => {
        this.running = this.runOnce()
          .then((report) => this.options.logger?.debug(report, 'service summaries written'))
          .catch((error: unknown) =>
            this.options.logger?.warn(
              { error: (error as Error).message },
              'service summaries not written this minute; trying again next minute',
            ),
          )
          .finally(schedule);
      }, delay);
      this.timer.unref?.();
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
