import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { DEFAULT_PULL_QUEUE, redactUrl } from '../config.js';
import type { Logger } from '../log.js';
import { retryWithBackoff } from '../retry.js';
import { decodeJob, encodeJob, type PullJob } from './job.js';
import type { JobDelivery, JobSource, SchedulerBackend } from './queue.js';
import { sleep } from './scheduler.js';

/**
 * Heartbeat asked for when the URL names none: a scheduler on a frozen or cut-off machine loses
 * its connection, and with it the lock, within about two heartbeats.
 */
const HEARTBEAT_SECONDS = 10;

/** The exclusive queue whose owner is the active scheduler. */
export function lockQueueOf(queue: string): string {
  return `${queue}.scheduler-lock`;
}

/** The queue holding the minute of the last enqueued round (one message), for a successor. */
export function roundsQueueOf(queue: string): string {
  return `${queue}.scheduler-rounds`;
}

function withHeartbeat(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has('heartbeat'))
      parsed.searchParams.set('heartbeat', String(HEARTBEAT_SECONDS));
    return parsed.toString();
  } catch {
    return url;
  }
}

export interface AmqpSchedulerOptions {
  url: string;
  queue?: string;
  logger: Logger;
  /** How often a standby tries to take the lock, milliseconds. */
  pollMs?: number;
}

/**
 * The scheduler's side of RabbitMQ. The lock is an exclusive queue: RabbitMQ lets only one
 * connection declare it and deletes it when that connection closes (process killed, network
 * lost: after two missed heartbeats), so a standby that keeps trying to declare it takes over
 * within `pollMs` of the active scheduler's death. Jobs are published with publisher confirms
 * on the same connection, so a scheduler that lost the lock has lost its channel too.
 */
export class AmqpSchedulerBackend implements SchedulerBackend {
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private held = false;
  private readonly queue: string;
  private readonly address: string;
  private readonly pollMs: number;

  constructor(private readonly options: AmqpSchedulerOptions) {
    this.queue = options.queue ?? DEFAULT_PULL_QUEUE;
    this.address = redactUrl(options.url);
    this.pollMs = options.pollMs ?? 5000;
  }

  get active(): boolean {
    return this.held && this.channel !== undefined;
  }

  async acquire(signal: AbortSignal): Promise<void> {
    const { logger } = this.options;
    let delay = 1000;
    let saidStandby = false;
    while (!signal.aborted) {
      try {
        if (!this.connection) await this.connect();
        if (await this.tryLock()) {
          this.held = true;
          logger.info(
            { broker: this.address, lock: lockQueueOf(this.queue), queue: this.queue },
            `active scheduler: holding ${lockQueueOf(this.queue)} at ${this.address}`,
          );
          return;
        }
        if (!saidStandby) {
          saidStandby = true;
          logger.info(
            { broker: this.address, lock: lockQueueOf(this.queue) },
            `standby: another scheduler holds ${lockQueueOf(this.queue)} at ${this.address}; trying every ${this.pollMs / 1000} s`,
          );
        }
        delay = 1000;
        await sleep(this.pollMs, signal);
      } catch (error) {
        logger.error(
          { broker: this.address, retryInMs: delay },
          `RabbitMQ at ${this.address} unreachable: ${(error as Error).message}; retrying in ${delay / 1000} s`,
        );
        await this.dropConnection();
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  async lastRound(): Promise<number | undefined> {
    const channel = this.requireChannel();
    const message = await channel.get(roundsQueueOf(this.queue), { noAck: false });
    if (message === false) return undefined;
    channel.nack(message, false, true);
    try {
      const minute = (JSON.parse(message.content.toString('utf8')) as { minute?: unknown }).minute;
      return typeof minute === 'number' ? minute : undefined;
    } catch {
      return undefined;
    }
  }

  async recordRound(minute: number): Promise<void> {
    const channel = this.requireChannel();
    channel.sendToQueue(roundsQueueOf(this.queue), Buffer.from(JSON.stringify({ minute })), {
      persistent: true,
      contentType: 'application/json',
    });
    await channel.waitForConfirms();
  }

  async publish(jobs: readonly PullJob[], nowMs: number): Promise<void> {
    const channel = this.requireChannel();
    let now = nowMs;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      if (i > 0 && i % 1000 === 0) now = Date.now();
      // Per-message TTL: RabbitMQ drops a job that no worker took before its minute ended.
      const ttl = Math.max(1, job.deadline * 1000 - now);
      const room = channel.sendToQueue(this.queue, encodeJob(job), {
        expiration: String(ttl),
        contentType: 'application/json',
      });
      if (!room) await drained(channel);
    }
    await channel.waitForConfirms();
  }

  async close(): Promise<void> {
    this.held = false;
    await this.dropConnection();
  }

  private requireChannel(): ConfirmChannel {
    if (!this.channel || !this.held)
      throw new Error(`not the active scheduler (connection to RabbitMQ at ${this.address} lost)`);
    return this.channel;
  }

  private async connect(): Promise<void> {
    const { logger } = this.options;
    const connection = await amqp.connect(withHeartbeat(this.options.url), {
      clientProperties: { connection_name: 'kurado schedule' },
    });
    connection.on('error', (error: Error) =>
      logger.error({ broker: this.address, err: error.message }, 'RabbitMQ connection error'),
    );
    connection.on('close', () => {
      if (this.connection !== connection) return;
      this.connection = undefined;
      this.channel = undefined;
      if (this.held) {
        this.held = false;
        logger.error(
          { broker: this.address },
          `lost RabbitMQ at ${this.address}: no longer the active scheduler; reconnecting`,
        );
      }
    });
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', (error: Error) =>
        logger.error({ broker: this.address, err: error.message }, 'RabbitMQ channel error'),
      );
      await channel.assertQueue(this.queue, { durable: true });
      await channel.assertQueue(roundsQueueOf(this.queue), {
        durable: true,
        arguments: { 'x-max-length': 1 },
      });
      this.connection = connection;
      this.channel = channel;
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  /** Declare the exclusive lock queue on a channel of its own (a refusal closes the channel). */
  private async tryLock(): Promise<boolean> {
    const connection = this.connection;
    if (!connection) throw new Error('not connected');
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.assertQueue(lockQueueOf(this.queue), { exclusive: true, durable: false });
      await channel.close();
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 405) return false; // RESOURCE_LOCKED: held by another
      throw error;
    }
  }

  private async dropConnection(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    this.held = false;
    await connection?.close().catch(() => undefined);
  }
}

function drained(channel: Channel): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      channel.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      channel.off('drain', onDrain);
      reject(new Error('RabbitMQ channel closed while enqueueing'));
    };
    channel.once('drain', onDrain);
    channel.once('close', onClose);
  });
}

export interface AmqpJobSourceOptions {
  url: string;
  queue?: string;
  /** Unacknowledged jobs held at once: the worker's concurrency. */
  prefetch: number;
  logger: Logger;
}

/**
 * The worker's side of RabbitMQ: consumes the durable pull queue with manual acknowledgements.
 * Any number of workers consume it (competing consumers). When the connection drops, RabbitMQ
 * gives the unacknowledged jobs to another worker, and this one reconnects with backoff.
 */
export class AmqpJobSource implements JobSource {
  private connection: ChannelModel | undefined;
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private stopping = false;
  private paused = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly queue: string;
  private readonly address: string;

  constructor(private readonly options: AmqpJobSourceOptions) {
    this.queue = options.queue ?? DEFAULT_PULL_QUEUE;
    this.address = redactUrl(options.url);
  }

  async start(onJob: (delivery: JobDelivery) => void): Promise<void> {
    await retryWithBackoff(
      `RabbitMQ at ${this.address} unreachable`,
      () => this.connect(onJob),
      this.options.logger,
      {
        stopped: () => this.stopping || this.paused,
        fields: { broker: this.address },
      },
    );
  }

  async pause(): Promise<void> {
    this.paused = true;
    clearTimeout(this.reconnectTimer);
    const { channel, consumerTag } = this;
    if (channel && consumerTag) await channel.cancel(consumerTag).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    await connection?.close().catch(() => undefined);
  }

  private async connect(onJob: (delivery: JobDelivery) => void): Promise<void> {
    const { logger } = this.options;
    const connection = await amqp.connect(withHeartbeat(this.options.url), {
      clientProperties: { connection_name: 'kurado pull-worker' },
    });
    connection.on('error', (error: Error) =>
      logger.error({ broker: this.address, err: error.message }, 'RabbitMQ connection error'),
    );
    connection.on('close', () => {
      if (this.connection !== connection) return;
      this.connection = undefined;
      this.channel = undefined;
      if (this.stopping || this.paused) return;
      logger.error({ broker: this.address }, `lost RabbitMQ at ${this.address}; reconnecting`);
      this.reconnectTimer = setTimeout(() => void this.start(onJob), 1000);
    });
    try {
      const channel = await connection.createChannel();
      channel.on('error', (error: Error) =>
        logger.error({ broker: this.address, err: error.message }, 'RabbitMQ channel error'),
      );
      await channel.assertQueue(this.queue, { durable: true });
      await channel.prefetch(this.options.prefetch);
      this.connection = connection;
      this.channel = channel;
      const { consumerTag } = await channel.consume(
        this.queue,
        (message: ConsumeMessage | null) => {
          if (message === null) {
            logger.error({ queue: this.queue }, `queue ${this.queue} was deleted; reconnecting`);
            void connection.close().catch(() => undefined);
            return;
          }
          let acked = false;
          onJob({
            job: decodeJob(message.content),
            ack: () => {
              // A delivery tag is only valid on its channel; after a reconnect RabbitMQ has
              // already given the job to another worker.
              if (acked || this.channel !== channel) return;
              acked = true;
              channel.ack(message);
            },
          });
        },
        { noAck: false },
      );
      this.consumerTag = consumerTag;
    } catch (error) {
      this.connection = undefined;
      this.channel = undefined;
      await connection.close().catch(() => undefined);
      throw error;
    }
    logger.info(
      { broker: this.address, queue: this.queue, prefetch: this.options.prefetch },
      `consuming pull jobs from ${this.queue} at ${this.address}`,
    );
  }
}
