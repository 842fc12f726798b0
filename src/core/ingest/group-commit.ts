import type { Logger } from '../log.js';
import type { InboundMessage, Ingestor, IngestReport } from './ingestor.js';

/** A message from a broker that is acknowledged only once it is stored. */
export interface Delivery extends InboundMessage {
  /** Acknowledge (AMQP ack / MQTT PUBACK). Called once, after the group commit succeeded. */
  settle(): void;
}

export interface GroupCommitOptions {
  ingestor: Ingestor;
  logger?: Logger;
  /** Most messages in one commit (one rrdcached BATCH, one store transaction). */
  maxMessages?: number;
  /** How long the first message of a batch may wait for company, milliseconds. */
  maxDelayMs?: number;
  /**
   * Commit as soon as this many messages are pending: the number of broker connections that each
   * hold one message until it is stored (MQTT). Committing whole rounds keeps those connections in
   * lockstep, so consecutive messages of one host that the broker spread over several connections
   * are stored in the order they were published (RRD files refuse a value older than their last).
   */
  roundSize?: number;
  /** Called after every successful commit, for counters and the per-minute summary. */
  onCommit?: (report: IngestReport) => void;
  /** Backoff bounds while rrdcached or the store is unreachable. */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/**
 * Collects deliveries and commits them in groups: many messages become one rrdcached BATCH and
 * one store transaction, and are acknowledged together. Only one commit runs at a time, so a
 * commit that takes longer simply makes the next group bigger. A failed commit is retried with
 * backoff, forever, with the same messages still unacknowledged: the broker keeps them.
 */
export class GroupCommitter {
  private pending: Delivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private paused = false;
  private readonly maxMessages: number;
  private readonly maxDelayMs: number;
  private readonly roundSize: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private wakeRetry: (() => void) | undefined;

  constructor(private readonly options: GroupCommitOptions) {
    this.maxMessages = options.maxMessages ?? 2000;
    this.maxDelayMs = options.maxDelayMs ?? 50;
    this.roundSize = Math.min(options.roundSize ?? Number.POSITIVE_INFINITY, this.maxMessages);
    this.retryInitialMs = options.retryInitialMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
  }

  /** Messages received but not yet acknowledged. */
  get backlog(): number {
    return this.pending.length;
  }

  add(delivery: Delivery): void {
    this.pending.push(delivery);
    if (this.running || this.paused) return;
    if (this.pending.length >= this.roundSize) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.maxDelayMs);
  }

  /**
   * Hold commits (deliveries still collect) until `resume`. A receiver starts paused until all its
   * broker connections are up, so redelivered backlogs of several sessions interleave in order.
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.kick();
  }

  /** Commit everything pending, then stop retrying; used on SIGTERM to drain. */
  async drain(): Promise<void> {
    this.stopped = true;
    this.paused = false;
    this.wakeRetry?.();
    while (this.running || this.pending.length > 0) {
      if (!this.running) this.kick();
      await this.running;
    }
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.running || this.paused || this.pending.length === 0) return;
    this.running = this.commitLoop().finally(() => {
      this.running = undefined;
      if (this.pending.length > 0 && !this.stopped) this.kick();
    });
  }

  private async commitLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxMessages);
      await this.commitWithRetry(batch);
    }
  }

  private async commitWithRetry(batch: Delivery[]): Promise<void> {
    let delay = this.retryInitialMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const report = await this.options.ingestor.ingest(batch);
        for (const delivery of batch) delivery.settle();
        this.options.onCommit?.(report);
        if (attempt > 1)
          this.options.logger?.info({ attempt, messages: batch.length }, 'write path is back; batch stored');
        return;
      } catch (error) {
        if (this.stopped && attempt > 1) {
          // Shutting down and the write path is still down: leave the messages unacknowledged,
          // the broker redelivers them to the next receiver.
          this.options.logger?.error(
            { messages: batch.length, err: error },
            'giving up on batch at shutdown; broker keeps it',
          );
          return;
        }
        this.options.logger?.error(
          { err: error, messages: batch.length, attempt, retryInMs: delay },
          `cannot store batch: ${(error as Error).message}`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeRetry = undefined;
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
  }
}
