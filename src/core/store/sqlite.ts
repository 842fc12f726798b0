/**
 * The embedded store: one SQLite file (better-sqlite3), the default for one machine. `receive`
 * and `serve` open the same file from different processes, hence WAL (readers never block the
 * writer) and a busy timeout (a second writer waits instead of failing with SQLITE_BUSY).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { chooseNodes } from '../storage/nodes.js';
import {
  type BoundsFacts,
  type BoundsQuestions,
  boundedRows,
  boundsQuestions,
  chunks,
  expireIfDue,
  expireStatements,
  HOST_COLUMNS,
  type HostRow,
  hostValues,
  type LatestDbRow,
  type LiveMetaRow,
  latestRows,
  latestValuesQuery,
  type MetaDbRow,
  metaArgs,
  READ_SQL,
  type ReceivedDbRow,
  receivedRows,
  rowToHost,
  STORE_BOUNDS_SQL,
  StatusFactsReader,
  StoreError,
  type StoreOptions,
  type StoreState,
  sortHostRows,
  statusesOf,
  statusSql,
  storeState,
  toLastReceived,
  toLatestValuesRow,
  toMetaEntry,
  toWarningEntry,
  unregisteredHost,
  type WarningDbRow,
  warningsSince,
} from './common.js';
import { migrateSqlite, sqliteSchemaVersion } from './migrations.js';
import {
  type HostRecord,
  type HostStatus,
  type HostStatusReport,
  type LastReceived,
  type LatestValuesRow,
  META_TTL_SECONDS,
  type MetaEntry,
  type MetaStore,
  type StorageAssignment,
  type StoragePlacement,
  type StoreBatch,
  type WarningEntry,
} from './types.js';

/** How long a writer waits for another process's transaction before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;
/** SQLite's default limit on `?` per statement is 32766; IN lists stay well below. */
const IN_CHUNK = 500;

export class SqliteStore implements MetaStore {
  private readonly db: Database.Database;
  private readonly state: StoreState;

  /** `file` is a path or `:memory:`; parent directories are created. */
  constructor(
    private readonly file: string,
    options: StoreOptions = {},
  ) {
    this.state = storeState(options);
    try {
      if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      this.db = new Database(file);
      this.db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode survives a crash of the process; a power cut may lose the last
      // commits, which is acceptable for metadata every agent re-sends within a minute.
      this.db.pragma('synchronous = NORMAL');
    } catch (error) {
      throw new StoreError(`SQLite store ${file}: cannot open: ${(error as Error).message}`);
    }
  }

  /** Prepared statements by SQL text: preparing costs more than running a small statement. */
  private readonly statements = new Map<string, Database.Statement>();

  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  private get where(): string {
    return `SQLite store ${this.file}`;
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db, this.where);
  }

  async schemaVersion(): Promise<number> {
    return sqliteSchemaVersion(this.db);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async upsertHosts(hosts: HostRecord[]): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const statement = this.statement(
      `INSERT INTO hosts (${HOST_COLUMNS.join(', ')}, created_at) VALUES (${HOST_COLUMNS.map(() => '?').join(', ')}, ?)
       ON CONFLICT (address) DO UPDATE SET ${HOST_COLUMNS.filter((c) => c !== 'address')
         .map((c) => `${c} = excluded.${c}`)
         .join(', ')}`,
    );
    this.db.transaction(() => {
      hosts.forEach((host, index) => {
        statement.run(...hostValues(host, 'import', index, now), now);
      });
    })();
    this.state.known.add(hosts.map((h) => h.address));
  }

  async registerUnknownHosts(addresses: string[]): Promise<string[]> {
    if (this.state.known.isStale()) {
      this.state.known.load(this.statement('SELECT address FROM hosts').pluck().all() as string[]);
    }
    const unknown = this.state.known.unknown(addresses);
    if (unknown.length === 0) return [];
    const now = Math.floor(Date.now() / 1000);
    const insert = this.statement(
      `INSERT INTO hosts (${HOST_COLUMNS.join(', ')}, created_at) VALUES (${HOST_COLUMNS.map(() => '?').join(', ')}, ?)
       ON CONFLICT (address) DO NOTHING`,
    );
    const added: string[] = [];
    this.db
      .transaction(() => {
        for (const address of unknown) {
          // Another process may have registered it since this one loaded the known set.
          if (insert.run(...hostValues(unregisteredHost(address), 'auto', 0, now), now).changes > 0)
            added.push(address);
        }
      })
      .immediate();
    this.state.known.add(unknown);
    return added;
  }

  async assignStorage(hosts: string[], placement: StoragePlacement): Promise<StorageAssignment> {
    const result: StorageAssignment = { nodes: new Map(), placed: [], badPins: [] };
    const unique = [...new Set(hosts)];
    const lookup = (list: string[]) => {
      for (const chunk of inChunks(list)) {
        const rows = this.statement(
          `SELECT host, node FROM host_storage WHERE host IN (${chunk.map(() => '?').join(', ')})`,
        ).all(...chunk) as { host: string; node: string }[];
        for (const row of rows) result.nodes.set(row.host, row.node);
      }
    };
    lookup(unique);
    const missing = unique.filter((host) => !result.nodes.has(host));
    if (missing.length === 0) return result;
    const insert = this.statement(
      'INSERT INTO host_storage (host, node, assigned_at) VALUES (?, ?, ?) ON CONFLICT (host) DO NOTHING',
    );
    const now = Math.floor(Date.now() / 1000);
    // IMMEDIATE: the counts and the inserts see no other process's placements in between.
    this.db
      .transaction(() => {
        lookup(missing);
        const fresh = missing.filter((host) => !result.nodes.has(host));
        const { placed, badPins } = chooseNodes(fresh, placement.nodes, this.countsNow(), (host) =>
          placement.pinOf(host),
        );
        result.badPins = badPins;
        for (const [host, node] of placed) {
          if (insert.run(host, node, now).changes > 0) result.placed.push(host);
          result.nodes.set(host, node);
        }
      })
      .immediate();
    return result;
  }

  private countsNow(): Map<string, number> {
    const rows = this.statement('SELECT node, COUNT(*) AS hosts FROM host_storage GROUP BY node').all() as {
      node: string;
      hosts: number;
    }[];
    return new Map(rows.map((row) => [row.node, Number(row.hosts)]));
  }

  async storageAssignments(): Promise<Map<string, string>> {
    const rows = this.statement('SELECT host, node FROM host_storage').all() as {
      host: string;
      node: string;
    }[];
    return new Map(rows.map((row) => [row.host, row.node]));
  }

  async storageCounts(): Promise<Map<string, number>> {
    return this.countsNow();
  }

  async listHosts(): Promise<HostRecord[]> {
    const rows = this.statement('SELECT * FROM hosts').all() as HostRow[];
    return sortHostRows(rows).map(rowToHost);
  }

  async findHost(addressOrHostname: string): Promise<HostRecord | undefined> {
    // Imported hosts win: an auto-registered host named like a listed host's hostname never
    // shadows it. Then an address match before a hostname match.
    const row = this.statement(
      `SELECT * FROM hosts WHERE address = ? OR hostname = ?
       ORDER BY origin = 'import' DESC, address = ? DESC, address LIMIT 1`,
    ).get(addressOrHostname, addressOrHostname, addressOrHostname) as HostRow | undefined;
    return row ? rowToHost(row) : undefined;
  }

  async removeHosts(addresses: string[]): Promise<void> {
    const tables = ['hosts', 'meta', 'warnings', 'last_received', 'latest_values'] as const;
    const statements = tables.map((table) =>
      this.statement(`DELETE FROM ${table} WHERE ${table === 'hosts' ? 'address' : 'host'} = ?`),
    );
    this.db
      .transaction(() => {
        for (const address of addresses) for (const statement of statements) statement.run(address);
      })
      .immediate();
    this.state.known.delete(addresses);
    this.state.metaCache.forgetHosts(addresses);
  }

  async autoHostsLastSeen(): Promise<Map<string, number>> {
    const rows = this.statement(
      `SELECT h.address AS address, COALESCE(MAX(l.received_at), h.created_at) AS seen
         FROM hosts h LEFT JOIN last_received l ON l.host = h.address
         WHERE h.origin = 'auto' GROUP BY h.address, h.created_at`,
    ).all() as { address: string; seen: number }[];
    return new Map(rows.map((r) => [r.address, Number(r.seen)]));
  }

  async writeBatch(batch: StoreBatch): Promise<void> {
    const received = receivedRows(batch.received, batch.receivedAt);
    const latest = latestRows(batch.latest);
    if (
      batch.meta.length === 0 &&
      batch.warnings.length === 0 &&
      received.length === 0 &&
      latest.length === 0
    )
      return;
    const questions = boundsQuestions(batch, this.state.metaCache);
    // In SQLite a prepared statement per row inside one transaction is as fast as a multi-row
    // statement: there is no network round trip to save.
    const upsertMeta = this.statement(
      `INSERT INTO meta (host, plugin, name, value, reported_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (host, plugin, name) DO UPDATE SET
         reported_at = CASE WHEN value = excluded.value AND expires_at > excluded.expires_at - ${META_TTL_SECONDS}
                            THEN reported_at ELSE excluded.reported_at END,
         value = excluded.value,
         expires_at = MAX(expires_at, excluded.expires_at)`,
    );
    const insertWarning = this.statement(
      `INSERT INTO warnings (host, plugin, name, message, reported_at, received_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (host, plugin, name, reported_at) DO NOTHING`,
    );
    const upsertReceived = this.statement(
      `INSERT INTO last_received (host, plugin, received_at) VALUES (?, ?, ?)
       ON CONFLICT (host, plugin) DO UPDATE SET received_at = MAX(received_at, excluded.received_at)`,
    );
    // Every SET expression sees the row as it was: the old latest becomes previous when newer came.
    const upsertLatest = this.statement(
      `INSERT INTO latest_values (host, plugin, at, latest) VALUES (?, ?, ?, ?)
       ON CONFLICT (host, plugin) DO UPDATE SET
         previous_at = CASE WHEN excluded.at > at THEN at ELSE previous_at END,
         previous = CASE WHEN excluded.at > at THEN latest ELSE previous END,
         latest = CASE WHEN excluded.at >= at THEN excluded.latest ELSE latest END,
         at = MAX(at, excluded.at)`,
    );
    // IMMEDIATE: the bounds read what other processes committed, and nobody writes in between.
    const meta = this.db
      .transaction(() => {
        const { meta, warnings } = boundedRows(
          batch,
          this.state.metaCache,
          questions,
          this.boundsFacts(questions, batch.receivedAt),
          this.state.limits,
        );
        for (const r of meta) upsertMeta.run(r.host, r.plugin, r.name, r.value, r.reportedAt, r.expiresAt);
        for (const w of warnings)
          insertWarning.run(w.host, w.plugin, w.name, w.message, w.reportedAt, w.receivedAt);
        for (const r of received) upsertReceived.run(r.host, r.plugin, r.receivedAt);
        for (const row of latest) upsertLatest.run(...row);
        return meta;
      })
      .immediate();
    this.state.metaCache.remember(meta);
    await expireIfDue(this.state.expiry, batch.receivedAt, (now) => this.expire(now));
  }

  /** The reads of the per-host bounds (inside the write transaction). */
  private boundsFacts(questions: BoundsQuestions, now: number): BoundsFacts {
    const facts: BoundsFacts = { liveMeta: [], warningCounts: new Map() };
    const inList = (n: number) => `(${Array.from({ length: n }, () => '?').join(', ')})`;
    for (const hosts of chunks(questions.metaHosts, IN_CHUNK)) {
      const rows = this.statement(STORE_BOUNDS_SQL.liveMeta(inList(hosts.length))).all(now, ...hosts);
      facts.liveMeta.push(...(rows as LiveMetaRow[]));
    }
    for (const hosts of chunks(questions.warningHosts, IN_CHUNK)) {
      const rows = this.statement(STORE_BOUNDS_SQL.warningCounts(inList(hosts.length))).all(
        warningsSince(now),
        ...hosts,
      ) as { host: string; shown: number }[];
      for (const row of rows) facts.warningCounts.set(String(row.host), Number(row.shown));
    }
    return facts;
  }

  async meta(host: string, now: number, plugin?: string): Promise<MetaEntry[]> {
    const sql = plugin === undefined ? READ_SQL.meta : READ_SQL.metaOfPlugin;
    return (this.statement(sql).all(...metaArgs(host, now, plugin)) as MetaDbRow[]).map(toMetaEntry);
  }

  async warnings(host: string, now: number): Promise<WarningEntry[]> {
    const rows = this.statement(READ_SQL.warnings).all(host, warningsSince(now)) as WarningDbRow[];
    return rows.map(toWarningEntry);
  }

  async lastReceived(host: string): Promise<LastReceived[]> {
    return (this.statement(READ_SQL.lastReceived).all(host) as ReceivedDbRow[]).map(toLastReceived);
  }

  async latestValues(pluginNames?: string[]): Promise<LatestValuesRow[]> {
    const { sql, args } = latestValuesQuery(pluginNames);
    return (this.statement(sql).all(...args) as LatestDbRow[]).map(toLatestValuesRow);
  }

  async lastReceivedOfPlugin(plugin: string): Promise<Map<string, number>> {
    const rows = this.statement(READ_SQL.lastReceivedOfPlugin).all(plugin) as ReceivedDbRow[];
    return new Map(rows.map((r) => [r.host, Number(r.received_at)]));
  }

  async statuses(now: number, addresses?: string[]): Promise<Map<string, HostStatus>> {
    return statusesOf(await this.statusReports(now, addresses));
  }

  async statusReports(now: number, addresses?: string[]): Promise<Map<string, HostStatusReport>> {
    const reader = new StatusFactsReader();
    const read = this.db.transaction((subset: string[] | undefined) => {
      const sql = statusSql((column) =>
        subset ? ` AND ${column} IN (${subset.map(() => '?').join(', ')})` : '',
      );
      const args = subset ?? [];
      for (const row of this.db.prepare(sql.hosts).all(...args)) reader.host(row as HostFactsRow);
      for (const row of this.db.prepare(sql.received).all(...args)) reader.received(row as ReceivedDbRow);
      for (const row of this.db.prepare(sql.warnings).all(warningsSince(now), ...args))
        reader.warning(row as StatusWarningRow);
    });
    if (addresses === undefined) read(undefined);
    else for (let i = 0; i < addresses.length; i += IN_CHUNK) read(addresses.slice(i, i + IN_CHUNK));
    return reader.reports(now);
  }

  async expire(now: number): Promise<number> {
    let removed = 0;
    this.db
      .transaction(() => {
        for (const { sql, args } of expireStatements(now))
          removed += this.statement(sql).run(...args).changes;
      })
      .immediate();
    return removed;
  }
}

type HostFactsRow = Parameters<StatusFactsReader['host']>[0];
type StatusWarningRow = Parameters<StatusFactsReader['warning']>[0];

/** `list` in pieces small enough for one IN (...) each. */
function inChunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let at = 0; at < list.length; at += IN_CHUNK) out.push(list.slice(at, at + IN_CHUNK));
  return out;
}
