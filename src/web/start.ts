import type { FastifyInstance } from 'fastify';
import type { KuradoConfig } from '../core/config.js';
import { createGraphService, type KuradoGraphService } from '../core/graphs/service.js';
import type { Logger } from '../core/log.js';
import type { Lifecycle } from '../core/runtime/lifecycle.js';
import { ShardedTree } from '../core/storage/sharded-tree.js';
import type { MetaStore } from '../core/store/types.js';
import { createWebServer, type WebServerOptions } from './server.js';

/** The web server refused its settings (e.g. `--auth basic` without a users file). */
export class WebSetupError extends Error {
  override name = 'WebSetupError';
}

export interface StartWebOptions {
  config: Pick<KuradoConfig, 'dataDir' | 'graphsDir' | 'web'> & Partial<Pick<KuradoConfig, 'storage'>>;
  /** rrdcached to render through (`--daemon`); `kurado up` passes the daemon it started. */
  rrdcached?: string | undefined;
  store: MetaStore;
  logger: Logger;
  host: string;
  port: number;
  /** rrdtool processes drawing PNGs; default CPU count. */
  renderProcesses?: number | undefined;
  /** Limits against hostile clients; defaults when absent. */
  limits?: WebServerOptions['limits'];
}

export interface RunningWeb {
  app: FastifyInstance;
  graphs: KuradoGraphService;
  /** The bound address as `host:port` (`[v6]:port`), the real port when 0 was asked. */
  listen: string;
}

/**
 * Start the web UI: the graph service (rrdtool render pool), the fastify app, listening on
 * `host:port`. At shutdown the server stops taking requests before the render pool closes.
 */
export async function startWebServer(life: Lifecycle, options: StartWebOptions): Promise<RunningWeb> {
  const { config } = options;
  // With [[storage]] every host's graphs are read through the node it lives on.
  const tree =
    config.storage && config.storage.length > 0 ? new ShardedTree(config.storage, options.store) : undefined;
  if (tree) life.onStop('storage node clients', () => tree.close());
  const graphs = createGraphService({
    dataDir: config.dataDir,
    ...(tree ? { tree } : {}),
    ...(options.rrdcached ? { rrdcached: options.rrdcached } : {}),
    ...(config.graphsDir ? { graphsDir: config.graphsDir } : {}),
    ...(options.renderProcesses ? { poolSize: options.renderProcesses } : {}),
  });
  life.onStop('graph renderers', () => graphs.close());
  let app: FastifyInstance;
  try {
    app = await createWebServer({
      store: options.store,
      graphs,
      config,
      logger: options.logger,
      ...(options.limits ? { limits: options.limits } : {}),
    });
  } catch (error) {
    throw new WebSetupError((error as Error).message, { cause: error });
  }
  life.onStop('web server', () => app.close());
  await app.listen({ host: options.host, port: options.port });
  const bound = app.server.address();
  const listen =
    bound && typeof bound === 'object'
      ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
      : `${options.host}:${options.port}`;
  return { app, graphs, listen };
}
