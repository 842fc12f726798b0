import type { Logger } from '../log.js';
import type { Delivery } from './group-commit.js';
import type { IngestReport } from './ingestor.js';
import { CommitLanes, type CommitLanesOptions } from './lanes.js';

/** A broker subscription that hands over deliveries: MQTT, AMQP or the embedded broker. */
export interface Consumer {
  start(onDelivery: (delivery: Delivery) => void): Promise<void>;
  stop(): Promise<void>;
}

/** Counters since start; the per-minute summary logs their change. */
export interface ReceiverTotals {
  commits: number;
  messages: number;
  values: number;
  rejected: number;
  duplicates: number;
  created: number;
  failed: number;
  newHosts: number;
  /** Largest lag seen in the current summary period, seconds. */
  maxLagSeconds: number;
}

export interface ReceiverOptions {
  consumers: Consumer[];
  ingestor: CommitLanesOptions['ingestor'];
  logger?: Logger;
  summaryIntervalMs?: number;
  maxMessagesPerCommit?: number;
  /** Committer timing (tests shorten it). */
  committer?: CommitLanesOptions['committer'];
}

/**
 * Runs consumers into the commit lanes (a fast one for known hosts, a slow one for big messages
 * and new hosts) and logs a one-line summary per minute. `stop` commits and acknowledges what is
 * in flight before closing the broker connections.
 */
export class Receiver {
  readonly totals: ReceiverTotals = {
    commits: 0,
    messages: 0,
    values: 0,
    rejected: 0,
    duplicates: 0,
    created: 0,
    failed: 0,
    newHosts: 0,
    maxLagSeconds: 0,
  };
  private readonly committer: CommitLanes;
  private summaryTimer: NodeJS.Timeout | undefined;
  private lastSummary: ReceiverTotals = { ...this.totals };

  constructor(private readonly options: ReceiverOptions) {
    this.committer = new CommitLanes({
      ingestor: options.ingestor,
      onCommit: (report) => this.count(report),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.maxMessagesPerCommit ? { maxMessages: options.maxMessagesPerCommit } : {}),
      ...(options.committer ? { committer: options.committer } : {}),
    });
  }

  async start(): Promise<void> {
    const intervalMs = this.options.summaryIntervalMs ?? 60_000;
    this.summaryTimer = setInterval(() => this.logSummary(intervalMs), intervalMs);
    this.summaryTimer.unref();
    this.committer.pause();
    await Promise.all(
      this.options.consumers.map((consumer) => consumer.start((delivery) => this.committer.add(delivery))),
    );
    this.committer.resume();
  }

  async stop(): Promise<void> {
    clearInterval(this.summaryTimer);
    await this.committer.drain();
    await Promise.all(this.options.consumers.map((consumer) => consumer.stop()));
    this.logSummary(0);
  }

  private count(report: IngestReport): void {
    const totals = this.totals;
    totals.commits++;
    totals.messages += report.messages;
    totals.values += report.values;
    totals.rejected += report.rejected;
    totals.duplicates += report.duplicates;
    totals.created += report.created;
    totals.failed += report.failed;
    totals.newHosts += report.newHosts.length;
    totals.maxLagSeconds = Math.max(totals.maxLagSeconds, report.lagSeconds);
  }

  private logSummary(intervalMs: number): void {
    const now = this.totals;
    const last = this.lastSummary;
    const delta = (key: keyof ReceiverTotals) => now[key] - last[key];
    this.options.logger?.info(
      {
        messages: delta('messages'),
        values: delta('values'),
        rejected: delta('rejected'),
        duplicates: delta('duplicates'),
        created: delta('created'),
        failed: delta('failed'),
        newHosts: delta('newHosts'),
        commits: delta('commits'),
        lagSeconds: now.maxLagSeconds,
        backlog: this.committer.backlog,
      },
      intervalMs > 0
        ? `last ${Math.round(intervalMs / 1000)}s: ${delta('messages')} messages, ${delta('values')} values, ${delta('rejected')} rejected, ${delta('created')} files created, lag ${now.maxLagSeconds}s`
        : `stopped after ${now.messages} messages, ${now.values} values`,
    );
    this.lastSummary = { ...now };
    now.maxLagSeconds = 0;
  }
}
