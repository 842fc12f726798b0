import path from 'node:path';
import type { Logger } from '../log.js';
import { escapePathComponent, hostDirectory, pathFromNode } from '../rrd/layout.js';
import { RrdcachedClient } from '../rrd/rrdcached.js';
import { RrdcachedWriter } from '../rrd/rrdcached-writer.js';
import { type NodeWriter, ShardedWriter } from '../rrd/sharded-writer.js';
import type { MetaStore } from '../store/types.js';
import type { StorageNode } from './nodes.js';

/**
 * What the ingest path needs from sharded storage: every host placed on a node before its values
 * are written, whether a host's node is down (its messages wait), and a host's files as its node
 * lists them.
 */
export interface HostStorage {
  /** Give hosts seen for the first time a node (recorded in the store); known hosts keep theirs. */
  resolve(hosts: readonly string[], pinOf: (host: string) => string | undefined): Promise<void>;
  /** Whether the node `host` lives on is known to be down now. */
  isDown(host: string): boolean;
  /** The host's metric files, as paths under data_dir, from its node. */
  listHostFiles(host: string): Promise<string[]>;
}

/** A storage node as sharded storage uses it: its writer, PING, and LIST. */
export interface StorageNodeIo extends NodeWriter {
  /** RRD files under `directory` (relative to the node's `-b`), relative to that directory. */
  list(directory: string): Promise<string[]>;
}

export interface ShardedStorageOptions {
  dataDir: string;
  /** In configuration order: new hosts go to the first of the least loaded. */
  nodes: readonly StorageNodeIo[];
  store: Pick<MetaStore, 'assignStorage'>;
  logger?: Logger;
  probeIntervalMs?: number;
}

/**
 * Hosts spread over `[[storage]]` nodes: the host → node map (from the store, cached: an
 * assignment never changes) and the writer that routes each host's values to its node.
 */
export class ShardedStorage implements HostStorage {
  readonly writer: ShardedWriter;
  private readonly dataDir: string;
  private readonly nodeOfHost = new Map<string, string>();
  /** Escaped host directory → host and node: how the writer finds a file's node. */
  private readonly byDirectory = new Map<string, { host: string; node: string }>();
  private readonly io = new Map<string, StorageNodeIo>();

  constructor(private readonly options: ShardedStorageOptions) {
    this.dataDir = path.resolve(options.dataDir);
    for (const node of options.nodes) this.io.set(node.name, node);
    this.writer = new ShardedWriter({
      nodes: options.nodes,
      locate: (file) => this.locate(file),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.probeIntervalMs === undefined ? {} : { probeIntervalMs: options.probeIntervalMs }),
    });
  }

  async resolve(hosts: readonly string[], pinOf: (host: string) => string | undefined): Promise<void> {
    const unknown = hosts.filter((host) => !this.nodeOfHost.has(host));
    if (unknown.length === 0) return;
    const assignment = await this.options.store.assignStorage(unknown, {
      nodes: this.options.nodes.map((node) => node.name),
      pinOf,
    });
    for (const { host, node } of assignment.badPins) {
      this.options.logger?.warn(
        { host, node },
        `host ${host} is pinned to storage "${node}" in the server list, which kurado.toml does not configure; placed by host count instead`,
      );
    }
    if (assignment.placed.length > 0) {
      this.options.logger?.info(
        { hosts: assignment.placed.slice(0, 20), count: assignment.placed.length },
        'placed new hosts on storage nodes',
      );
    }
    for (const [host, node] of assignment.nodes) {
      if (!this.io.has(node)) {
        // A node removed from kurado.toml while hosts live on it: their values cannot go anywhere.
        this.options.logger?.error(
          { host, node },
          `host ${host} lives on storage node "${node}", which kurado.toml no longer configures; its values wait`,
        );
      }
      this.nodeOfHost.set(host, node);
      this.byDirectory.set(escapePathComponent(host), { host, node });
    }
  }

  /** The node a host lives on, once resolved. */
  nodeOf(host: string): string | undefined {
    return this.nodeOfHost.get(host);
  }

  isDown(host: string): boolean {
    const node = this.nodeOfHost.get(host);
    if (node === undefined) return false;
    return !this.io.has(node) || this.writer.isDown(node);
  }

  async listHostFiles(host: string): Promise<string[]> {
    const node = this.io.get(this.nodeOfHost.get(host) ?? '');
    if (!node) return [];
    const directory = path.relative(this.dataDir, hostDirectory(this.dataDir, host));
    let files: string[];
    try {
      files = await node.list(directory);
    } catch (error) {
      // The batch fails and is tried again; by then the host's messages are deferred up front,
      // so the other nodes' hosts wait once, not for the whole outage.
      this.writer.reportDown(node.name, error);
      throw error;
    }
    return files.map((file) => pathFromNode(this.dataDir, path.join(directory, file)));
  }

  private locate(file: string): { host: string; node: string } | undefined {
    const start = this.dataDir.length + 1;
    const end = file.indexOf(path.sep, start);
    if (end < 0 || file.slice(0, start) !== `${this.dataDir}${path.sep}`) return undefined;
    return this.byDirectory.get(file.slice(start, end));
  }

  async close(): Promise<void> {
    await this.writer.close();
  }
}

/** How long a write to a node that just went away waits before that node counts as down, ms. */
export const NODE_UNREACHABLE_AFTER_MS = 3000;

/** Sharded storage over the configured nodes: one rrdcached client and writer each. */
export function openShardedStorage(options: {
  dataDir: string;
  nodes: readonly StorageNode[];
  store: Pick<MetaStore, 'assignStorage'>;
  logger?: Logger;
  unreachableAfterMs?: number;
}): ShardedStorage {
  const dataDir = path.resolve(options.dataDir);
  const nodes = options.nodes.map((node): StorageNodeIo => {
    const client = new RrdcachedClient(node.rrdcached, {
      unreachableAfterMs: options.unreachableAfterMs ?? NODE_UNREACHABLE_AFTER_MS,
    });
    const writer = new RrdcachedWriter({ dataDir, rrdcached: client, remote: true });
    return {
      name: node.name,
      writer: {
        write: (updates) => writer.write(updates),
        close: async () => {
          await writer.close();
          await client.close();
        },
      },
      ping: () => client.ping(),
      list: (directory) => client.list(directory),
    };
  });
  return new ShardedStorage({
    dataDir,
    nodes,
    store: options.store,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
