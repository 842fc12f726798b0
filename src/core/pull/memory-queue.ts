import type { PullJob } from './job.js';
import type { JobDelivery, JobSource, SchedulerBackend } from './queue.js';

interface MemoryConsumer {
  onJob: (delivery: JobDelivery) => void;
  prefetch: number;
  unacked: number;
  paused: boolean;
}

/**
 * The pull queue of `kurado up`: scheduler and worker in one process, no broker. It keeps the
 * broker's rules that matter: at most `prefetch` unacknowledged jobs per worker, and a job whose
 * minute is over is dropped instead of delivered. One process means one scheduler: always active.
 */
export class MemoryPullQueue implements SchedulerBackend {
  readonly active = true;
  private jobs: PullJob[] = [];
  private head = 0;
  private consumer: MemoryConsumer | undefined;
  private last: number | undefined;
  /** Jobs dropped because their minute ended before a worker took them. */
  expired = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Jobs waiting for a worker. */
  get depth(): number {
    return this.jobs.length - this.head;
  }

  async acquire(): Promise<void> {}

  async lastRound(): Promise<number | undefined> {
    return this.last;
  }

  async recordRound(minute: number): Promise<void> {
    this.last = minute;
  }

  async publish(jobs: readonly PullJob[]): Promise<void> {
    this.dropExpired();
    for (const job of jobs) this.jobs.push(job);
    this.dispatch();
  }

  async close(): Promise<void> {
    this.jobs = [];
    this.head = 0;
  }

  /** The worker side; one worker per queue. */
  source(prefetch: number): JobSource {
    return {
      start: async (onJob) => {
        this.consumer = { onJob, prefetch, unacked: 0, paused: false };
        this.dispatch();
      },
      pause: async () => {
        if (this.consumer) this.consumer.paused = true;
      },
      close: async () => {
        this.consumer = undefined;
      },
    };
  }

  private dispatch(): void {
    const consumer = this.consumer;
    if (!consumer) return;
    const nowMs = this.now();
    while (!consumer.paused && consumer.unacked < consumer.prefetch && this.head < this.jobs.length) {
      const job = this.jobs[this.head]!;
      this.jobs[this.head] = undefined as unknown as PullJob;
      this.head++;
      if (job.deadline * 1000 <= nowMs) {
        this.expired++;
        continue;
      }
      consumer.unacked++;
      let acked = false;
      consumer.onJob({
        job,
        ack: () => {
          if (acked) return;
          acked = true;
          consumer.unacked--;
          // Deliver the next job on a later tick, as a broker would, not inside the ack.
          queueMicrotask(() => this.dispatch());
        },
      });
    }
    this.compact();
  }

  private dropExpired(): void {
    const nowMs = this.now();
    while (this.head < this.jobs.length && this.jobs[this.head]!.deadline * 1000 <= nowMs) {
      this.head++;
      this.expired++;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
  }
}
