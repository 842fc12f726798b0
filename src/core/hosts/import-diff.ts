import type { HostRecord } from '../store/types.js';

/** What importing a server list does to the hosts already in the store. */
export interface ImportDiff {
  /** Listed hosts the store does not have yet. */
  added: HostRecord[];
  /** Listed hosts the store has with other details (an auto-registered host now listed too). */
  changed: HostRecord[];
  /** Listed hosts the store has exactly like this. */
  unchanged: HostRecord[];
  /**
   * Imported hosts the list no longer names (`--prune` removes them). Auto-registered hosts are
   * never gone: they push without being listed.
   */
  gone: HostRecord[];
}

/** Compare the hosts in the store with a server list, by address; no I/O. */
export function diffImport(stored: readonly HostRecord[], listed: readonly HostRecord[]): ImportDiff {
  const before = new Map(stored.map((host) => [host.address, host]));
  const addresses = new Set(listed.map((host) => host.address));
  const diff: ImportDiff = { added: [], changed: [], unchanged: [], gone: [] };
  for (const host of listed) {
    const previous = before.get(host.address);
    if (previous === undefined) diff.added.push(host);
    else if (sameHost(previous, host)) diff.unchanged.push(host);
    else diff.changed.push(host);
  }
  for (const host of stored) {
    if (host.origin === 'import' && !addresses.has(host.address)) diff.gone.push(host);
  }
  return diff;
}

/** Whether two records hold the same details; object keys may come back in any order from a store. */
function sameHost(a: HostRecord, b: HostRecord): boolean {
  return comparable(a) === comparable(b);
}

function comparable(host: HostRecord): string {
  return canonicalJson([
    host.hostname,
    host.comments,
    host.service,
    host.label,
    host.role,
    host.plugins,
    host.settings ?? {},
    host.options ?? {},
    host.origin,
  ]);
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` compare equal (MySQL's JSON reorders keys). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}
