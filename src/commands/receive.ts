import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { type ConfigOverrides, redactUrl } from '../core/config.js';
import { DEFAULT_LIMITS, LIMIT_KEYS } from '../core/limits.js';
import { DEFAULT_STOP_TIMEOUT_SECONDS, Lifecycle } from '../core/runtime/lifecycle.js';
import {
  brokerConsumers,
  openRuntimeStore,
  startAggregator,
  startReceiver,
  startWritePath,
} from '../core/runtime/parts.js';
import { DEFAULT_UPDATE_QUEUE } from '../core/transport/amqp.js';
import { MqttConsumer } from '../core/transport/mqtt.js';

export default class Receive extends BaseCommand<typeof Receive> {
  static override summary =
    'Store metrics that agents push: broker → RRD files (rrdcached) + metadata store.';
  static override description =
    `Consumes agent messages from Mosquitto (MQTT shared subscription $share/kurado/kurado/update/+,
QoS 1, persistent sessions) or RabbitMQ (durable queue bound to amq.topic with kurado.update.#),
validates every line, writes values through rrdcached BATCH and meta/warnings/last-received to the
store. A message is acknowledged only after both accepted it; many messages are committed and
acknowledged together. Run any number of receivers: with Mosquitto they share the load; on a
RabbitMQ queue one is active and the others take over when it goes (single active consumer).

SIGTERM stores and acknowledges what is in flight, then exits 0; when that takes longer than
--stop-timeout (rrdcached or the store unreachable), it exits 1 and the broker keeps what was not
stored. A per-minute summary line is
logged (messages, values, rejected lines, files created, lag).`;

  static override examples = [
    '<%= config.bin %> receive --mqtt mqtt://127.0.0.1:1883 --rrdcached unix:/run/rrdcached.sock --data-dir /var/lib/kurado',
    '<%= config.bin %> receive --amqp amqp://kurado:secret@mq1:5672 --store mysql://kurado:secret@db1/kurado',
  ];

  static override flags = {
    mqtt: Flags.string({
      description: 'MQTT broker URL, mqtt://user:pass@host:1883. [env: KURADO_MQTT_URL]',
    }),
    amqp: Flags.string({ description: 'RabbitMQ URL, amqp://user:pass@host:5672. [env: KURADO_AMQP_URL]' }),
    'mqtt-connections': Flags.integer({
      description:
        'Subscriber connections in the shared group; each holds one message per group commit, so more connections mean bigger commits.',
      default: 32,
      min: 1,
      max: 1000,
    }),
    'client-id': Flags.string({
      description:
        'MQTT client-id prefix. Keep it stable: the broker keeps the session (and unacknowledged messages) under it. Give each receiver on one machine its own. [default: kurado-receive-<hostname>]',
    }),
    'amqp-queue': Flags.string({
      description: 'Durable RabbitMQ queue to consume.',
      default: DEFAULT_UPDATE_QUEUE,
    }),
    'forget-sessions': Flags.boolean({
      description:
        'Decommission: end the persistent MQTT sessions of --client-id (and --mqtt-connections) at the broker, then exit. Without it the broker keeps queueing their share of agent messages for a receiver that never returns.',
    }),
    'stop-timeout': Flags.integer({
      description:
        'Seconds SIGTERM may take: in-flight messages are stored and acknowledged first; when rrdcached or the store does not take them in time, receive exits 1 without acknowledging them and the broker keeps them for the next start. Keep systemd TimeoutStopSec above it.',
      default: DEFAULT_STOP_TIMEOUT_SECONDS,
      min: 1,
    }),
    'allow-relay': Flags.boolean({
      description:
        'Accept 4-field lines (<address> key value epoch) for other hosts from every publisher. Without it only hosts with relay = true in the server list may send them; relay = false on a host, section or role still refuses them.',
    }),
    'max-message-bytes': Flags.integer({
      description: `Largest agent message in bytes; a larger one is refused whole with a warning on its host (kurado.message-limit). Set the broker's limit (Mosquitto message_size_limit) to the same. [default: ${DEFAULT_LIMITS.maxMessageBytes}, limits.${LIMIT_KEYS.maxMessageBytes} in kurado.toml]`,
      min: 1,
    }),
    'max-message-lines': Flags.integer({
      description: `Lines in one agent message; the lines after it are refused with a warning on the host (kurado.message-limit). [default: ${DEFAULT_LIMITS.maxMessageLines}, limits.${LIMIT_KEYS.maxMessageLines} in kurado.toml]`,
      min: 1,
    }),
    prefetch: Flags.integer({
      description: 'Unacknowledged RabbitMQ messages held at once.',
      default: 2000,
      min: 1,
    }),
    aggregate: Flags.boolean({
      description:
        'Write the service and label summary graphs once a minute (from the latest values in the store). Every receiver may: they compute the same sums and a minute is stored once.',
      default: true,
      allowNo: true,
    }),
  };

  protected override configOverrides(): ConfigOverrides {
    const overrides = super.configOverrides();
    if (this.flags.mqtt) overrides.mqttUrl = this.flags.mqtt;
    if (this.flags.amqp) overrides.amqpUrl = this.flags.amqp;
    const limits: ConfigOverrides['limits'] = {};
    if (this.flags['max-message-bytes'] !== undefined)
      limits.maxMessageBytes = this.flags['max-message-bytes'];
    if (this.flags['max-message-lines'] !== undefined)
      limits.maxMessageLines = this.flags['max-message-lines'];
    overrides.limits = limits;
    return overrides;
  }

  public async run(): Promise<void> {
    const { settings, log_: logger, flags } = this;
    if (!settings.mqttUrl && !settings.amqpUrl) {
      this.error(
        'no broker: give --mqtt mqtt://host:1883 or --amqp amqp://host:5672 (or KURADO_MQTT_URL / KURADO_AMQP_URL, or mqtt/amqp in kurado.toml)',
        { exit: 2 },
      );
    }
    if (flags['forget-sessions']) {
      if (!settings.mqttUrl) this.error('--forget-sessions needs --mqtt', { exit: 2 });
      const consumer = new MqttConsumer({
        url: settings.mqttUrl,
        connections: flags['mqtt-connections'],
        ...(flags['client-id'] ? { clientIdPrefix: flags['client-id'] } : {}),
      });
      const count = await consumer.forgetSessions();
      this.log(`ended ${count} persistent session(s) at ${redactUrl(settings.mqttUrl)}`);
      return;
    }
    const life = new Lifecycle({
      logger,
      stoppingMessage: 'draining in-flight messages',
      stopTimeoutMs: flags['stop-timeout'] * 1000,
    });
    life.handleSignals();
    // A malformed store URL fails now; an unreachable store is waited for.
    const store = await openRuntimeStore(life, {
      url: settings.storeUrl,
      logger,
      waitUntilReachable: true,
      limits: settings.limits,
    });
    const { ingestor, writer, storage } = startWritePath(life, {
      dataDir: settings.dataDir,
      rrdcached: settings.rrdcached,
      storage: settings.storage,
      store,
      logger,
      limits: settings.limits,
      allowRelay: flags['allow-relay'],
    });
    if (flags.aggregate) {
      startAggregator(life, {
        dataDir: settings.dataDir,
        store,
        writer,
        storage,
        graphsDir: settings.graphsDir,
        logger,
      });
    }
    const consumers = brokerConsumers({
      mqttUrl: settings.mqttUrl,
      amqpUrl: settings.amqpUrl,
      mqttConnections: flags['mqtt-connections'],
      clientId: flags['client-id'],
      amqpQueue: flags['amqp-queue'],
      prefetch: flags.prefetch,
      logger,
    });
    logger.info(
      {
        dataDir: settings.dataDir,
        rrdcached:
          settings.storage.length > 0
            ? settings.storage.map((node) => `${node.name}=${node.rrdcached}`).join(', ')
            : (settings.rrdcached ?? 'none (rrdtool -)'),
        store: redactUrl(settings.storeUrl),
        mqtt: settings.mqttUrl && redactUrl(settings.mqttUrl),
        amqp: settings.amqpUrl && redactUrl(settings.amqpUrl),
      },
      'kurado receive starting',
    );
    await startReceiver(life, { consumers, ingestor, logger });
    // Consumers run on their own sockets; the command lives until a signal stops it.
    await life.untilStopped();
  }
}
