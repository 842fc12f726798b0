import type { Logger } from '../log.js';
import type { InboundMessage, Ingestor, IngestReport } from './ingestor.js';

/** A message from a broker that is acknowledged only once it is stored. */
export interface Delivery extends InboundMessage {
  /** Acknowledge (AMQP ack / MQTT PUBACK). Called once, after the group commit succeeded. */
  settle(): void;
  /**
   * The broker connection the message came on, when a connection hands over one message at a
   * time and waits for its acknowledgement (MQTT): commits then go in rounds, see GroupCommitter.
   */
  source?: string;
}

export interface GroupCommitOptions {
  /** The write path (an Ingestor); only its `ingest` is used. */
  ingestor: Pick<Ingestor, 'ingest'>;
  logger?: Logger;
  /** Most messages in one commit (one rrdcached BATCH, one store transaction). */
  maxMessages?: number;
  /** Most payload bytes in one commit (a bigger message still goes, alone); default unbounded. */
  maxBytes?: number;
  /** How long the first message of a batch may wait for company, milliseconds. */
  maxDelayMs?: number;
  /** How long a round waits for the sources of the previous round, milliseconds. */
  roundWaitMs?: number;
  /** Called after every successful commit, for counters and the per-minute summary. */
  onCommit?: (report: IngestReport) => void;
  /** Backoff bounds while rrdcached or the store is unreachable. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** How often held messages (their storage node is down) are tried while nothing else comes, ms. */
  heldRetryMs?: number;
}

/**
 * Collects deliveries and commits them in groups: many messages become one rrdcached BATCH and
 * one store transaction, and are acknowledged together. Only one commit runs at a time, so a
 * commit that takes longer simply makes the next group bigger. A failed commit is retried with
 * backoff, forever, with the same messages still unacknowledged: the broker keeps them.
 *
 * Deliveries with a `source` (MQTT connections in a shared subscription, each holding one message
 * until it is acknowledged) are committed in rounds: the next commit waits, up to `roundWaitMs`,
 * until every source of the previous commit has handed over its next message. The connections
 * then drain their broker-side queues at the same pace, so consecutive messages of one host that
 * the broker spread over several connections are stored in the order they were published, even
 * after a backlog (an RRD file refuses a value older than its last one).
 *
 * Messages the ingest path defers (their host's storage node is down) are held, unacknowledged,
 * and go in front of every later commit, so they are stored before any newer message of the same
 * host once the node is back; the other messages of the commit are acknowledged at once.
 */
export class GroupCommitter {
  private pending: Delivery[] = [];
  /** Deferred deliveries, oldest first: in front of the next commit. */
  private held: Delivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private paused = false;
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly maxDelayMs: number;
  private readonly roundWaitMs: number;
  /** Sources of the last commit: the next round waits for each of them. */
  private expected = new Set<string>();
  /** Sources of `expected` that have handed over a message since. */
  private arrived = new Set<string>();
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private wakeRetry: (() => void) | undefined;

  constructor(private readonly options: GroupCommitOptions) {
    this.maxMessages = options.maxMessages ?? 2000;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.maxDelayMs = options.maxDelayMs ?? 20;
    this.roundWaitMs = options.roundWaitMs ?? 250;
    this.retryInitialMs = options.retryInitialMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.heldRetryMs = options.heldRetryMs ?? 1000;
  }

  private readonly heldRetryMs: number;
  /** Whether `timer` is the slow retry of held messages (new messages replace it). */
  private heldRetryTimer = false;

  /** Messages received but not yet acknowledged. */
  get backlog(): number {
    return this.pending.length + this.held.length;
  }

  /** Messages held because their host's storage node is down. */
  get heldCount(): number {
    return this.held.length;
  }

  add(delivery: Delivery): void {
    this.pending.push(delivery);
    if (delivery.source !== undefined && this.expected.has(delivery.source))
      this.arrived.add(delivery.source);
    this.schedule();
  }

  /**
   * `source` handed over its next message to another committer (CommitLanes): the round this
   * one waits for need not wait for it.
   */
  handedOver(source: string): void {
    if (!this.expected.has(source)) return;
    this.arrived.add(source);
    this.schedule();
  }

  /** Commit now when the round is complete, else after a short wait for company. */
  private schedule(): void {
    if (this.running || this.paused) return;
    if (this.pending.length === 0) {
      // Only held messages: try them again now and then (their node may be back).
      if (this.held.length > 0 && !this.stopped && this.timer === undefined) {
        this.timer = setTimeout(() => this.kick(), this.heldRetryMs);
        this.heldRetryTimer = true;
      }
      return;
    }
    if (this.heldRetryTimer) {
      // New messages do not wait for the held messages' next try.
      clearTimeout(this.timer);
      this.timer = undefined;
      this.heldRetryTimer = false;
    }
    if (this.pending.length >= this.maxMessages || this.roundComplete()) {
      this.kick();
      return;
    }
    this.timer ??= setTimeout(() => this.kick(), this.expected.size > 0 ? this.roundWaitMs : this.maxDelayMs);
  }

  private roundComplete(): boolean {
    return this.expected.size > 0 && this.arrived.size >= this.expected.size;
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
    if (this.timer) clearTimeout(this.timer);
    if (this.held.length > 0) {
      this.options.logger?.warn(
        { messages: this.held.length },
        'leaving messages of down storage nodes unacknowledged; the broker keeps them',
      );
    }
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.heldRetryTimer = false;
    if (this.running || this.paused || this.pending.length + this.held.length === 0) return;
    if (this.stopped && this.pending.length === 0) return;
    let take = 0;
    for (let bytes = 0; take < this.pending.length && take < this.maxMessages; take++) {
      bytes += (this.pending[take] as Delivery).payload.length;
      if (take > 0 && bytes > this.maxBytes) break;
    }
    const batch = [...this.held, ...this.pending.splice(0, take)];
    this.held = [];
    this.expected = new Set();
    for (const delivery of batch) if (delivery.source !== undefined) this.expected.add(delivery.source);
    this.arrived = new Set();
    for (const delivery of this.pending) {
      if (delivery.source !== undefined && this.expected.has(delivery.source))
        this.arrived.add(delivery.source);
    }
    this.running = this.commitWithRetry(batch).finally(() => {
      this.running = undefined;
      if (this.stopped) this.kick();
      else this.schedule();
    });
  }

  private async commitWithRetry(batch: Delivery[]): Promise<void> {
    let delay = this.retryInitialMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const report = await this.options.ingestor.ingest(batch);
        const deferred = new Set(report.deferred ?? []);
        batch.forEach((delivery, index) => {
          if (deferred.has(index)) this.held.push(delivery);
          else delivery.settle();
        });
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
