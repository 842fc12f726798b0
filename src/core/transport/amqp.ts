import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { redactUrl } from '../config.js';
import type { Delivery } from '../ingest/group-commit.js';
import type { Logger } from '../log.js';
import { hostFromRoutingKey } from '../protocol/host.js';

/** Agents publish MQTT to RabbitMQ's MQTT plugin, which routes through `amq.topic`. */
export const UPDATE_EXCHANGE = 'amq.topic';
export const UPDATE_BINDING = 'kurado.update.#';
export const DEFAULT_UPDATE_QUEUE = 'kurado.update';
/**
 * The update queue has one active consumer; other receivers wait as hot standbys. Competing
 * consumers would split one host's consecutive messages between processes whenever a backlog
 * drains (an agent's spool after an outage, a receiver's restart), and an RRD file refuses a
 * value older than the one another process already stored there. With one active consumer
 * RabbitMQ delivers in queue order, and when that consumer dies its unacknowledged messages go
 * back to the head of the queue for the next one, still in order.
 */
export const UPDATE_QUEUE_ARGUMENTS = { 'x-single-active-consumer': true } as const;

export interface AmqpConsumerOptions {
  url: string;
  queue?: string;
  /** Unacknowledged messages RabbitMQ hands us at once: the upper bound of one group commit. */
  prefetch?: number;
  logger?: Logger;
}

/**
 * Consumes agent messages from a durable RabbitMQ queue bound to `amq.topic` with manual acks.
 * Any number of receivers may consume the same queue: one is active, the others take over when
 * it goes (UPDATE_QUEUE_ARGUMENTS). When the connection drops, RabbitMQ requeues what we had not
 * acknowledged, and we reconnect with backoff.
 */
export class AmqpConsumer {
  private connection: ChannelModel | undefined;
  private channel: Channel | undefined;
  private stopping = false;
  private readonly address: string;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: AmqpConsumerOptions) {
    this.address = redactUrl(options.url);
  }

  /** Resolves once consuming; while RabbitMQ is unreachable it keeps retrying and logging. */
  async start(onDelivery: (delivery: Delivery) => void): Promise<void> {
    let delay = 500;
    for (;;) {
      try {
        await this.connect(onDelivery);
        return;
      } catch (error) {
        if (this.stopping) return;
        const message = (error as Error).message;
        this.options.logger?.error(
          { broker: this.address, retryInMs: delay },
          /inequivalent arg 'x-single-active-consumer'/.test(message)
            ? `queue "${this.queue}" at ${this.address} was declared without a single active consumer ` +
                `(by an older Kurado or by hand); once it is drained, delete it ` +
                `(rabbitmqctl delete_queue ${this.queue}) and receive declares it again: ${message}; retrying`
            : `RabbitMQ at ${this.address} unreachable: ${message}; retrying`,
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    await connection?.close().catch(() => undefined);
  }

  private get queue(): string {
    return this.options.queue ?? DEFAULT_UPDATE_QUEUE;
  }

  private async connect(onDelivery: (delivery: Delivery) => void): Promise<void> {
    const queue = this.queue;
    const connection = await amqp.connect(this.options.url, {
      clientProperties: { connection_name: 'kurado receive' },
    });
    connection.on('error', (error: Error) =>
      this.options.logger?.error({ broker: this.address, err: error.message }, 'RabbitMQ connection error'),
    );
    connection.on('close', () => {
      if (this.stopping || this.connection !== connection) return;
      this.connection = undefined;
      this.channel = undefined;
      this.options.logger?.error({ broker: this.address }, `lost RabbitMQ at ${this.address}; reconnecting`);
      this.reconnectTimer = setTimeout(() => void this.start(onDelivery), 500);
    });
    let channel: Channel;
    try {
      channel = await connection.createChannel();
      channel.on('error', (error: Error) =>
        this.options.logger?.error({ broker: this.address, err: error.message }, 'RabbitMQ channel error'),
      );
      await channel.assertQueue(queue, { durable: true, arguments: UPDATE_QUEUE_ARGUMENTS });
      await channel.bindQueue(queue, UPDATE_EXCHANGE, UPDATE_BINDING);
      await channel.prefetch(this.options.prefetch ?? 2000);
    } catch (error) {
      // A refused declaration closes only the channel: close the connection too, or every retry
      // would leave one open.
      await connection.close().catch(() => undefined);
      throw error;
    }
    this.connection = connection;
    this.channel = channel;
    await channel.consume(
      queue,
      (message: ConsumeMessage | null) => {
        if (message === null) return; // the queue was deleted; 'close' handles reconnecting
        const ack = () => {
          // A delivery tag is only valid on the channel it came from; after a reconnect RabbitMQ
          // has already requeued the message and will deliver it again (a benign duplicate).
          if (this.channel === channel) channel.ack(message);
        };
        const identity = hostFromRoutingKey(message.fields.routingKey);
        if ('error' in identity) {
          this.options.logger?.warn(
            { routingKey: message.fields.routingKey },
            `dropping message: ${identity.error}`,
          );
          ack();
          return;
        }
        onDelivery({ payload: message.content.toString('utf8'), host: identity.host, settle: ack });
      },
      { noAck: false },
    );
    this.options.logger?.info(
      { broker: this.address, queue, binding: UPDATE_BINDING },
      'consuming agent updates',
    );
  }
}
