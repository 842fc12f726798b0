import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { redactUrl } from '../config.js';
import type { Delivery } from '../ingest/group-commit.js';
import type { Logger } from '../log.js';
import { hostFromRoutingKey } from '../protocol/host.js';

/** Agents publish MQTT to RabbitMQ's MQTT plugin, which routes through `amq.topic`. */
export const UPDATE_EXCHANGE = 'amq.topic';
export const UPDATE_BINDING = 'kurado.update.#';
export const DEFAULT_UPDATE_QUEUE = 'kurado.update';

export interface AmqpConsumerOptions {
  url: string;
  queue?: string;
  /** Unacknowledged messages RabbitMQ hands us at once: the upper bound of one group commit. */
  prefetch?: number;
  logger?: Logger;
}

/**
 * Consumes agent messages from a durable RabbitMQ queue bound to `amq.topic` with manual acks.
 * Any number of receivers may consume the same queue (competing consumers). When the connection
 * drops, RabbitMQ requeues what we had not acknowledged, and we reconnect with backoff.
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
        this.options.logger?.error(
          { broker: this.address, retryInMs: delay },
          `RabbitMQ at ${this.address} unreachable: ${(error as Error).message}; retrying`,
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

  private async connect(onDelivery: (delivery: Delivery) => void): Promise<void> {
    const queue = this.options.queue ?? DEFAULT_UPDATE_QUEUE;
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
    const channel = await connection.createChannel();
    channel.on('error', (error: Error) =>
      this.options.logger?.error({ broker: this.address, err: error.message }, 'RabbitMQ channel error'),
    );
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, UPDATE_EXCHANGE, UPDATE_BINDING);
    await channel.prefetch(this.options.prefetch ?? 2000);
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
