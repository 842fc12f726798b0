import { formatRrdcachedEndpoint, parseRrdcachedAddress } from '../rrd/rrdcached.js';

/**
 * One RRD storage node: an rrdcached reached over TCP, with its own `-b` tree and journal. Paths
 * go to it relative to its `-b` (data_dir stands for that tree in every message).
 */
export interface StorageNode {
  name: string;
  /** `host:port` of the node's rrdcached. */
  rrdcached: string;
}

/** Name of the one node a configuration without `[[storage]]` has (data_dir and rrdcached). */
export const DEFAULT_STORAGE_NODE = 'default';

/** Node names: what a hosts.toml `storage = "…"` pin and the store refer to. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * `[[storage]]` tables of kurado.toml, checked: every entry a table with a unique `name` and a
 * TCP `rrdcached` address (nodes run on other machines; a unix socket reaches only this one).
 * Returns the problems, each naming the entry, instead of stopping at the first.
 */
export function parseStorageTables(
  value: unknown,
  where: string,
): { nodes: StorageNode[]; problems: string[] } {
  const nodes: StorageNode[] = [];
  const problems: string[] = [];
  if (value === undefined) return { nodes, problems };
  if (!Array.isArray(value)) {
    return {
      nodes,
      problems: [
        `${where}: storage must be [[storage]] tables (an array of tables), not a single value or table`,
      ],
    };
  }
  const names = new Set<string>();
  const addresses = new Map<string, string>();
  value.forEach((entry: unknown, index) => {
    const place = `${where}: [[storage]] #${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${place} must be a table with name and rrdcached`);
      return;
    }
    const table = entry as Record<string, unknown>;
    for (const key of Object.keys(table)) {
      if (key !== 'name' && key !== 'rrdcached')
        problems.push(`${place}: unknown key "${key}"; expected "name", "rrdcached"`);
    }
    const { name, rrdcached } = table;
    if (typeof name !== 'string' || !NODE_NAME.test(name)) {
      problems.push(
        `${place}: name must be 1-63 letters, digits, "_", "." or "-" (starting with a letter or digit), not ${JSON.stringify(name)}`,
      );
      return;
    }
    const named = `${where}: [[storage]] "${name}"`;
    if (names.has(name)) {
      problems.push(`${named}: the name is used twice`);
      return;
    }
    names.add(name);
    if (typeof rrdcached !== 'string' || rrdcached.trim() === '') {
      problems.push(`${named}: rrdcached must be "host:port" of the node's rrdcached`);
      return;
    }
    let address: string;
    try {
      const endpoint = parseRrdcachedAddress(rrdcached);
      if (endpoint.kind !== 'tcp') {
        problems.push(
          `${named}: rrdcached "${rrdcached}" is a unix socket; a storage node is reached over TCP (host:port, rrdcached -l)`,
        );
        return;
      }
      address = formatRrdcachedEndpoint(endpoint);
    } catch (error) {
      problems.push(`${named}: ${(error as Error).message}`);
      return;
    }
    const other = addresses.get(address);
    if (other !== undefined) {
      problems.push(`${named}: rrdcached ${address} is also node "${other}"`);
      return;
    }
    addresses.set(address, name);
    nodes.push({ name, rrdcached: address });
  });
  return { nodes, problems };
}

/**
 * Where new hosts go: a host pinned to a configured node goes there; every other one to the node
 * with the fewest hosts (the first in configuration order on a tie), counting the hosts placed
 * before it, so a burst of new hosts spreads evenly. `counts` is not changed.
 * Pins naming an unknown node are returned in `badPins` and placed like unpinned hosts.
 */
export function chooseNodes(
  hosts: readonly string[],
  nodes: readonly string[],
  counts: ReadonlyMap<string, number>,
  pinOf: (host: string) => string | undefined,
): { placed: Map<string, string>; badPins: { host: string; node: string }[] } {
  if (nodes.length === 0) throw new RangeError('no storage nodes to place hosts on');
  const load = new Map(nodes.map((node) => [node, counts.get(node) ?? 0]));
  const placed = new Map<string, string>();
  const badPins: { host: string; node: string }[] = [];
  for (const host of hosts) {
    if (placed.has(host)) continue;
    const pin = pinOf(host);
    let node: string | undefined;
    if (pin !== undefined) {
      if (load.has(pin)) node = pin;
      else badPins.push({ host, node: pin });
    }
    if (node === undefined) {
      node = nodes[0] as string;
      for (const candidate of nodes) if ((load.get(candidate) ?? 0) < (load.get(node) ?? 0)) node = candidate;
    }
    placed.set(host, node);
    load.set(node, (load.get(node) ?? 0) + 1);
  }
  return { placed, badPins };
}
