import { aggregateRoot, listMetrics, listPlugins } from '../rrd/layout.js';

/**
 * Where the graph side finds a host's RRD files and through which rrdcached it reads them: the
 * local data_dir (one node), or the `[[storage]]` node the host lives on (src/core/storage).
 */
export interface RrdTree {
  /** plugin → `name.type` of every metric file of the host (empty: no data). */
  metrics(host: string): Promise<Map<string, Set<string>>>;
  /** rrdcached address the host's files are read through (`--daemon`, DEF `daemon=`), if any. */
  daemonOf(host: string): Promise<string | undefined>;
  /**
   * plugin → summary files (`name.gauge`) of a service (`label` empty) or one of its labels; they
   * are read through `daemonOf(AGGREGATES_DIRECTORY)`.
   */
  summaries(service: string, label: string): Promise<Map<string, Set<string>>>;
  /**
   * Whether DEF paths go relative to data_dir: a storage node resolves them against its own
   * `-b` (absolute paths are for a daemon and files on this machine).
   */
  readonly relativePaths: boolean;
}

/** The tree under data_dir on this machine, read through `rrdcached` when one is configured. */
export function localTree(dataDir: string, rrdcached?: string): RrdTree {
  return {
    relativePaths: false,
    async metrics(host) {
      const out = new Map<string, Set<string>>();
      for (const plugin of listPlugins(dataDir, host))
        out.set(plugin, new Set(listMetrics(dataDir, host, plugin)));
      return out;
    },
    async daemonOf() {
      return rrdcached;
    },
    async summaries(service, label) {
      const root = aggregateRoot(dataDir, service);
      const out = new Map<string, Set<string>>();
      for (const plugin of listPlugins(root, label))
        out.set(plugin, new Set(listMetrics(root, label, plugin)));
      return out;
    },
  };
}
