import type { PullJob } from './job.js';

/** One job as a queue hands it to a worker. */
export interface JobDelivery {
  /** The job, or why the message is none (it is acknowledged and dropped). */
  job: PullJob | string;
  /** Remove the job from the queue; called once, after its values are stored (or it is dropped). */
  ack(): void;
}

/** Where a worker takes jobs from: RabbitMQ (`pull-worker`) or the in-process queue (`up`). */
export interface JobSource {
  /**
   * Start handing over jobs, never more than the source's prefetch unacknowledged at once.
   * Resolves once consuming; while the broker is unreachable it keeps retrying and logging.
   */
  start(onJob: (delivery: JobDelivery) => void): Promise<void>;
  /** Stop handing over new jobs; jobs already handed over can still be acknowledged. */
  pause(): Promise<void>;
  /** Close; jobs not acknowledged go back to the queue for another worker. */
  close(): Promise<void>;
}

/**
 * What a scheduler enqueues through, with the lock that makes exactly one scheduler active:
 * RabbitMQ (`schedule`) or the in-process queue (`up`, always active).
 */
export interface SchedulerBackend {
  /**
   * Resolves once this scheduler holds the lock (a standby waits here), or when `signal` aborts.
   * While the broker is unreachable it keeps retrying and logging.
   */
  acquire(signal: AbortSignal): Promise<void>;
  /** Whether the lock is still held; false once the broker connection is lost. */
  readonly active: boolean;
  /** Epoch seconds of the minute the last completed round was for (by any scheduler), if known. */
  lastRound(): Promise<number | undefined>;
  /** Record that the round for `minute` is enqueued, for a scheduler that takes over. */
  recordRound(minute: number): Promise<void>;
  /**
   * Enqueue jobs, each expiring at its deadline; resolves once the broker confirmed every one,
   * rejects when it did not (the lock is then usually lost too).
   */
  publish(jobs: readonly PullJob[], nowMs: number): Promise<void>;
  close(): Promise<void>;
}
