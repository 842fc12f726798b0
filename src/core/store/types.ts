import type { MetaValue, WarnValue } from '../protocol/types.js';

/** How a host came to be known: listed in the imported server list, or seen pushing. */
export type HostOrigin = 'import' | 'auto';

/** The service a host that pushes without being listed is registered under. */
export const UNREGISTERED_SERVICE = 'unregistered';

export interface HostRecord {
  address: string;
  hostname: string;
  comments: string;
  service: string;
  /** Sub-group inside the service (may be empty). */
  label: string;
  /** Role name from the server list (its plugin list is in `plugins`). */
  role: string;
  /** Plugin identifiers the role lists: `base`, `nginx:8080:/nginx_status`, `mysql:3306`. */
  plugins: string[];
  origin: HostOrigin;
  /**
   * Per-plugin settings from the server list (credentials, ports), keyed by plugin identifier as
   * it appears in `plugins`; absent when the role gives none.
   */
  settings?: PluginSettings;
  /** What the server list allows this host beyond the defaults; absent when nothing. */
  options?: HostOptions;
}

/** Per-host allowances from the server list (`max_files`, `relay` on a role, section or host entry). */
export interface HostOptions {
  /** Most metric files the host may have (overrides the receiver's default). */
  maxFiles?: number;
  /** The host may send 4-field lines for other hosts (a proxy or aggregator). */
  relay?: boolean;
  /** The `[[storage]]` node a new host is placed on (instead of the one with the fewest hosts). */
  storage?: string;
}

/** How hosts without a storage node yet are placed (see chooseNodes in src/core/storage/nodes.ts). */
export interface StoragePlacement {
  /** Configured node names, in configuration order. */
  nodes: readonly string[];
  /** The node hosts.toml pins a host to, if any. */
  pinOf(host: string): string | undefined;
}

export interface StorageAssignment {
  /** host → node, for every host asked about. */
  nodes: Map<string, string>;
  /** Hosts placed by this call (another process may have placed the rest). */
  placed: string[];
  /** Pins naming a node that is not configured; those hosts were placed by count. */
  badPins: { host: string; node: string }[];
}

/** Settings of one plugin instance: flat key → value, as written in the server list. */
export type PluginSettingValue = string | number | boolean;
export type PluginSettings = Record<string, Record<string, PluginSettingValue>>;

export interface MetaEntry {
  host: string;
  plugin: string;
  name: string;
  value: string;
  /**
   * Epoch seconds the current value was first reported at: re-sending the same value does not
   * move it, a different value does.
   */
  timestamp: number;
}

export interface WarningEntry {
  host: string;
  plugin: string;
  name: string;
  message: string;
  /** Epoch seconds the warning was reported at. */
  timestamp: number;
}

export interface LastReceived {
  host: string;
  plugin: string;
  /** Epoch seconds the receiver stored the last message for this host+plugin. */
  at: number;
}

/** metric key (`name.type`) → [value, epoch seconds of the sample]. */
export type MetricValues = Record<string, [number, number]>;

/** The newest value of each metric one host's plugin sent, as the Ingestor saw it pass. */
export interface LatestValues {
  host: string;
  plugin: string;
  /** Newest sample time among `values`, epoch seconds. */
  at: number;
  values: MetricValues;
}

/** A host's plugin's latest values and the ones stored before them (counters need both for a rate). */
export interface LatestValuesRow {
  host: string;
  plugin: string;
  at: number;
  values: MetricValues;
  previous?: { at: number; values: MetricValues };
}

/** One group commit of the Ingestor: everything non-RRD from many messages, in one transaction. */
export interface StoreBatch {
  meta: MetaValue[];
  warnings: WarnValue[];
  /** host+plugin pairs that delivered data in this batch, stamped with `receivedAt`. */
  received: { host: string; plugin: string }[];
  /** Receiver clock, epoch seconds. */
  receivedAt: number;
  /** Newest values per host+plugin (at most one entry each), kept for rankings and aggregates. */
  latest?: LatestValues[];
}

export type HostStatus = 'ok' | 'warn' | 'critical' | 'unknown';

/** A host's status with the reason a human can act on. */
export interface HostStatusReport {
  status: HostStatus;
  /** Why (empty when ok): "base not received for 7 min", "2 warnings: nginx:80 command: …". */
  reason: string;
  /** When `base` was last received (receiver clock, epoch seconds), if ever. */
  baseReceivedAt?: number;
}

/** Meta values live 1 hour, warnings 5 minutes (as upstream Kurado's Redis keys did). */
export const META_TTL_SECONDS = 3600;
export const WARNING_TTL_SECONDS = 300;
/** A host whose `base` plugin was not received for this long is critical. */
export const STALE_AFTER_SECONDS = 300;

/**
 * Host metadata, shared by every Kurado process. Implementations: MySQL/MariaDB (production)
 * and SQLite (one machine); both pass test/store/contract.ts.
 */
export interface MetaStore {
  /** Create or upgrade the schema; safe to run any number of times, from several processes. */
  migrate(): Promise<void>;
  /** Highest schema migration applied (0 for an empty database). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;

  /** Insert or update listed hosts (origin `import`); an auto-registered host becomes imported. */
  upsertHosts(hosts: HostRecord[]): Promise<void>;
  /** Register addresses not known yet under the "unregistered" service; returns the new ones. */
  registerUnknownHosts(addresses: string[]): Promise<string[]>;
  listHosts(): Promise<HostRecord[]>;
  /** A host by address or hostname. */
  findHost(addressOrHostname: string): Promise<HostRecord | undefined>;
  removeHosts(addresses: string[]): Promise<void>;
  /**
   * Auto-registered hosts with when they were last heard of: their newest last-received, or
   * when they were registered if they never delivered anything.
   */
  autoHostsLastSeen(): Promise<Map<string, number>>;

  /**
   * The storage node of each of `hosts`, placing those without one (new hosts) by `placement`
   * in one transaction. An assignment is never changed afterwards; two processes placing the
   * same host at once both get the one that was stored first.
   */
  assignStorage(hosts: string[], placement: StoragePlacement): Promise<StorageAssignment>;
  /** host → storage node of every assigned host. */
  storageAssignments(): Promise<Map<string, string>>;
  /** Assigned hosts per node (nodes without hosts are absent). */
  storageCounts(): Promise<Map<string, number>>;

  /** Meta (only rows whose value changed or whose TTL needs refreshing), warnings, last-received. */
  writeBatch(batch: StoreBatch): Promise<void>;

  /** Unexpired meta of a host (optionally one plugin), at `now`. */
  meta(host: string, now: number, plugin?: string): Promise<MetaEntry[]>;
  /** Warnings of the last 5 minutes for a host, newest first. */
  warnings(host: string, now: number): Promise<WarningEntry[]>;
  lastReceived(host: string): Promise<LastReceived[]>;
  /**
   * Latest values (and the ones before) of every host+plugin, or of the plugin names given
   * (`mysql` is `mysql`, `mysql:3306`, `mysql:3307`…); removed hosts are gone from here too.
   */
  latestValues(pluginNames?: string[]): Promise<LatestValuesRow[]>;
  /** host → when `plugin` was last received, for every host that ever delivered it. */
  lastReceivedOfPlugin(plugin: string): Promise<Map<string, number>>;
  /**
   * Status of every host in the store (or of `addresses`; addresses not in the store are left
   * out), by the rules of ./status.ts.
   */
  statuses(now: number, addresses?: string[]): Promise<Map<string, HostStatus>>;
  /** Like `statuses`, with the reason and the last `base` reception. */
  statusReports(now: number, addresses?: string[]): Promise<Map<string, HostStatusReport>>;
  /** Delete expired meta and warnings; returns how many rows went. */
  expire(now: number): Promise<number>;
}
