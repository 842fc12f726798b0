/**
 * The production store: MySQL or MariaDB through a mysql2 pool, shared by every Kurado process
 * on every machine. Values only ever travel as placeholders. Multi-row statements go through
 * `query()` (client-side escaping): `execute()` would prepare and cache one server-side statement
 * per distinct row count on every pooled connection, until the server's max_prepared_stmt_count
 * (16382 by default) is reached and every prepare fails with ER 1461.
 */
import {
  createPool,
  type Pool,
  type PoolConnection,
  type PoolOptions,
  type ResultSetHeader,
  type RowDataPacket,
} from 'mysql2/promise';
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
import { migrateMysql, mysqlSchemaVersion } from './migrations.js';
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

/** Rows per multi-row statement: a few hundred KiB at most, far below max_allowed_packet. */
const ROWS_PER_STATEMENT = 500;
/** Deadlocks and lock-wait timeouts between concurrent receivers are retried this often. */
const TRANSACTION_ATTEMPTS = 4;
const RETRYABLE_ERRNOS = new Set([1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */]);
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
]);

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Pool size (URL parameter `connectionLimit`). */
  connectionLimit: number;
}

interface MysqlError extends Error {
  code?: string;
  errno?: number;
}

export class MysqlStore implements MetaStore {
  private readonly pool: Pool;
  private readonly state: StoreState;
  private readonly where: string;

  private constructor(
    private readonly target: MysqlTarget,
    storeOptions: StoreOptions,
  ) {
    this.state = storeState(storeOptions);
    this.where = `MySQL at ${target.host}:${target.port}`;
    const options: PoolOptions = {
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
      connectionLimit: target.connectionLimit,
      waitForConnections: true,
      enableKeepAlive: true,
      // Binary collation on the connection too: parameters compare exactly, as in SQLite.
      charset: 'UTF8MB4_BIN',
      connectTimeout: 10_000,
    };
    this.pool = createPool(options);
    // An idle pooled connection the server dropped must not crash the process.
    this.pool.on('connection', (connection) => connection.on('error', () => {}));
  }

  /** Open a pool and check the server answers; fails with the address (never the password). */
  static async open(target: MysqlTarget, options: StoreOptions = {}): Promise<MysqlStore> {
    const store = new MysqlStore(target, options);
    try {
      await store.pool.query('SELECT 1');
    } catch (error) {
      await store.pool.end().catch(() => {});
      throw store.describe(error, 'connecting');
    }
    return store;
  }

  private describe(error: unknown, doing: string): StoreError {
    if (error instanceof StoreError) return error;
    const e = error as MysqlError;
    const detail = (e.message || e.code || String(error)).replaceAll(this.target.password || '\u0000', '***');
    if (e.code && CONNECTION_ERROR_CODES.has(e.code))
      return new StoreError(`${this.where} unreachable: ${detail}`);
    if (e.code === 'ER_BAD_DB_ERROR') {
      return new StoreError(
        `${this.where}: database "${this.target.database}" does not exist; create it (CREATE DATABASE \`${this.target.database}\` CHARACTER SET utf8mb4) and run \`kurado db migrate\``,
      );
    }
    if (e.code === 'ER_NO_SUCH_TABLE') {
      return new StoreError(`${this.where}/${this.target.database}: ${detail}; run \`kurado db migrate\``);
    }
    return new StoreError(`${this.where}/${this.target.database}: ${doing}: ${detail}`);
  }

  private async withConnection<T>(doing: string, work: (c: PoolConnection) => Promise<T>): Promise<T> {
    let connection: PoolConnection;
    try {
      connection = await this.pool.getConnection();
    } catch (error) {
      throw this.describe(error, doing);
    }
    try {
      return await work(connection);
    } catch (error) {
      throw this.describe(error, doing);
    } finally {
      connection.release();
    }
  }

  private async transaction<T>(doing: string, work: (c: PoolConnection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withConnectionRaw(async (c) => {
          await c.beginTransaction();
          try {
            const result = await work(c);
            await c.commit();
            return result;
          } catch (error) {
            await c.rollback().catch(() => {});
            throw error;
          }
        });
      } catch (error) {
        const errno = (error as MysqlError).errno;
        if (errno !== undefined && RETRYABLE_ERRNOS.has(errno) && attempt < TRANSACTION_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
          continue;
        }
        throw this.describe(error, doing);
      }
    }
  }

  /** Like withConnection without turning errors into StoreError (transaction retries need errno). */
  private async withConnectionRaw<T>(work: (c: PoolConnection) => Promise<T>): Promise<T> {
    const connection = await this.pool.getConnection();
    try {
      return await work(connection);
    } finally {
      connection.release();
    }
  }

  private async select<T>(sql: string, values: unknown[], doing: string): Promise<T[]> {
    return this.withConnection(doing, async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(sql, values);
      return rows as T[];
    });
  }

  async migrate(): Promise<void> {
    await this.withConnection('migrating', (c) => migrateMysql(c, this.target.database, this.where));
  }

  async schemaVersion(): Promise<number> {
    return this.withConnection('reading the schema version', (c) => mysqlSchemaVersion(c));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async upsertHosts(hosts: HostRecord[]): Promise<void> {
    if (hosts.length === 0) return;
    const now = Math.floor(Date.now() / 1000);
    const updates = HOST_COLUMNS.filter((c) => c !== 'address')
      .map((c) => `${c} = VALUES(${c})`)
      .join(', ');
    const rows = hosts.map((host, index) => [...hostValues(host, 'import', index, now), now]);
    await this.transaction('importing hosts', async (c) => {
      for (const chunk of chunks(rows, ROWS_PER_STATEMENT)) {
        await c.query(
          `INSERT INTO hosts (${HOST_COLUMNS.join(', ')}, created_at) VALUES ? ON DUPLICATE KEY UPDATE ${updates}`,
          [chunk],
        );
      }
    });
    this.state.known.add(hosts.map((h) => h.address));
  }

  async registerUnknownHosts(addresses: string[]): Promise<string[]> {
    if (this.state.known.isStale()) {
      const rows = await this.select<{ address: string }>(
        'SELECT address FROM hosts',
        [],
        'loading known hosts',
      );
      this.state.known.load(rows.map((r) => r.address));
    }
    const unknown = this.state.known.unknown(addresses);
    if (unknown.length === 0) return [];
    const now = Math.floor(Date.now() / 1000);
    const added = await this.transaction('registering hosts', async (c) => {
      const [present] = await c.query<RowDataPacket[]>('SELECT address FROM hosts WHERE address IN (?)', [
        unknown,
      ]);
      const presentSet = new Set(present.map((r) => String(r.address)));
      const fresh = unknown.filter((a) => !presentSet.has(a)).sort();
      for (const chunk of chunks(fresh, ROWS_PER_STATEMENT)) {
        // A concurrent receiver may insert the same address: the duplicate becomes a no-op.
        await c.query(
          `INSERT INTO hosts (${HOST_COLUMNS.join(', ')}, created_at) VALUES ? ON DUPLICATE KEY UPDATE address = address`,
          [chunk.map((address) => [...hostValues(unregisteredHost(address), 'auto', 0, now), now])],
        );
      }
      return fresh;
    });
    this.state.known.add(unknown);
    return added;
  }

  async assignStorage(hosts: string[], placement: StoragePlacement): Promise<StorageAssignment> {
    const result: StorageAssignment = { nodes: new Map(), placed: [], badPins: [] };
    const unique = [...new Set(hosts)];
    const lookup = async (list: string[]) => {
      for (const chunk of chunks(list, ROWS_PER_STATEMENT)) {
        const rows = await this.select<{ host: string; node: string }>(
          'SELECT host, node FROM host_storage WHERE host IN (?)',
          [chunk],
          'reading storage assignments',
        );
        for (const row of rows) result.nodes.set(String(row.host), String(row.node));
      }
    };
    await lookup(unique);
    const missing = unique.filter((host) => !result.nodes.has(host));
    if (missing.length === 0) return result;
    const now = Math.floor(Date.now() / 1000);
    const chosen = await this.transaction('placing hosts on storage nodes', async (c) => {
      const [counted] = await c.query<RowDataPacket[]>(
        'SELECT node, COUNT(*) AS hosts FROM host_storage GROUP BY node',
      );
      const counts = new Map(counted.map((row) => [String(row.node), Number(row.hosts)]));
      const { placed, badPins } = chooseNodes(missing, placement.nodes, counts, (host) =>
        placement.pinOf(host),
      );
      result.badPins = badPins;
      for (const chunk of chunks(
        [...placed].sort(([a], [b]) => (a < b ? -1 : 1)),
        ROWS_PER_STATEMENT,
      )) {
        // INSERT IGNORE: a host another receiver placed meanwhile keeps its node (read below).
        await c.query('INSERT IGNORE INTO host_storage (host, node, assigned_at) VALUES ?', [
          chunk.map(([host, node]) => [host, node, now]),
        ]);
      }
      return placed;
    });
    // Read after the commit: inside the transaction a consistent read would not show a row
    // another receiver committed first.
    await lookup(missing);
    result.placed = [...chosen]
      .filter(([host, node]) => result.nodes.get(host) === node)
      .map(([host]) => host);
    return result;
  }

  async storageAssignments(): Promise<Map<string, string>> {
    const rows = await this.select<{ host: string; node: string }>(
      'SELECT host, node FROM host_storage',
      [],
      'reading storage assignments',
    );
    return new Map(rows.map((row) => [String(row.host), String(row.node)]));
  }

  async storageCounts(): Promise<Map<string, number>> {
    const rows = await this.select<{ node: string; hosts: number }>(
      'SELECT node, COUNT(*) AS hosts FROM host_storage GROUP BY node',
      [],
      'counting hosts per storage node',
    );
    return new Map(rows.map((row) => [String(row.node), Number(row.hosts)]));
  }

  async listHosts(): Promise<HostRecord[]> {
    const rows = await this.select<HostRow>('SELECT * FROM hosts', [], 'listing hosts');
    return sortHostRows(rows).map(rowToHost);
  }

  async findHost(addressOrHostname: string): Promise<HostRecord | undefined> {
    const rows = await this.select<HostRow>(
      // Imported hosts win: an auto-registered host named like a listed host's hostname never
      // shadows it. Then an address match before a hostname match.
      `SELECT * FROM hosts WHERE address = ? OR hostname = ?
       ORDER BY origin = 'import' DESC, address = ? DESC, address LIMIT 1`,
      [addressOrHostname, addressOrHostname, addressOrHostname],
      'finding a host',
    );
    return rows[0] ? rowToHost(rows[0]) : undefined;
  }

  async removeHosts(addresses: string[]): Promise<void> {
    if (addresses.length === 0) return;
    await this.transaction('removing hosts', async (c) => {
      for (const chunk of chunks([...addresses].sort(), ROWS_PER_STATEMENT)) {
        await c.query('DELETE FROM hosts WHERE address IN (?)', [chunk]);
        for (const table of ['meta', 'warnings', 'last_received', 'latest_values']) {
          await c.query(`DELETE FROM ${table} WHERE host IN (?)`, [chunk]);
        }
      }
    });
    this.state.known.delete(addresses);
    this.state.metaCache.forgetHosts(addresses);
  }

  async autoHostsLastSeen(): Promise<Map<string, number>> {
    const rows = await this.select<{ address: string; seen: number }>(
      `SELECT h.address AS address, COALESCE(MAX(l.received_at), h.created_at) AS seen
         FROM hosts h LEFT JOIN last_received l ON l.host = h.address
         WHERE h.origin = 'auto' GROUP BY h.address, h.created_at`,
      [],
      'reading when hosts were last seen',
    );
    return new Map(rows.map((r) => [String(r.address), Number(r.seen)]));
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
    const meta = await this.transaction('writing a batch', async (c) => {
      const { meta, warnings } = boundedRows(
        batch,
        this.state.metaCache,
        questions,
        await this.boundsFacts(c, questions, batch.receivedAt),
        this.state.limits,
      );
      for (const chunk of chunks(meta, ROWS_PER_STATEMENT)) {
        // Assignments run left to right: reported_at is decided before value is overwritten.
        // CAST AS BINARY: utf8mb4_bin pads, so 'x' = 'x ' would count as unchanged.
        await c.query(
          `INSERT INTO meta (host, plugin, name, value, reported_at, expires_at) VALUES ?
           ON DUPLICATE KEY UPDATE
             reported_at = IF(CAST(value AS BINARY) = CAST(VALUES(value) AS BINARY)
                              AND expires_at > VALUES(expires_at) - ${META_TTL_SECONDS},
                              reported_at, VALUES(reported_at)),
             value = VALUES(value),
             expires_at = GREATEST(expires_at, VALUES(expires_at))`,
          [chunk.map((r) => [r.host, r.plugin, r.name, r.value, r.reportedAt, r.expiresAt])],
        );
      }
      for (const chunk of chunks(warnings, ROWS_PER_STATEMENT)) {
        // Not INSERT IGNORE: that would also turn real errors (data too long) into warnings.
        await c.query(
          `INSERT INTO warnings (host, plugin, name, message, reported_at, received_at) VALUES ?
           ON DUPLICATE KEY UPDATE id = id`,
          [chunk.map((w) => [w.host, w.plugin, w.name, w.message, w.reportedAt, w.receivedAt])],
        );
      }
      for (const chunk of chunks(received, ROWS_PER_STATEMENT)) {
        await c.query(
          `INSERT INTO last_received (host, plugin, received_at) VALUES ?
           ON DUPLICATE KEY UPDATE received_at = GREATEST(received_at, VALUES(received_at))`,
          [chunk.map((r) => [r.host, r.plugin, r.receivedAt])],
        );
      }
      for (const chunk of chunks(latest, ROWS_PER_STATEMENT)) {
        // Assignments run left to right: previous takes latest and at before they are overwritten.
        await c.query(
          `INSERT INTO latest_values (host, plugin, at, latest) VALUES ?
           ON DUPLICATE KEY UPDATE
             previous = IF(VALUES(at) > at, latest, previous),
             previous_at = IF(VALUES(at) > at, at, previous_at),
             latest = IF(VALUES(at) >= at, VALUES(latest), latest),
             at = GREATEST(at, VALUES(at))`,
          [chunk],
        );
      }
      return meta;
    });
    this.state.metaCache.remember(meta);
    await expireIfDue(this.state.expiry, batch.receivedAt, (now) => this.expire(now));
  }

  /**
   * The reads of the per-host bounds, first in the write transaction. The hosts' rows are locked
   * first (in order), so another receiver deciding for the same host waits for this commit, and
   * the reads after the lock (the transaction's first consistent reads) see what it committed.
   */
  private async boundsFacts(
    c: PoolConnection,
    questions: BoundsQuestions,
    now: number,
  ): Promise<BoundsFacts> {
    const facts: BoundsFacts = { liveMeta: [], warningCounts: new Map() };
    for (const hosts of chunks(questions.hosts, ROWS_PER_STATEMENT)) {
      await c.query('SELECT address FROM hosts WHERE address IN (?) ORDER BY address FOR UPDATE', [hosts]);
    }
    for (const hosts of chunks(questions.metaHosts, ROWS_PER_STATEMENT)) {
      const [rows] = await c.query<RowDataPacket[]>(STORE_BOUNDS_SQL.liveMeta('(?)'), [now, hosts]);
      facts.liveMeta.push(...(rows as LiveMetaRow[]));
    }
    for (const hosts of chunks(questions.warningHosts, ROWS_PER_STATEMENT)) {
      const [rows] = await c.query<RowDataPacket[]>(STORE_BOUNDS_SQL.warningCounts('(?)'), [
        warningsSince(now),
        hosts,
      ]);
      for (const row of rows) facts.warningCounts.set(String(row.host), Number(row.shown));
    }
    return facts;
  }

  async meta(host: string, now: number, plugin?: string): Promise<MetaEntry[]> {
    const sql = plugin === undefined ? READ_SQL.meta : READ_SQL.metaOfPlugin;
    return (await this.select<MetaDbRow>(sql, metaArgs(host, now, plugin), 'reading meta')).map(toMetaEntry);
  }

  async warnings(host: string, now: number): Promise<WarningEntry[]> {
    const rows = await this.select<WarningDbRow>(
      READ_SQL.warnings,
      [host, warningsSince(now)],
      'reading warnings',
    );
    return rows.map(toWarningEntry);
  }

  async lastReceived(host: string): Promise<LastReceived[]> {
    const rows = await this.select<ReceivedDbRow>(READ_SQL.lastReceived, [host], 'reading last-received');
    return rows.map(toLastReceived);
  }

  async latestValues(pluginNames?: string[]): Promise<LatestValuesRow[]> {
    const { sql, args } = latestValuesQuery(pluginNames);
    return (await this.select<LatestDbRow>(sql, args, 'reading latest values')).map(toLatestValuesRow);
  }

  async lastReceivedOfPlugin(plugin: string): Promise<Map<string, number>> {
    const rows = await this.select<ReceivedDbRow>(
      READ_SQL.lastReceivedOfPlugin,
      [plugin],
      'reading last-received',
    );
    return new Map(rows.map((r) => [String(r.host), Number(r.received_at)]));
  }

  async statuses(now: number, addresses?: string[]): Promise<Map<string, HostStatus>> {
    return statusesOf(await this.statusReports(now, addresses));
  }

  async statusReports(now: number, addresses?: string[]): Promise<Map<string, HostStatusReport>> {
    const reader = new StatusFactsReader();
    await this.withConnection('reading host status', async (c) => {
      const subsets = addresses === undefined ? [undefined] : chunks(addresses, ROWS_PER_STATEMENT);
      for (const subset of subsets) {
        if (subset?.length === 0) continue;
        const sql = statusSql((column) => (subset ? ` AND ${column} IN (?)` : ''));
        const args = subset ? [subset] : [];
        const [hosts] = await c.query<RowDataPacket[]>(sql.hosts, args);
        for (const row of hosts) reader.host(row as HostFactsRow);
        const [received] = await c.query<RowDataPacket[]>(sql.received, args);
        for (const row of received) reader.received(row as ReceivedDbRow);
        const [warnings] = await c.query<RowDataPacket[]>(sql.warnings, [warningsSince(now), ...args]);
        for (const row of warnings) reader.warning(row as StatusWarningRow);
      }
    });
    return reader.reports(now);
  }

  async expire(now: number): Promise<number> {
    return this.transaction('expiring meta and warnings', async (c) => {
      let removed = 0;
      for (const { sql, args } of expireStatements(now)) {
        const [result] = await c.query<ResultSetHeader>(sql, args);
        removed += result.affectedRows;
      }
      return removed;
    });
  }
}

type HostFactsRow = Parameters<StatusFactsReader['host']>[0];
type StatusWarningRow = Parameters<StatusFactsReader['warning']>[0];
