import path from 'node:path';
import type { RrdTree } from '../graphs/trees.js';
import { AGGREGATES_DIRECTORY } from '../protocol/host.js';
import { escapePathComponent, metricOfFileName, unescapePathComponent } from '../rrd/layout.js';
import { RrdcachedClient } from '../rrd/rrdcached.js';
import type { MetaStore } from '../store/types.js';
import type { StorageNode } from './nodes.js';

/** How long a host's file listing is reused: one host page draws many graphs at once. */
const LISTING_TTL_MS = 5000;
/** How often an unknown host makes the assignments be read again from the store. */
const ASSIGNMENTS_RELOAD_MS = 2000;
/** How long reading a listing waits for a node that is down before the page says so. */
const NODE_WAIT_MS = 2000;

/**
 * The graph side over `[[storage]]` nodes: a host's files as its node lists them (rrdcached
 * LIST), read through that node (`--daemon`), paths relative to the node's `-b`. The host → node
 * map comes from the store, where receivers record it.
 */
export class ShardedTree implements RrdTree {
  readonly relativePaths = true;
  private readonly clients = new Map<string, RrdcachedClient>();
  private readonly addresses = new Map<string, string>();
  private assignments = new Map<string, string>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly listings = new Map<string, { at: number; metrics: Promise<Map<string, Set<string>>> }>();

  constructor(
    nodes: readonly StorageNode[],
    private readonly store: Pick<MetaStore, 'storageAssignments'>,
  ) {
    for (const node of nodes) {
      this.addresses.set(node.name, node.rrdcached);
      this.clients.set(node.name, new RrdcachedClient(node.rrdcached, { unreachableAfterMs: NODE_WAIT_MS }));
    }
  }

  /** The node `host` lives on (undefined: no values were ever stored for it). */
  async nodeOf(host: string): Promise<string | undefined> {
    if (!this.assignments.has(host) && Date.now() - this.loadedAt >= ASSIGNMENTS_RELOAD_MS) {
      this.loading ??= this.store
        .storageAssignments()
        .then((assignments) => {
          this.assignments = assignments;
          this.loadedAt = Date.now();
        })
        .finally(() => {
          this.loading = undefined;
        });
      await this.loading;
    }
    return this.assignments.get(host);
  }

  async daemonOf(host: string): Promise<string | undefined> {
    const node = await this.nodeOf(host);
    return node === undefined ? undefined : this.addresses.get(node);
  }

  async metrics(host: string): Promise<Map<string, Set<string>>> {
    return this.cachedListing(host, escapePathComponent(host), `host ${host}`);
  }

  /** The summaries live on the node their directory was placed on, like a host's files. */
  async summaries(service: string, label: string): Promise<Map<string, Set<string>>> {
    const directory = path.join(
      AGGREGATES_DIRECTORY,
      escapePathComponent(service),
      escapePathComponent(label),
    );
    return this.cachedListing(AGGREGATES_DIRECTORY, directory, `the summaries of ${service}`, directory);
  }

  private cachedListing(
    owner: string,
    directory: string,
    what: string,
    key = owner,
  ): Promise<Map<string, Set<string>>> {
    const cached = this.listings.get(key);
    if (cached && Date.now() - cached.at < LISTING_TTL_MS) return cached.metrics;
    const metrics = this.list(owner, directory, what);
    this.listings.set(key, { at: Date.now(), metrics });
    // A failed listing (node down) is not kept: the next page asks again.
    metrics.catch(() => this.listings.delete(key));
    return metrics;
  }

  /** plugin → metric files under `directory` (relative to the node's `-b`) of `owner`'s node. */
  private async list(owner: string, directory: string, what: string): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    const node = await this.nodeOf(owner);
    const client = node === undefined ? undefined : this.clients.get(node);
    if (!client) return out;
    let files: string[];
    try {
      files = await client.list(directory);
    } catch (error) {
      throw new Error(
        `storage node "${node}" (${client.address}) could not list ${what}: ${(error as Error).message}`,
      );
    }
    for (const file of files) {
      const [pluginDir, metricFile, ...deeper] = file.split('/');
      if (pluginDir === undefined || metricFile === undefined || deeper.length > 0) continue;
      const plugin = unescapePathComponent(pluginDir);
      const metric = metricOfFileName(metricFile);
      if (plugin === undefined || metric === undefined) continue;
      const set = out.get(plugin);
      if (set) set.add(metric);
      else out.set(plugin, new Set([metric]));
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((client) => client.close()));
  }
}
