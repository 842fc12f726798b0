import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { startLocalAgent } from '../../agent/embedded.js';
import { BaseCommand } from '../cli/base-command.js';
import type { ConfigOverrides } from '../core/config.js';
import { createGraphService } from '../core/graphs/service.js';
import { Ingestor } from '../core/ingest/ingestor.js';
import { Receiver } from '../core/ingest/receiver.js';
import {
  RRDCACHED_BINARY,
  type RrdcachedDaemon,
  startRrdcachedDaemon,
} from '../core/rrd/rrdcached-daemon.js';
import { createRrdWriter } from '../core/rrd/writer.js';
import { openStore } from '../core/store/index.js';
import { EmbeddedBroker } from '../core/transport/embedded-broker.js';
import { createWebServer } from '../web/server.js';

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
- the receiver, this machine's own agent (unless --no-agent) and the web UI on --listen.
Stop it with Ctrl-C or SIGTERM: in-flight values are stored first.`;

  static override examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up --data-dir ./kurado-data --listen 127.0.0.1:8080',
  ];

  static override flags = {
    listen: Flags.string({ description: 'Web UI address host:port. [default: 0.0.0.0:5434]' }),
    'mqtt-listen': Flags.string({
      description: 'Embedded MQTT broker address host:port.',
      default: '0.0.0.0:1883',
    }),
    agent: Flags.boolean({ description: "Run this machine's own agent.", default: true, allowNo: true }),
    'conf-d': Flags.string({ description: 'Agent plugin directory (*.toml) for the local agent.' }),
    // Tests only: tick the local agent every N seconds instead of every minute.
    'agent-interval-seconds': Flags.integer({ hidden: true, min: 1 }),
  };

  protected override configOverrides(): ConfigOverrides {
    const overrides = super.configOverrides();
    if (this.flags.listen) overrides.web = { listen: this.flags.listen };
    return overrides;
  }

  public async run(): Promise<void> {
    const { settings, log_: logger, flags } = this;
    const [webHost, webPort] = splitHostPort(settings.web.listen, '--listen');
    const [mqttHost, mqttPort] = splitHostPort(flags['mqtt-listen'], '--mqtt-listen');
    mkdirSync(settings.dataDir, { recursive: true });
    const stateDir = path.join(settings.dataDir, STATE_DIR);

    let rrdcached: RrdcachedDaemon | undefined;
    let rrdcachedAddress = settings.rrdcached;
    if (!rrdcachedAddress && existsSync(RRDCACHED_BINARY)) {
      rrdcached = await startRrdcachedDaemon({ dataDir: settings.dataDir, stateDir });
      rrdcachedAddress = rrdcached.address;
    } else if (!rrdcachedAddress) {
      logger.warn(
        `${RRDCACHED_BINARY} not installed: writing through rrdtool directly (fine for a few hosts)`,
      );
    }
    const store = await openStore(settings.storeUrl, { limits: settings.limits });
    await store.migrate();
    const writer = createRrdWriter({
      dataDir: settings.dataDir,
      ...(rrdcachedAddress ? { rrdcached: rrdcachedAddress } : {}),
    });
    const broker = new EmbeddedBroker(logger);
    const mqtt = await broker.listen(mqttHost, mqttPort);
    const receiver = new Receiver({
      consumers: [broker.consumer()],
      ingestor: new Ingestor({ dataDir: settings.dataDir, writer, store, logger, limits: settings.limits }),
      logger,
    });
    await receiver.start();

    const graphs = createGraphService({
      dataDir: settings.dataDir,
      ...(rrdcachedAddress ? { rrdcached: rrdcachedAddress } : {}),
      ...(settings.graphsDir ? { graphsDir: settings.graphsDir } : {}),
    });
    const web = await createWebServer({ store, graphs, config: settings, logger });
    await web.listen({ host: webHost, port: webPort });

    const agent = flags.agent
      ? await startLocalAgent({
          mqttUrl: `mqtt://127.0.0.1:${mqtt.port}`,
          self: hostname(),
          ...(flags['conf-d'] ? { confD: flags['conf-d'] } : {}),
          stateDir: path.join(stateDir, 'agent'),
          ...(flags['agent-interval-seconds']
            ? { intervalMinutes: flags['agent-interval-seconds'] / 60 }
            : {}),
          logger,
        })
      : undefined;

    const shownHost = webHost === '0.0.0.0' || webHost === '::' ? 'localhost' : webHost;
    logger.info(
      {
        dataDir: settings.dataDir,
        mqttPort: mqtt.port,
        web: settings.web.listen,
        rrdcached: rrdcachedAddress ?? 'none',
      },
      `Kurado is up: web UI http://${shownHost}:${webPort}/ · agents publish to mqtt://${hostname()}:${mqtt.port} · data in ${settings.dataDir}`,
    );
    this.log(
      `Kurado is up: open http://${shownHost}:${webPort}/ (agents: --mqtt ${hostname()}:${mqtt.port}; Ctrl-C stops)`,
    );

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping: storing in-flight values');
      await agent?.stop();
      await receiver.stop();
      await web.close();
      await broker.close();
      await graphs.close();
      await writer.close();
      await store.close();
      await rrdcached?.stop();
      logger.flush();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    await new Promise<never>(() => undefined);
  }
}

function splitHostPort(value: string, flag: string): [string, number] {
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(value);
  if (!match) throw new Error(`${flag} "${value}" must be host:port, e.g. 0.0.0.0:5434`);
  return [match[1] || '0.0.0.0', Number(match[2])];
}
