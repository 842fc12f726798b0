import type { Logger } from '../log.js';
import { type Delivery, GroupCommitter } from './group-commit.js';
import type { Ingestor, IngestReport } from './ingestor.js';

/**
 * A message longer than this (about 1,500 agent lines; a base agent sends 4 KB) takes the slow
 * lane: its parse and writes run in slices for seconds, which the fast lane must not wait for.
 */
export const SLOW_MESSAGE_BYTES = 64 * 1024;
/** Most messages in one slow-lane commit: 200 new hosts × 50 metrics are 10,000 new files. */
export const SLOW_LANE_MESSAGES = 200;
/** Most payload bytes in one slow-lane commit (a single bigger message still goes alone). */
export const SLOW_LANE_BYTES = 8 * 1024 * 1024;

export interface CommitLanesOptions {
  /** The write path; `knowsHost` (whether a host's files are known) routes new hosts slow. */
  ingestor: Pick<Ingestor, 'ingest'> & Partial<Pick<Ingestor, 'knowsHost'>>;
  logger?: Logger;
  onCommit?: (report: IngestReport) => void;
  /** Most messages in one fast-lane commit. */
  maxMessages?: number;
  slowMessageBytes?: number;
  /** Timing of both lanes' committers (tests shorten them). */
  committer?: { maxDelayMs?: number; roundWaitMs?: number; retryInitialMs?: number; retryMaxMs?: number };
}

/**
 * Two group committers side by side, so slow work cannot hold up the fleet:
 * - the fast lane commits the messages of hosts whose files exist, as always;
 * - the slow lane takes a message longer than SLOW_MESSAGE_BYTES and, from a transport that
 *   delivers in order without holding a connection per message (RabbitMQ), every message of a
 *   host this process has not stored yet (its files are probably new: a fleet's first minute
 *   creates 500,000 files, at the pace rrdcached allows). Its commits run while fast commits go on.
 * A host's messages stay in order: once a host has a message in the slow lane, its later ones
 * follow it there, and a slow message waits until the fast lane has stored that host's earlier
 * ones. Messages without a host (relayed lines may name any host) always take the fast lane.
 * Each message is still acknowledged only once stored.
 */
export class CommitLanes {
  private readonly fast: GroupCommitter;
  private readonly slow: GroupCommitter;
  private readonly slowMessageBytes: number;
  /** host → its messages in the fast lane, not yet stored. */
  private readonly inFast = new Map<string, number>();
  /** host → its messages in the slow lane (waiting included), not yet stored. */
  private readonly inSlow = new Map<string, number>();
  /** Slow messages whose host still has messages in the fast lane, in arrival order. */
  private waiting: Delivery[] = [];

  constructor(private readonly options: CommitLanesOptions) {
    this.slowMessageBytes = options.slowMessageBytes ?? SLOW_MESSAGE_BYTES;
    const common = {
      ingestor: options.ingestor,
      ...options.committer,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.onCommit ? { onCommit: options.onCommit } : {}),
    };
    this.fast = new GroupCommitter({
      ...common,
      ...(options.maxMessages ? { maxMessages: options.maxMessages } : {}),
    });
    this.slow = new GroupCommitter({ ...common, maxMessages: SLOW_LANE_MESSAGES, maxBytes: SLOW_LANE_BYTES });
  }

  /** Messages received but not yet acknowledged. */
  get backlog(): number {
    return this.fast.backlog + this.slow.backlog + this.waiting.length;
  }

  add(delivery: Delivery): void {
    const host = delivery.host;
    if (host !== undefined && this.takesSlowLane(delivery, host)) {
      count(this.inSlow, host, 1);
      const slowDelivery: Delivery = {
        ...delivery,
        settle: () => {
          count(this.inSlow, host, -1);
          delivery.settle();
        },
      };
      // The fast lane's round must not wait for this connection: its message is here.
      if (delivery.source !== undefined) this.fast.handedOver(delivery.source);
      if (this.inFast.has(host)) this.waiting.push(slowDelivery);
      else this.slow.add(slowDelivery);
      return;
    }
    if (host !== undefined) count(this.inFast, host, 1);
    if (delivery.source !== undefined) this.slow.handedOver(delivery.source);
    this.fast.add(
      host === undefined
        ? delivery
        : {
            ...delivery,
            settle: () => {
              delivery.settle();
              if (count(this.inFast, host, -1) === 0) this.release(host);
            },
          },
    );
  }

  private takesSlowLane(delivery: Delivery, host: string): boolean {
    if (this.inSlow.has(host)) return true;
    if (delivery.payload.length > this.slowMessageBytes) return true;
    // A connection that hands over one message at a time (MQTT) and waits in the slow lane holds
    // back what the broker queued behind it, while the other connections go on: during a backlog
    // a host's newer message could then be stored before its older one (which the RRD file
    // refuses). New hosts arrive in backlogs (a restart, a fleet's first minute), so only
    // deliveries without that coupling (RabbitMQ, in order) send them to the slow lane.
    return delivery.source === undefined && this.options.ingestor.knowsHost?.(host) === false;
  }

  /** Hand the slow lane the messages that waited for `host`'s fast ones. */
  private release(host: string): void {
    if (this.waiting.length === 0) return;
    const still: Delivery[] = [];
    for (const delivery of this.waiting) {
      if (delivery.host === host) this.slow.add(delivery);
      else still.push(delivery);
    }
    this.waiting = still;
  }

  pause(): void {
    this.fast.pause();
    this.slow.pause();
  }

  resume(): void {
    this.fast.resume();
    this.slow.resume();
  }

  /** Commit everything pending in both lanes (SIGTERM). */
  async drain(): Promise<void> {
    await Promise.all([this.fast.drain(), this.slow.drain()]);
    // Messages that waited for the fast lane went to the slow lane while it drained.
    if (this.backlog > 0) await this.slow.drain();
  }
}

/** Add `delta` to a per-host count, dropping it at zero; the new count. */
function count(counts: Map<string, number>, host: string, delta: number): number {
  const next = (counts.get(host) ?? 0) + delta;
  if (next <= 0) counts.delete(host);
  else counts.set(host, next);
  return next;
}
