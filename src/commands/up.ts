import { accessSync, constants, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { startLocalAgent } from '../../agent/embedded.js';
import { BaseCommand } from '../cli/base-command.js';
import { runStartupSteps } from '../cli/startup-tasks.js';
import { type ConfigOverrides, redactUrl } from '../core/config.js';
import { readServerList } from '../core/hosts/server-list.js';
import type { Ingestor } from '../core/ingest/ingestor.js';
import { MemoryPullQueue } from '../core/pull/memory-queue.js';
import { startPullScheduler, startPullWorker } from '../core/pull/runtime.js';
import { pullPrefetch } from '../core/pull/worker.js';
import { parseListenAddress } from '../core/runtime/address.js';
import { Lifecycle } from '../core/runtime/lifecycle.js';
import {
  openRuntimeStore,
  startAggregator,
  startEmbeddedBroker,
  startLocalRrdcached,
  startReceiver,
  startWritePath,
} from '../core/runtime/parts.js';
import type { MetaStore } from '../core/store/types.js';
import type { EmbeddedBroker } from '../core/transport/embedded-broker.js';
import { fetcherFor, isPullPlugin } from '../pull/registry.js';
import { startWebServer } from '../web/start.js';

/** Directory under data_dir for rrdcached's socket and journal; a dot name is never a host. */
const STATE_DIR = '.kurado-state';

export default class Up extends BaseCommand<typeof Up> {
  static override summary =
    "Everything on one machine: embedded MQTT broker, rrdcached, store, receiver, this host's agent, web UI.";
  static override description = `For trying Kurado or for a small site on one machine. In one process:
- an embedded MQTT broker (aedes) on --mqtt-listen, where agents of other hosts can publish too
  (when the port is taken, e.g. by a Mosquitto, a free port is used and logged);
- rrdcached with a journal under <data-dir>/${STATE_DIR} (or a rrdtool process when rrdcached is
  not installed);
- the SQLite store <data-dir>/kurado.db, or --store;
- the receiver, this machine's own agent (unless --no-agent) and the web UI on --listen;
- the pull scheduler and a pull worker with an in-process queue (no RabbitMQ): the hosts of
  --hosts (a server list imported at start) or of the store get their nginx, MySQL, Redis …
  plugins read every minute.
Stop it with Ctrl-C or SIGTERM: in-flight values are stored first.`;

  static override examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up --data-dir ./kurado-data --listen 127.0.0.1:8080',
    '<%= config.bin %> up --hosts hosts.toml',
  ];

  static override flags = {
    listen: Flags.string({ description: 'Web UI address host:port. [default: 0.0.0.0:5434]' }),
    'mqtt-listen': Flags.string({
      description: 'Embedded MQTT broker address host:port.',
      default: '0.0.0.0:1883',
    }),
    agent: Flags.boolean({ description: "Run this machine's own agent.", default: true, allowNo: true }),
    'conf-d': Flags.string({ description: 'Agent plugin directory (*.toml) for the local agent.' }),
    hosts: Flags.string({
      description:
        'Server list (hosts.toml) to import into the store at start, as `kurado hosts import` does.',
    }),
    // Tests only: tick the local agent every N seconds instead of every minute.
    'agent-interval-seconds': Flags.integer({ hidden: true, min: 1 }),
    // Tests only: a pull round every N seconds instead of every minute.
    'pull-period-seconds': Flags.integer({ hidden: true, min: 1 }),
  };

  protected override configOverrides(): ConfigOverrides {
    const overrides = super.configOverrides();
    if (this.flags.listen) overrides.web = { listen: this.flags.listen };
    return overrides;
  }

  public async run(): Promise<void> {
    const { settings, log_: logger, flags } = this;
    if (settings.storage.length > 0) {
      this.error(
        'kurado up runs everything on one machine with its own rrdcached; [[storage]] nodes are for receive, serve and graph render (see "How to scale out" in the README)',
        { exit: 2 },
      );
    }
    const web = parseListenAddress(settings.web.listen, '--listen');
    const mqtt = parseListenAddress(flags['mqtt-listen'], '--mqtt-listen');
    const stateDir = path.join(settings.dataDir, STATE_DIR);

    // Every part registers its stop; a signal stops them in reverse: agent, web UI, pull
    // scheduler, pull worker, receiver, broker, writer, store, rrdcached — in-flight values are
    // stored before their writer closes.
    const life = new Lifecycle({ logger, stoppingMessage: 'stopping: storing in-flight values' });
    life.handleSignals();
    let rrdcached: string | undefined;
    let store: MetaStore | undefined;
    let ingestor: Ingestor | undefined;
    let broker: EmbeddedBroker | undefined;
    let brokerPort = mqtt.port;
    let webListen = settings.web.listen;
    const started = <T>(part: T | undefined): T => {
      if (part === undefined) throw new Error('a start-up step ran before the one it needs');
      return part;
    };
    await life.starting(() =>
      runStartupSteps(
        [
          {
            title: `data directory ${settings.dataDir}`,
            start: () => {
              mkdirSync(stateDir, { recursive: true });
              accessSync(settings.dataDir, constants.W_OK);
              return undefined;
            },
          },
          {
            title: 'rrdcached',
            start: async () => {
              rrdcached = await startLocalRrdcached(life, {
                configured: settings.rrdcached,
                dataDir: settings.dataDir,
                stateDir,
                logger,
              });
              return rrdcached ? `rrdcached ${rrdcached}` : 'rrdtool (rrdcached is not installed)';
            },
          },
          {
            title: `store ${redactUrl(settings.storeUrl)}`,
            start: async () => {
              store = await openRuntimeStore(life, {
                url: settings.storeUrl,
                logger,
                limits: settings.limits,
              });
              return undefined;
            },
          },
          {
            title: `server list ${flags.hosts}`,
            enabled: flags.hosts !== undefined,
            start: async () => {
              const list = readServerList(flags.hosts as string);
              for (const warning of list.warnings) logger.warn(warning);
              await started(store).upsertHosts(list.hosts);
              logger.info(
                { file: flags.hosts, hosts: list.hosts.length },
                `imported ${list.hosts.length} hosts`,
              );
              return `server list ${flags.hosts}: ${list.hosts.length} hosts`;
            },
          },
          {
            title: `MQTT broker ${flags['mqtt-listen']}`,
            start: async () => {
              const writePath = startWritePath(life, {
                dataDir: settings.dataDir,
                rrdcached,
                store: started(store),
                logger,
                limits: settings.limits,
              });
              ingestor = writePath.ingestor;
              startAggregator(life, {
                dataDir: settings.dataDir,
                store: started(store),
                writer: writePath.writer,
                graphsDir: settings.graphsDir,
                logger,
              });
              const embedded = await startEmbeddedBroker(life, { ...mqtt, logger });
              broker = embedded.broker;
              brokerPort = embedded.port;
              return `MQTT broker ${mqtt.host}:${brokerPort}${embedded.fellBack ? ` (${mqtt.port} is taken)` : ''}`;
            },
          },
          {
            title: 'receiver',
            start: async () => {
              await startReceiver(life, {
                consumers: [started(broker).consumer()],
                ingestor: started(ingestor),
                logger,
              });
              return undefined;
            },
          },
          {
            title: 'pull scheduler and worker',
            start: async () => {
              // Pulling with an in-process queue: one machine needs no RabbitMQ.
              const pullQueue = new MemoryPullQueue();
              const storeAddress = redactUrl(settings.storeUrl);
              await startPullWorker(life, {
                source: pullQueue.source(pullPrefetch(settings.pull.concurrency)),
                ingestor: started(ingestor),
                store: started(store),
                fetcherFor,
                concurrency: settings.pull.concurrency,
                defaultTimeoutMs: settings.pull.timeoutSeconds * 1000,
                logger,
                storeAddress,
              });
              startPullScheduler(life, {
                store: started(store),
                backend: pullQueue,
                isPulled: isPullPlugin,
                logger,
                storeAddress,
                ...(flags['pull-period-seconds'] ? { periodMs: flags['pull-period-seconds'] * 1000 } : {}),
              });
              return undefined;
            },
          },
          {
            title: `web UI ${settings.web.listen}`,
            start: async () => {
              const running = await startWebServer(life, {
                config: settings,
                rrdcached,
                store: started(store),
                logger,
                ...web,
              });
              webListen = running.listen;
              return `web UI ${webListen}`;
            },
          },
          {
            title: `agent of ${hostname()}`,
            enabled: flags.agent,
            start: async () => {
              const agent = await startLocalAgent({
                mqttUrl: `mqtt://127.0.0.1:${brokerPort}`,
                self: hostname(),
                ...(flags['conf-d'] ? { confD: flags['conf-d'] } : {}),
                stateDir: path.join(stateDir, 'agent'),
                ...(flags['agent-interval-seconds']
                  ? { intervalMinutes: flags['agent-interval-seconds'] / 60 }
                  : {}),
                logger,
              });
              life.onStop('agent', () => agent.stop());
              return undefined;
            },
          },
        ],
        this.logFormat,
      ),
    );

    // The address bound (port 0 picks a free one); a wildcard address is shown as localhost.
    const bound = parseListenAddress(webListen, 'web UI');
    const shownHost = ['0.0.0.0', '::'].includes(bound.host) ? 'localhost' : bound.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${bound.port}/`;
    logger.info(
      {
        dataDir: settings.dataDir,
        mqttPort: brokerPort,
        web: webListen,
        rrdcached: rrdcached ?? 'none',
      },
      `Kurado is up: web UI ${url} · agents publish to mqtt://${hostname()}:${brokerPort} · data in ${settings.dataDir}`,
    );
    this.log(`Kurado is up: open ${url} (agents: --mqtt ${hostname()}:${brokerPort}; Ctrl-C stops)`);
    await life.untilStopped();
  }
}
