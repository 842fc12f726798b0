import { existsSync } from 'node:fs';
import { Aggregator } from '../aggregate/aggregator.js';
import { aggregateSpecs } from '../aggregate/summary.js';
import { redactUrl } from '../config.js';
import { loadTemplates } from '../graphs/loader.js';
import { Ingestor } from '../ingest/ingestor.js';
import { type Consumer, Receiver } from '../ingest/receiver.js';
import type { IngestLimits } from '../limits.js';
import type { Logger } from '../log.js';
import { retryWithBackoff } from '../retry.js';
import { RRDCACHED_BINARY, startRrdcachedDaemon } from '../rrd/rrdcached-daemon.js';
import type { RrdWriter } from '../rrd/types.js';
import { createRrdWriter } from '../rrd/writer.js';
import type { StorageNode } from '../storage/nodes.js';
import { type HostStorage, openShardedStorage } from '../storage/sharded.js';
import { openStore, parseStoreUrl } from '../store/index.js';
import type { MetaStore } from '../store/types.js';
import { AmqpConsumer } from '../transport/amqp.js';
import { EmbeddedBroker } from '../transport/embedded-broker.js';
import { MqttConsumer } from '../transport/mqtt.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * The parts long-running commands are made of. Each `start…`/`open…` registers its own stop
 * with the Lifecycle, so a command (or `kurado up`, which composes several roles) only lists
 * parts in the order they depend on each other and shutdown runs that order backwards.
 */

export interface OpenStoreOptions {
  url: string;
  logger: Logger;
  /**
   * Wait for an unreachable store with backoff (a daemon started before its database) instead
   * of failing; a malformed URL still fails at once.
   */
  waitUntilReachable?: boolean;
  /** Meta names and warnings kept per host (`[limits]` in kurado.toml). */
  limits?: IngestLimits;
}

/** Open and migrate the metadata store; closed at shutdown. */
export async function openRuntimeStore(life: Lifecycle, options: OpenStoreOptions): Promise<MetaStore> {
  const open = async () => {
    const opened = await openStore(options.url, options.limits ? { limits: options.limits } : {});
    await opened.migrate();
    return opened;
  };
  let store: MetaStore;
  if (options.waitUntilReachable) {
    parseStoreUrl(options.url);
    store = await retryWithBackoff(
      `cannot open the metadata store at ${redactUrl(options.url)}`,
      open,
      options.logger,
    );
  } else store = await open();
  life.onStop('store', () => store.close());
  return store;
}

export interface WritePathOptions {
  dataDir: string;
  /** rrdcached address; without it values go through a `rrdtool -` process. */
  rrdcached?: string | undefined;
  store: MetaStore;
  logger: Logger;
  /** What one agent may cost (`[limits]` in kurado.toml). */
  limits?: IngestLimits;
  /** Accept 4-field lines for other hosts from every publisher (`receive --allow-relay`). */
  allowRelay?: boolean;
  /** `[[storage]]` nodes; empty or absent = data_dir through `rrdcached` (one default node). */
  storage?: readonly StorageNode[];
}

/** The single write path (RRD writer + Ingestor) every role that stores values shares. */
export interface WritePath {
  writer: RrdWriter;
  ingestor: Ingestor;
  /** The host → node placement when storage is sharded. */
  storage?: HostStorage;
}

/** Create the RRD writer and the Ingestor on top of it; the writer is closed at shutdown. */
export function startWritePath(life: Lifecycle, options: WritePathOptions): WritePath {
  const sharded =
    options.storage && options.storage.length > 0
      ? openShardedStorage({
          dataDir: options.dataDir,
          nodes: options.storage,
          store: options.store,
          logger: options.logger,
        })
      : undefined;
  const writer =
    sharded?.writer ??
    createRrdWriter({
      dataDir: options.dataDir,
      ...(options.rrdcached ? { rrdcached: options.rrdcached } : {}),
    });
  life.onStop('RRD writer', () => writer.close());
  const ingestor = new Ingestor({
    dataDir: options.dataDir,
    writer,
    ...(sharded ? { storage: sharded } : {}),
    store: options.store,
    logger: options.logger,
    ...(options.limits ? { limits: options.limits } : {}),
    allowRelay: options.allowRelay ?? false,
  });
  return { writer, ingestor, ...(sharded ? { storage: sharded } : {}) };
}

export interface BrokerConsumerOptions {
  mqttUrl?: string | undefined;
  amqpUrl?: string | undefined;
  /** MQTT subscriber connections in the shared group. */
  mqttConnections?: number;
  /** MQTT client-id prefix of the persistent sessions. */
  clientId?: string | undefined;
  amqpQueue?: string;
  /** Unacknowledged AMQP messages held at once. */
  prefetch?: number;
  logger: Logger;
}

/** One consumer per configured broker: MQTT (shared subscription) and/or AMQP (durable queue). */
export function brokerConsumers(options: BrokerConsumerOptions): Consumer[] {
  const consumers: Consumer[] = [];
  if (options.mqttUrl) {
    consumers.push(
      new MqttConsumer({
        url: options.mqttUrl,
        ...(options.mqttConnections === undefined ? {} : { connections: options.mqttConnections }),
        ...(options.clientId ? { clientIdPrefix: options.clientId } : {}),
        logger: options.logger,
      }),
    );
  }
  if (options.amqpUrl) {
    consumers.push(
      new AmqpConsumer({
        url: options.amqpUrl,
        ...(options.amqpQueue === undefined ? {} : { queue: options.amqpQueue }),
        ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }),
        logger: options.logger,
      }),
    );
  }
  return consumers;
}

export interface ReceiverPartOptions {
  consumers: Consumer[];
  ingestor: Ingestor;
  logger: Logger;
  maxMessagesPerCommit?: number;
}

/**
 * Start consuming into the write path. The receiver is registered before its consumers connect,
 * so a signal while a broker is still unreachable stops it too; at shutdown it stores and
 * acknowledges what is in flight before the writer and the store it uses close.
 */
export async function startReceiver(life: Lifecycle, options: ReceiverPartOptions): Promise<Receiver> {
  const receiver = new Receiver({
    consumers: options.consumers,
    ingestor: options.ingestor,
    logger: options.logger,
    ...(options.maxMessagesPerCommit === undefined
      ? {}
      : { maxMessagesPerCommit: options.maxMessagesPerCommit }),
  });
  life.onStop('receiver', () => receiver.stop());
  await receiver.start();
  return receiver;
}

/** An MQTT broker in this process (aedes) for agents to publish to; closed at shutdown. */
export async function startEmbeddedBroker(
  life: Lifecycle,
  options: { host: string; port: number; logger: Logger },
): Promise<{ broker: EmbeddedBroker; port: number; fellBack: boolean }> {
  const broker = new EmbeddedBroker(options.logger);
  life.onStop('MQTT broker', () => broker.close());
  const { port, fellBack } = await broker.listen(options.host, options.port);
  return { broker, port, fellBack };
}

/**
 * The rrdcached address to write through: the configured one, else a daemon of our own (journal
 * under `stateDir`) when rrdcached is installed, else none (values then go through `rrdtool -`).
 */
export async function startLocalRrdcached(
  life: Lifecycle,
  options: { configured?: string | undefined; dataDir: string; stateDir: string; logger: Logger },
): Promise<string | undefined> {
  if (options.configured) return options.configured;
  if (!existsSync(RRDCACHED_BINARY)) {
    options.logger.warn(
      `${RRDCACHED_BINARY} not installed: writing through rrdtool directly (fine for a few hosts)`,
    );
    return undefined;
  }
  const daemon = await startRrdcachedDaemon({ dataDir: options.dataDir, stateDir: options.stateDir });
  life.onStop('rrdcached', () => daemon.stop());
  return daemon.address;
}

export interface AggregatorPartOptions {
  dataDir: string;
  store: MetaStore;
  writer: RrdWriter;
  /** Sharded storage: the summaries are placed on a node like a host. */
  storage?: HostStorage | undefined;
  /** Site graph templates (what a service page sums comes from the templates). */
  graphsDir?: string | undefined;
  logger: Logger;
}

/**
 * Write the service and label summaries once a minute through the write path's writer; stopped
 * before the writer closes. Templates with mistakes are logged and the valid ones are used.
 */
export function startAggregator(life: Lifecycle, options: AggregatorPartOptions): Aggregator {
  const templates = loadTemplates(options.graphsDir ? { siteDir: options.graphsDir } : {});
  for (const error of templates.errors)
    options.logger.warn({ template: error.message }, 'graph template error');
  const aggregator = new Aggregator({
    dataDir: options.dataDir,
    store: options.store,
    writer: options.writer,
    ...(options.storage ? { storage: options.storage } : {}),
    specs: aggregateSpecs(templates),
    logger: options.logger,
  });
  life.onStop('service summaries', () => aggregator.stop());
  aggregator.start();
  return aggregator;
}
