/**
 * Dialect-independent parts of the two MetaStore implementations: what a group commit really has
 * to write, the in-memory caches that keep the ingest hot path cheap, the reads and deletes both
 * dialects run with the same SQL, the status facts, and row ↔ record mapping.
 */
import {
  DEFAULT_LIMITS,
  type IngestLimits,
  LIMIT_KEYS,
  LIMIT_WARNING_PLUGIN,
  META_LIMIT_WARNING,
  WARNINGS_LIMIT_WARNING,
} from '../limits.js';
import type { MetaValue, WarnValue } from '../protocol/types.js';
import { evaluateStatus, type StatusFacts } from './status.js';
import {
  type HostOptions,
  type HostOrigin,
  type HostRecord,
  type HostStatus,
  type HostStatusReport,
  type LastReceived,
  type LatestValues,
  type LatestValuesRow,
  META_TTL_SECONDS,
  type MetaEntry,
  type MetricValues,
  type PluginSettings,
  type StoreBatch,
  UNREGISTERED_SERVICE,
  WARNING_TTL_SECONDS,
  type WarningEntry,
} from './types.js';

/**
 * An unchanged meta value is written again only when that pushes its expiry at least this much
 * further: an agent re-sending its kernel version every minute costs one row write per 10 minutes,
 * and a value stays visible between 50 and 60 minutes after it was last sent.
 */
export const META_REFRESH_SECONDS = 600;

/** Longest meta value or warning message stored (longer ones are cut), far above a line's 4 KiB. */
export const MAX_STORED_TEXT = 16_000;

/**
 * writeBatch deletes expired meta and warnings itself at most this often (by the batches' receiver
 * clock), so the tables stay small without a separate job.
 */
export const AUTO_EXPIRE_EVERY_SECONDS = 300;

export interface StoreOptions {
  /** Delete expired rows from writeBatch every AUTO_EXPIRE_EVERY_SECONDS (default true). */
  autoExpire?: boolean;
  /** Meta names and warnings kept per host (defaults: DEFAULT_LIMITS). */
  limits?: Partial<Pick<IngestLimits, 'maxMetaPerHost' | 'maxWarningsPerHost'>>;
}

/** Decides when writeBatch runs expire(); one per store instance. */
export class ExpiryClock {
  private nextAt = Number.NEGATIVE_INFINITY;
  constructor(private readonly enabled: boolean) {}

  /** True when an expiry is due at `receivedAt`; the next one is then scheduled. */
  due(receivedAt: number): boolean {
    if (!this.enabled || receivedAt < this.nextAt) return false;
    this.nextAt = receivedAt + AUTO_EXPIRE_EVERY_SECONDS;
    return true;
  }

  /** The expiry failed: try again with the next batch. */
  retry(): void {
    this.nextAt = Number.NEGATIVE_INFINITY;
  }
}

/** The in-memory state every store instance keeps next to its connection. */
export type StoreState = ReturnType<typeof storeState>;

export function storeState(options: StoreOptions) {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  return {
    limits,
    expiry: new ExpiryClock(options.autoExpire ?? true),
    metaCache: new MetaWriteCache(limits.maxMetaPerHost),
    known: new KnownHosts(),
  };
}

/**
 * Run `expire` when the clock says it is due. A failure is not the batch's: it is committed, and
 * failing it now would only make the broker redeliver. Expired rows are invisible to every read
 * anyway, so the next batch simply tries again.
 */
export async function expireIfDue(
  expiry: ExpiryClock,
  receivedAt: number,
  expire: (now: number) => Promise<number>,
): Promise<void> {
  if (!expiry.due(receivedAt)) return;
  try {
    await expire(receivedAt);
  } catch {
    expiry.retry();
  }
}

/** Deleting what expired at `now`: the same statements in both dialects, in this order. */
export function expireStatements(now: number): { sql: string; args: number[] }[] {
  return [
    { sql: 'DELETE FROM meta WHERE expires_at <= ?', args: [now] },
    { sql: 'DELETE FROM warnings WHERE received_at <= ?', args: [now - WARNING_TTL_SECONDS] },
  ];
}

/** Reads that are the same SQL in both dialects; every `?` is a plain value. */
export const READ_SQL = {
  meta: 'SELECT * FROM meta WHERE host = ? AND expires_at > ? ORDER BY plugin, name',
  metaOfPlugin: 'SELECT * FROM meta WHERE host = ? AND plugin = ? AND expires_at > ? ORDER BY name',
  warnings: `SELECT host, plugin, name, message, reported_at FROM warnings
       WHERE host = ? AND received_at > ? ORDER BY reported_at DESC, id DESC`,
  lastReceived: 'SELECT host, plugin, received_at FROM last_received WHERE host = ? ORDER BY plugin',
  lastReceivedOfPlugin: 'SELECT host, received_at FROM last_received WHERE plugin = ?',
} as const;

/** The arguments of READ_SQL.meta / metaOfPlugin. */
export function metaArgs(host: string, now: number, plugin?: string): (string | number)[] {
  return plugin === undefined ? [host, now] : [host, plugin, now];
}

/** Warnings still shown at `now` were received after this. */
export function warningsSince(now: number): number {
  return now - WARNING_TTL_SECONDS;
}

/** Numbers may come back as strings (MySQL BIGINT) or numbers (SQLite). */
type DbNumber = number | string | bigint;

export interface MetaDbRow {
  host: string;
  plugin: string;
  name: string;
  value: string;
  reported_at: DbNumber;
}

export function toMetaEntry(row: MetaDbRow): MetaEntry {
  return {
    host: String(row.host),
    plugin: String(row.plugin),
    name: String(row.name),
    value: String(row.value),
    timestamp: Number(row.reported_at),
  };
}

export interface WarningDbRow {
  host: string;
  plugin: string;
  name: string;
  message: string;
  reported_at: DbNumber;
}

export function toWarningEntry(row: WarningDbRow): WarningEntry {
  return {
    host: String(row.host),
    plugin: String(row.plugin),
    name: String(row.name),
    message: String(row.message),
    timestamp: Number(row.reported_at),
  };
}

export interface LatestDbRow {
  host: string;
  plugin: string;
  at: DbNumber;
  latest: string;
  previous_at: DbNumber | null;
  previous: string | null;
}

/**
 * Latest values, all or of some plugin names: `nginx` matches `nginx` and every `nginx:…`
 * identifier (a range, so `_` or `%` in a name mean nothing special).
 */
export function latestValuesQuery(pluginNames: readonly string[] = []): { sql: string; args: string[] } {
  const base = 'SELECT host, plugin, at, latest, previous_at, previous FROM latest_values';
  if (pluginNames.length === 0) return { sql: base, args: [] };
  const where = pluginNames.map(() => '(plugin = ? OR (plugin > ? AND plugin < ?))').join(' OR ');
  return {
    sql: `${base} WHERE ${where}`,
    args: pluginNames.flatMap((name) => [name, `${name}:`, `${name};`]),
  };
}

function parseValues(text: string): MetricValues {
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as MetricValues) : {};
  } catch {
    return {};
  }
}

export function toLatestValuesRow(row: LatestDbRow): LatestValuesRow {
  const out: LatestValuesRow = {
    host: String(row.host),
    plugin: String(row.plugin),
    at: Number(row.at),
    values: parseValues(row.latest),
  };
  if (row.previous !== null && row.previous_at !== null) {
    out.previous = { at: Number(row.previous_at), values: parseValues(row.previous) };
  }
  return out;
}

/** The rows of a batch's latest values, sorted by key (MySQL takes row locks in that order). */
export function latestRows(latest: readonly LatestValues[] | undefined): (string | number)[][] {
  if (!latest || latest.length === 0) return [];
  return [...latest]
    .sort((a, b) => compareKeys([a.host, a.plugin], [b.host, b.plugin]))
    .map((l) => [l.host, l.plugin, l.at, JSON.stringify(l.values)]);
}

export interface ReceivedDbRow {
  host: string;
  plugin: string;
  received_at: DbNumber;
}

export function toLastReceived(row: ReceivedDbRow): LastReceived {
  return { host: String(row.host), plugin: String(row.plugin), at: Number(row.received_at) };
}

/**
 * What the status of hosts is decided from, read with STATUS_SQL. `filter(column)` narrows a
 * statement to some hosts (`''` for all); its placeholders come after the statement's own.
 */
export function statusSql(filter: (column: string) => string) {
  return {
    hosts: `SELECT address, plugins FROM hosts WHERE 1 = 1${filter('address')}`,
    received: `SELECT host, plugin, received_at FROM last_received WHERE 1 = 1${filter('host')}`,
    /** Its own argument (warningsSince(now)) comes first. */
    warnings: `SELECT host, plugin, name, message, received_at FROM warnings WHERE received_at > ?${filter('host')}`,
  };
}

/** Collects the rows of statusSql's statements into StatusFacts, then evaluates them. */
export class StatusFactsReader {
  private readonly facts = new Map<string, StatusFacts>();

  host(row: { address: string; plugins: string }): void {
    this.facts.set(String(row.address), {
      plugins: JSON.parse(String(row.plugins)) as string[],
      received: new Map(),
      recentWarnings: [],
    });
  }

  received(row: ReceivedDbRow): void {
    this.facts.get(String(row.host))?.received.set(String(row.plugin), Number(row.received_at));
  }

  warning(row: { host: string; plugin: string; name: string; message: string; received_at: DbNumber }): void {
    this.facts.get(String(row.host))?.recentWarnings.push({
      plugin: String(row.plugin),
      name: String(row.name),
      message: String(row.message),
      receivedAt: Number(row.received_at),
    });
  }

  reports(now: number): Map<string, HostStatusReport> {
    const reports = new Map<string, HostStatusReport>();
    for (const [address, facts] of this.facts) reports.set(address, evaluateStatus(facts, now));
    return reports;
  }
}

/** Only the status of each report. */
export function statusesOf(reports: Map<string, HostStatusReport>): Map<string, HostStatus> {
  return new Map([...reports].map(([address, report]) => [address, report.status]));
}

/** How often a process re-reads the set of known addresses (another process may have pruned). */
export const KNOWN_HOSTS_RELOAD_MS = 10 * 60 * 1000;

export interface MetaRow {
  host: string;
  plugin: string;
  name: string;
  value: string;
  reportedAt: number;
  expiresAt: number;
}

export interface WarningRow {
  host: string;
  plugin: string;
  name: string;
  message: string;
  reportedAt: number;
  receivedAt: number;
}

export interface ReceivedRow {
  host: string;
  plugin: string;
  receivedAt: number;
}

const compareKeys = (a: readonly string[], b: readonly string[]): number => {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
};

/** How often, by the batches' receiver clock, the in-memory caches drop expired entries. */
const CACHE_SWEEP_SECONDS = 60;

/**
 * Remembers, per host, the meta values in the table and until when they live, so that a group
 * commit writes only changed values and values due for an expiry refresh. It also bounds the
 * distinct meta names of a host: a name new to a host that already has `maxPerHost` live names
 * is refused. A host that sends a name this process does not know is first re-read from the
 * table inside the write transaction (`load`), so names other processes wrote count too.
 * Expired entries are dropped, so it holds only what the table holds. Forget a host whose rows
 * were deleted, or its unchanged values would not come back until the refresh.
 */
export class MetaWriteCache {
  private readonly byHost = new Map<string, Map<string, { value: string; expiresAt: number }>>();
  private nextSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxPerHost = DEFAULT_LIMITS.maxMetaPerHost) {}

  /**
   * The rows of `meta` to write at `receivedAt`: one per key (the latest report), sorted; and
   * per host the names refused because the host has too many.
   */
  select(
    meta: readonly MetaValue[],
    receivedAt: number,
  ): { rows: MetaRow[]; refused: Map<string, string[]> } {
    this.sweep(receivedAt);
    const latest = new Map<string, MetaValue>();
    for (const value of meta) {
      const key = `${value.host}\u0000${value.plugin}\u0000${value.name}`;
      const seen = latest.get(key);
      if (!seen || value.timestamp >= seen.timestamp) latest.set(key, value);
    }
    const expiresAt = receivedAt + META_TTL_SECONDS;
    const rows: MetaRow[] = [];
    const refused = new Map<string, string[]>();
    const newNames = new Map<string, number>();
    for (const value of latest.values()) {
      const stored = clip(value.value);
      const entries = this.byHost.get(value.host);
      const cached = entries?.get(`${value.plugin}\u0000${value.name}`);
      if (cached && cached.value === stored && cached.expiresAt >= expiresAt - META_REFRESH_SECONDS) continue;
      if (!cached) {
        const added = newNames.get(value.host) ?? 0;
        if ((entries?.size ?? 0) + added >= this.maxPerHost) {
          const names = refused.get(value.host);
          if (names) names.push(`${value.plugin}.${value.name}`);
          else refused.set(value.host, [`${value.plugin}.${value.name}`]);
          continue;
        }
        newNames.set(value.host, added + 1);
      }
      rows.push({
        host: value.host,
        plugin: value.plugin,
        name: value.name,
        value: stored,
        reportedAt: value.timestamp,
        expiresAt,
      });
    }
    // A fixed row order makes concurrent writers lock rows in the same order (no deadlocks).
    rows.sort((a, b) => compareKeys([a.host, a.plugin, a.name], [b.host, b.plugin, b.name]));
    return { rows, refused };
  }

  /**
   * Hosts of `meta` that send a name this process does not know: their live names must be read
   * from the table (`load`) before `select` decides whether a new name fits.
   */
  hostsToLoad(meta: readonly MetaValue[]): string[] {
    const hosts = new Set<string>();
    for (const value of meta) {
      if (hosts.has(value.host)) continue;
      if (!this.byHost.get(value.host)?.has(`${value.plugin}\u0000${value.name}`)) hosts.add(value.host);
    }
    return [...hosts].sort();
  }

  /** The live rows of `hosts` as the table holds them now: they replace what was known of them. */
  load(hosts: readonly string[], rows: readonly LiveMetaRow[]): void {
    for (const host of hosts) this.byHost.delete(host);
    for (const row of rows) {
      const host = String(row.host);
      let entries = this.byHost.get(host);
      if (!entries) {
        entries = new Map();
        this.byHost.set(host, entries);
      }
      entries.set(`${row.plugin}\u0000${row.name}`, {
        value: String(row.value),
        expiresAt: Number(row.expires_at),
      });
    }
  }

  /** Call after the transaction that wrote `rows` committed. */
  remember(rows: readonly MetaRow[]): void {
    for (const row of rows) {
      let entries = this.byHost.get(row.host);
      if (!entries) {
        entries = new Map();
        this.byHost.set(row.host, entries);
      }
      const key = `${row.plugin}\u0000${row.name}`;
      const cached = entries.get(key);
      entries.set(key, { value: row.value, expiresAt: Math.max(row.expiresAt, cached?.expiresAt ?? 0) });
    }
  }

  /** Entries held, over all hosts (for tests of the eviction). */
  get size(): number {
    let size = 0;
    for (const entries of this.byHost.values()) size += entries.size;
    return size;
  }

  forgetHosts(hosts: Iterable<string>): void {
    for (const host of hosts) this.byHost.delete(host);
  }

  clear(): void {
    this.byHost.clear();
  }

  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + CACHE_SWEEP_SECONDS;
    for (const [host, entries] of this.byHost) {
      for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
      if (entries.size === 0) this.byHost.delete(host);
    }
  }
}

/** A live meta row as the bounds read it from the table (numbers may come back as strings). */
export interface LiveMetaRow {
  host: string;
  plugin: string;
  name: string;
  value: string;
  expires_at: DbNumber;
}

/**
 * What the per-host bounds of a batch must read from the table inside its write transaction,
 * so that several processes writing one store together keep each bound: the live meta of hosts
 * sending names this process does not know, and how many warnings hosts sending warnings have.
 */
export interface BoundsQuestions {
  /** Hosts whose live meta rows are read (STORE_BOUNDS_SQL.liveMeta). */
  metaHosts: string[];
  /** Hosts whose shown warnings are counted (STORE_BOUNDS_SQL.warningCounts). */
  warningHosts: string[];
  /** Every host above, sorted: the rows a MySQL transaction locks before reading. */
  hosts: string[];
}

export function boundsQuestions(batch: StoreBatch, metaCache: MetaWriteCache): BoundsQuestions {
  const metaHosts = metaCache.hostsToLoad(batch.meta);
  const warningHosts = [
    ...new Set(batch.warnings.filter((w) => w.plugin !== LIMIT_WARNING_PLUGIN).map((w) => w.host)),
  ].sort();
  const hosts = [...new Set([...metaHosts, ...warningHosts])].sort();
  return { metaHosts, warningHosts, hosts };
}

/**
 * The reads of boundsQuestions, the same SQL in both dialects; `IN (…)` is written by the
 * dialect (`inList(n)`). Kurado's own warnings are not counted: they are never refused.
 */
export const STORE_BOUNDS_SQL = {
  liveMeta: (inList: string) =>
    `SELECT host, plugin, name, value, expires_at FROM meta WHERE expires_at > ? AND host IN ${inList}`,
  warningCounts: (inList: string) =>
    `SELECT host, COUNT(*) AS shown FROM warnings WHERE received_at > ? AND plugin <> '${LIMIT_WARNING_PLUGIN}' AND host IN ${inList} GROUP BY host`,
} as const;

/** What the reads of boundsQuestions returned. */
export interface BoundsFacts {
  liveMeta: LiveMetaRow[];
  /** Shown warnings per host (received in the last WARNING_TTL_SECONDS), Kurado's own left out. */
  warningCounts: Map<string, number>;
}

/**
 * The warning rows that fit: at most `maxPerHost` shown per host (received in the last
 * WARNING_TTL_SECONDS), counting what the table holds already. Kurado's own warnings (plugin
 * `kurado`) always pass, so the warning that says something was refused is never refused itself.
 */
function admitWarnings(
  rows: readonly WarningRow[],
  shown: ReadonlyMap<string, number>,
  maxPerHost: number,
  refused: Map<string, string[]>,
): WarningRow[] {
  const counts = new Map(shown);
  const kept: WarningRow[] = [];
  for (const row of rows) {
    if (row.plugin === LIMIT_WARNING_PLUGIN) {
      kept.push(row);
      continue;
    }
    const count = counts.get(row.host) ?? 0;
    if (count >= maxPerHost) {
      const names = refused.get(row.host);
      if (names) names.push(`${row.plugin}.${row.name}`);
      else refused.set(row.host, [`${row.plugin}.${row.name}`]);
      continue;
    }
    counts.set(row.host, count + 1);
    kept.push(row);
  }
  return kept;
}

/**
 * The meta and warning rows of a batch after the per-host bounds, with a `kurado` warning on
 * each host that had something refused. Both dialects write exactly these.
 */
export function boundedRows(
  batch: StoreBatch,
  metaCache: MetaWriteCache,
  questions: BoundsQuestions,
  facts: BoundsFacts,
  limits: Pick<IngestLimits, 'maxMetaPerHost' | 'maxWarningsPerHost'>,
): { meta: MetaRow[]; warnings: WarningRow[] } {
  metaCache.load(questions.metaHosts, facts.liveMeta);
  const { rows: meta, refused: metaRefused } = metaCache.select(batch.meta, batch.receivedAt);
  const warningsRefused = new Map<string, string[]>();
  const warnings = admitWarnings(
    warningRows(batch.warnings, batch.receivedAt),
    facts.warningCounts,
    limits.maxWarningsPerHost,
    warningsRefused,
  );
  if (metaRefused.size === 0 && warningsRefused.size === 0) return { meta, warnings };
  const extra: WarnValue[] = [];
  for (const [host, names] of metaRefused) {
    extra.push({
      host,
      ...META_LIMIT_WARNING,
      message: `${names.length} new meta value(s) refused (first: ${names[0]}): the host already has ${limits.maxMetaPerHost} (limits.${LIMIT_KEYS.maxMetaPerHost} in kurado.toml)`,
      timestamp: batch.receivedAt,
    });
  }
  for (const [host, names] of warningsRefused) {
    extra.push({
      host,
      ...WARNINGS_LIMIT_WARNING,
      message: `${names.length} warning(s) refused (first: ${names[0]}): more than ${limits.maxWarningsPerHost} shown (received in the last 5 minutes; limits.${LIMIT_KEYS.maxWarningsPerHost} in kurado.toml)`,
      timestamp: batch.receivedAt,
    });
  }
  const unique = new Map<string, WarningRow>();
  for (const row of [...warnings, ...warningRows(extra, batch.receivedAt)])
    unique.set(`${row.host}\u0000${row.plugin}\u0000${row.name}\u0000${row.reportedAt}`, row);
  return { meta, warnings: [...unique.values()].sort(compareWarningRows) };
}

/** Warnings of a batch as rows, one per (host, plugin, name, reported timestamp), sorted. */
export function warningRows(warnings: readonly WarnValue[], receivedAt: number): WarningRow[] {
  const unique = new Map<string, WarningRow>();
  for (const w of warnings) {
    unique.set(`${w.host}\u0000${w.plugin}\u0000${w.name}\u0000${w.timestamp}`, {
      host: w.host,
      plugin: w.plugin,
      name: w.name,
      message: clip(w.message),
      reportedAt: w.timestamp,
      receivedAt,
    });
  }
  return [...unique.values()].sort(compareWarningRows);
}

function compareWarningRows(a: WarningRow, b: WarningRow): number {
  return compareKeys([a.host, a.plugin, a.name], [b.host, b.plugin, b.name]);
}

/** Received host+plugin pairs of a batch, deduplicated and sorted. */
export function receivedRows(
  received: readonly { host: string; plugin: string }[],
  receivedAt: number,
): ReceivedRow[] {
  const unique = new Map<string, ReceivedRow>();
  for (const r of received)
    unique.set(`${r.host}\u0000${r.plugin}`, { host: r.host, plugin: r.plugin, receivedAt });
  return [...unique.values()].sort((a, b) => compareKeys([a.host, a.plugin], [b.host, b.plugin]));
}

function clip(text: string): string {
  return text.length > MAX_STORED_TEXT ? text.slice(0, MAX_STORED_TEXT) : text;
}

/**
 * The addresses this process knows are in the hosts table, so auto-registration is a set lookup
 * per message. Reloaded every KNOWN_HOSTS_RELOAD_MS because another process may remove hosts.
 */
export class KnownHosts {
  private addresses = new Set<string>();
  private loadedAtMs = Number.NEGATIVE_INFINITY;

  isStale(nowMs = Date.now()): boolean {
    return nowMs - this.loadedAtMs > KNOWN_HOSTS_RELOAD_MS;
  }

  load(addresses: Iterable<string>, nowMs = Date.now()): void {
    this.addresses = new Set(addresses);
    this.loadedAtMs = nowMs;
  }

  /** Addresses (deduplicated) not in the set. */
  unknown(addresses: readonly string[]): string[] {
    const missing = new Set<string>();
    for (const address of addresses) if (!this.addresses.has(address)) missing.add(address);
    return [...missing];
  }

  add(addresses: Iterable<string>): void {
    for (const address of addresses) this.addresses.add(address);
  }

  delete(addresses: Iterable<string>): void {
    for (const address of addresses) this.addresses.delete(address);
  }

  invalidate(): void {
    this.loadedAtMs = Number.NEGATIVE_INFINITY;
  }
}

/** A hosts-table row as both dialects return it. */
export interface HostRow {
  address: string;
  hostname: string;
  comments: string;
  service: string;
  label: string;
  role: string;
  plugins: string;
  settings: string;
  origin: string;
  position: number;
  options: string;
}

/** The columns of a host to write, in the order of HOST_COLUMNS. */
export const HOST_COLUMNS = [
  'address',
  'hostname',
  'comments',
  'service',
  'label',
  'role',
  'plugins',
  'settings',
  'origin',
  'position',
  'options',
  'updated_at',
] as const;

export function hostValues(
  host: HostRecord,
  origin: HostOrigin,
  position: number,
  now: number,
): (string | number)[] {
  return [
    host.address,
    host.hostname || host.address,
    host.comments,
    host.service,
    host.label,
    host.role,
    JSON.stringify(host.plugins),
    JSON.stringify(host.settings ?? {}),
    origin,
    position,
    JSON.stringify(host.options ?? {}),
    now,
  ];
}

/** The record of an address that pushed without being listed. */
export function unregisteredHost(address: string): HostRecord {
  return {
    address,
    hostname: address,
    comments: '',
    service: UNREGISTERED_SERVICE,
    label: '',
    role: '',
    plugins: [],
    origin: 'auto',
  };
}

export function rowToHost(row: HostRow): HostRecord {
  const host: HostRecord = {
    address: row.address,
    hostname: row.hostname,
    comments: row.comments,
    service: row.service,
    label: row.label,
    role: row.role,
    plugins: parseJson<string[]>(row.plugins, [], row.address),
    origin: row.origin === 'import' ? 'import' : 'auto',
  };
  const settings = parseJson<PluginSettings>(row.settings, {}, row.address);
  if (Object.keys(settings).length > 0) host.settings = settings;
  const options = parseJson<HostOptions>(row.options, {}, row.address);
  if (Object.keys(options).length > 0) host.options = options;
  return host;
}

function parseJson<T>(text: string, fallback: T, address: string): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(
      `hosts table: row of ${address} holds broken JSON "${text.slice(0, 80)}": ${(error as Error).message}`,
    );
  }
}

/**
 * Hosts in display order: services case-insensitively (the "unregistered" service last), then
 * the order of the server list, then address. Sorted here, not in SQL, so both dialects agree
 * whatever their collations.
 */
export function sortHostRows(rows: HostRow[]): HostRow[] {
  // Keys computed once per row, not per comparison: the fleet page sorts every host.
  const keys = new Map<string, { unregistered: number; lower: string }>();
  const keyOf = (service: string) => {
    let key = keys.get(service);
    if (key === undefined) {
      key = { unregistered: service === UNREGISTERED_SERVICE ? 1 : 0, lower: service.toLowerCase() };
      keys.set(service, key);
    }
    return key;
  };
  return rows.sort((a, b) => {
    if (a.service !== b.service) {
      const ka = keyOf(a.service);
      const kb = keyOf(b.service);
      if (ka.unregistered !== kb.unregistered) return ka.unregistered - kb.unregistered;
      if (ka.lower !== kb.lower) return ka.lower < kb.lower ? -1 : 1;
      return a.service < b.service ? -1 : 1;
    }
    if (a.position !== b.position) return a.position - b.position;
    return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
  });
}

/** Split `items` into chunks of at most `size` (multi-row statements of bounded length). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/** Thrown for a store URL, connection or schema problem; the message never holds a password. */
export class StoreError extends Error {
  override name = 'StoreError';
}
