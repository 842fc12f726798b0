import { existsSync } from 'node:fs';
import type { KuradoConfig } from '../core/config.js';
import type { RrdTree } from '../core/graphs/trees.js';
import { hostDirectory, listHosts } from '../core/rrd/layout.js';
import { ShardedTree } from '../core/storage/sharded-tree.js';
import { openStore, parseStoreUrl } from '../core/store/index.js';
import type { MetaEntry, MetaStore } from '../core/store/types.js';

export interface ResolvedHost {
  /** The directory name under data_dir (unescaped): the address the data is stored under. */
  address: string;
  hostname?: string;
  meta: MetaEntry[];
  /** Why the store could not be asked (graphs still work from the files alone). */
  storeProblem?: string;
  /** With `[[storage]]`: host → storage node, as the store records it. */
  assignments?: Map<string, string>;
}

/** Open the store without creating an embedded database that does not exist yet. */
async function openExistingStore(url: string): Promise<MetaStore | undefined> {
  const location = parseStoreUrl(url);
  if (location.kind === 'sqlite' && !existsSync(location.file)) return undefined;
  return openStore(url, { schema: 'none' });
}

/**
 * `<host>` as the user typed it: an address with data under data_dir, or a hostname/address the
 * store knows. Meta comes from the store when it can be reached.
 */
export async function resolveHost(settings: KuradoConfig, given: string): Promise<ResolvedHost | undefined> {
  let store: MetaStore | undefined;
  let storeProblem: string | undefined;
  try {
    store = await openExistingStore(settings.storeUrl);
  } catch (error) {
    storeProblem = (error as Error).message;
  }
  try {
    const record = store ? await store.findHost(given).catch(() => undefined) : undefined;
    // With [[storage]] the files are on the nodes: a host "has data" once it was placed on one.
    const assignments =
      settings.storage.length > 0 && store
        ? await store.storageAssignments().catch(() => undefined)
        : undefined;
    const onDisk = assignments ? assignments.has(given) : existsSync(hostDirectory(settings.dataDir, given));
    // A listed host wins over a directory of the same name (left by a host that once pushed
    // under a listed host's hostname).
    const address = record?.origin === 'import' ? record.address : onDisk ? given : record?.address;
    if (address === undefined) return undefined;
    const hostname = record && record.hostname !== record.address ? record.hostname : undefined;
    let meta: MetaEntry[] = [];
    if (store) {
      try {
        meta = await store.meta(address, Math.floor(Date.now() / 1000));
      } catch (error) {
        storeProblem = (error as Error).message;
      }
    }
    const out: ResolvedHost = { address, meta };
    if (assignments) out.assignments = assignments;
    if (hostname) out.hostname = hostname;
    else if (record && record.address === address && given !== address) out.hostname = given;
    if (storeProblem) out.storeProblem = storeProblem;
    return out;
  } finally {
    await store?.close();
  }
}

/**
 * The `tree` option of createGraphService for a command drawing `host`: its storage node when
 * kurado.toml has `[[storage]]` (close it after use), else nothing (data_dir on this machine).
 */
export function graphTreeFor(
  settings: KuradoConfig,
  host: ResolvedHost | undefined,
): { tree?: RrdTree & { close(): Promise<void> } } {
  if (settings.storage.length === 0) return {};
  const assignments = host?.assignments ?? new Map<string, string>();
  return { tree: new ShardedTree(settings.storage, { storageAssignments: async () => assignments }) };
}

/** "unknown host" with what exists, cut to a readable length. */
export function unknownHostMessage(given: string, dataDir: string): string {
  const hosts = listHosts(dataDir);
  if (hosts.length === 0) return `unknown host "${given}": no host has data under ${dataDir}`;
  const shown = hosts.slice(0, 30).join(', ');
  return `unknown host "${given}" (neither a directory under ${dataDir} nor a host in the store); hosts with data: ${shown}${hosts.length > 30 ? `, … (${hosts.length} in all)` : ''}`;
}
