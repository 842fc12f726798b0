import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { redactUrl } from '../config.js';
import type { Delivery } from '../ingest/group-commit.js';
import type { Logger } from '../log.js';
import { hostFromTopic } from '../protocol/host.js';

/** Shared subscription: every receiver is a member of group "kurado" and Mosquitto spreads the load. */
export const SHARED_UPDATE_SUBSCRIPTION = '$share/kurado/kurado/update/+';

export const DEFAULT_CONNECTIONS = 32;

export interface MqttConsumerOptions {
  url: string;
  /**
   * Subscriber connections in the shared group. MQTT.js hands a connection's publishes over one at
   * a time and sends the PUBACK only after the message was stored, so each connection holds one
   * message per group commit: more connections, bigger commits. Each also gets its own broker-side
   * queue, which spreads a burst of thousands of agents over several `max_queued_messages` limits.
   */
  connections?: number;
  /** Stable client-id prefix: the broker keeps each persistent session's messages while we are down. */
  clientIdPrefix?: string;
  /** Topic filter; the default is the shared subscription. Tests use a plain topic on aedes. */
  subscription?: string;
  logger?: Logger;
}

/**
 * Consumes agent messages from an MQTT broker with QoS 1 and persistent sessions (clean=false),
 * so messages published while the receiver was down or unacknowledged when it died are delivered
 * again. Reconnects on its own (MQTT.js backoff); logs the broker address, never its password.
 */
export class MqttConsumer {
  private readonly clients: MqttClient[] = [];
  private readonly address: string;
  private lastErrorLog = 0;

  constructor(private readonly options: MqttConsumerOptions) {
    this.address = redactUrl(options.url);
  }

  /** Resolves once every connection is subscribed; keeps retrying while the broker is down. */
  async start(onDelivery: (delivery: Delivery) => void): Promise<void> {
    const count = this.options.connections ?? DEFAULT_CONNECTIONS;
    const prefix = this.options.clientIdPrefix ?? `kurado-receive-${hostname()}`;
    const subscription = this.options.subscription ?? SHARED_UPDATE_SUBSCRIPTION;
    const subscribed: Promise<void>[] = [];
    /** Set once every connection is subscribed; later SUBACKs follow a reconnect. */
    let started = false;
    for (let index = 0; index < count; index++) {
      const client = mqtt.connect(this.options.url, {
        clientId: `${prefix}-${index}`,
        clean: false,
        protocolVersion: 4,
        keepalive: 30,
        // Fast, so a restarted Mosquitto has the shared subscription back before most agents
        // (whose first retry comes after 0.5–1 s) publish again: see the subscribe below.
        reconnectPeriod: 250,
        connectTimeout: 10_000,
        resubscribe: false,
      });
      client.handleMessage = (packet, callback) => {
        const topic = packet.topic;
        const identity = hostFromTopic(topic);
        if ('error' in identity) {
          this.options.logger?.warn({ topic }, `dropping message: ${identity.error}`);
          callback();
          return;
        }
        const payload = typeof packet.payload === 'string' ? packet.payload : packet.payload.toString('utf8');
        onDelivery({ payload, host: identity.host, settle: () => callback(), source: String(index) });
      };
      client.on('error', (error) => this.logError(error));
      client.on('reconnect', () =>
        this.options.logger?.debug({ broker: this.address, index }, 'reconnecting to MQTT broker'),
      );
      this.clients.push(client);
      subscribed.push(
        new Promise<void>((resolve) => {
          client.on('connect', (connack) => {
            // Subscribe on every connect, even when the broker kept the session: Mosquitto 2.0.11
            // restores a persistent session after its own restart without the session's shared
            // subscription, so nothing more would arrive, and it drops what agents publish until
            // a member subscribes again. Subscribing again keeps the session's queued messages.
            client.subscribe(subscription, { qos: 1 }, (error) => {
              if (error) {
                this.logError(error);
                return;
              }
              if (started)
                this.options.logger?.info(
                  { broker: this.address, index, subscription },
                  'subscribed again to agent updates after a reconnect',
                );
              resolve();
            });
            // A kept session is ready at once: the broker redelivers its unacknowledged messages
            // first, and MQTT.js hands over the SUBACK only after those were acknowledged, which
            // happens only once every connection is up (the receiver starts paused).
            if (connack.sessionPresent) resolve();
          });
        }),
      );
    }
    await Promise.all(subscribed);
    started = true;
    this.options.logger?.info(
      { broker: this.address, connections: count, subscription },
      'subscribed to agent updates',
    );
  }

  /**
   * End this receiver's persistent sessions for good (connect each client id with a clean
   * session). A receiver that is decommissioned must do this: otherwise the broker keeps its
   * sessions in the shared group and goes on queueing their share of every agent's messages.
   */
  async forgetSessions(): Promise<number> {
    const count = this.options.connections ?? DEFAULT_CONNECTIONS;
    const prefix = this.options.clientIdPrefix ?? `kurado-receive-${hostname()}`;
    await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const client = await mqtt.connectAsync(this.options.url, {
          clientId: `${prefix}-${index}`,
          clean: true,
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        await client.endAsync();
      }),
    );
    return count;
  }

  /** Stop taking messages; unacknowledged ones stay with the broker for the next start. */
  async stop(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.endAsync(false)));
    this.clients.length = 0;
  }

  private logError(error: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.options.logger?.error(
      { broker: this.address, err: error.message },
      `MQTT broker at ${this.address} unreachable or refusing us: ${error.message}; retrying`,
    );
  }
}
