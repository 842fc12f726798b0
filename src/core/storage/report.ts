import { readdir } from 'node:fs/promises';
import { hostDirectory, listHosts } from '../rrd/layout.js';
import { RrdcachedClient } from '../rrd/rrdcached.js';
import type { MetaStore } from '../store/types.js';
import { DEFAULT_STORAGE_NODE, type StorageNode } from './nodes.js';

/** One row of `kurado storage list`. */
export interface StorageNodeReport {
  name: string;
  /** rrdcached address, or "data_dir" when values go through `rrdtool -` on this machine. */
  address: string;
  /** Hosts living on the node. */
  hosts: number;
  /** RRD files in the node's tree; undefined when the node could not be asked. */
  files: number | undefined;
  reachable: boolean;
  /** Why not, when unreachable. */
  problem?: string;
}

/** How long one node may take to answer before it counts as unreachable, ms. */
const REPORT_WAIT_MS = 3000;

/**
 * Every storage node with its hosts, files and whether it answers. `[[storage]]` nodes: hosts
 * from the store's assignments, files and reachability from the node (PING, LIST RECURSIVE /).
 * Without `[[storage]]`: the one default node, data_dir on this machine (through `rrdcached`).
 */
export async function storageReport(options: {
  dataDir: string;
  rrdcached?: string | undefined;
  nodes: readonly StorageNode[];
  store: Pick<MetaStore, 'storageCounts'>;
}): Promise<StorageNodeReport[]> {
  if (options.nodes.length === 0) return [await localReport(options.dataDir, options.rrdcached)];
  const counts = await options.store.storageCounts();
  const reports = await Promise.all(
    options.nodes.map(async (node): Promise<StorageNodeReport> => {
      const base = { name: node.name, address: node.rrdcached, hosts: counts.get(node.name) ?? 0 };
      const client = new RrdcachedClient(node.rrdcached, { unreachableAfterMs: REPORT_WAIT_MS });
      try {
        const files = (await client.list('/')).length;
        return { ...base, files, reachable: true };
      } catch (error) {
        return { ...base, files: undefined, reachable: false, problem: (error as Error).message };
      } finally {
        await client.close();
      }
    }),
  );
  // Hosts assigned to a node kurado.toml no longer lists: shown, so they are not forgotten.
  for (const [name, hosts] of counts) {
    if (options.nodes.some((node) => node.name === name)) continue;
    reports.push({
      name,
      address: '',
      hosts,
      files: undefined,
      reachable: false,
      problem: 'not configured in kurado.toml',
    });
  }
  return reports;
}

async function localReport(dataDir: string, rrdcached: string | undefined): Promise<StorageNodeReport> {
  const hosts = listHosts(dataDir);
  let files = 0;
  for (const host of hosts) {
    const directory = hostDirectory(dataDir, host);
    for (const plugin of await readdir(directory, { withFileTypes: true }).catch(() => [])) {
      if (!plugin.isDirectory()) continue;
      const names = await readdir(`${directory}/${plugin.name}`).catch(() => [] as string[]);
      files += names.filter((name) => name.endsWith('.rrd')).length;
    }
  }
  const report: StorageNodeReport = {
    name: DEFAULT_STORAGE_NODE,
    address: rrdcached ?? 'data_dir',
    hosts: hosts.length,
    files,
    reachable: true,
  };
  if (rrdcached) {
    const client = new RrdcachedClient(rrdcached, { unreachableAfterMs: REPORT_WAIT_MS });
    try {
      await client.ping();
    } catch (error) {
      report.reachable = false;
      report.problem = (error as Error).message;
    } finally {
      await client.close();
    }
  }
  return report;
}
