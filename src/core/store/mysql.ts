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
import {
  boundedRows,
  chunks,
  expireIfDue,
  expireStatements,
  HOST_COLUMNS,
  type HostRow,
  hostValues,
  type MetaDbRow,
  metaArgs,
  READ_SQL,
  type ReceivedDbRow,
  receivedRows,
  rowToHost,
  StatusFactsReader,
  StoreError,
  type StoreOptions,
  type StoreState,
  sortHostRows,
  statusesOf,
  statusSql,
  storeState,
  toLastReceived,
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
  META_TTL_SECONDS,
  type MetaEntry,
  type MetaStore,
  type StoreBatch,
  type WarningEntry,
} from './types.js';

/** One SQL statement with its placeholder values. */
interface Statement {
  sql: string;
  values: unknown[];
}

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

  private transaction<T>(doing: string, work: (c: PoolConnection) => Promise<T>): Promise<T> {
    return this.retrying(doing, () =>
      this.withConnectionRaw(async (c) => {
        await c.beginTransaction();
        try {
          const result = await work(c);
          await c.commit();
          return result;
        } catch (error) {
          await c.rollback().catch(() => {});
          throw error;
        }
      }),
    );
  }

  /**
   * Apply `statements` all or none. A single statement is atomic by itself and runs without
   * BEGIN and COMMIT: one round trip instead of three, which is most of a small batch's time.
   */
  private async writeAll(doing: string, statements: readonly Statement[]): Promise<void> {
    const only = statements.length === 1 ? statements[0] : undefined;
    if (only) {
      await this.retrying(doing, () => this.pool.query(only.sql, only.values));
      return;
    }
    await this.transaction(doing, async (c) => {
      for (const { sql, values } of statements) await c.query(sql, values);
    });
  }

  /** Run `attempt` again after a deadlock or lock-wait timeout (concurrent receivers), a few times. */
  private async retrying<T>(doing: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        const errno = (error as MysqlError).errno;
        if (errno !== undefined && RETRYABLE_ERRNOS.has(errno) && tries < TRANSACTION_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 20 * tries));
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
        for (const table of ['meta', 'warnings', 'last_received']) {
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
    const { meta, warnings } = boundedRows(
      batch,
      this.state.metaCache,
      this.state.warningBudget,
      this.state.limits,
    );
    const received = receivedRows(batch.received, batch.receivedAt);
    if (meta.length === 0 && warnings.length === 0 && received.length === 0) return;
    const statements: Statement[] = [];
    for (const chunk of chunks(meta, ROWS_PER_STATEMENT)) {
      statements.push({
        // Assignments run left to right: reported_at is decided before value is overwritten.
        // CAST AS BINARY: utf8mb4_bin pads, so 'x' = 'x ' would count as unchanged.
        sql: `INSERT INTO meta (host, plugin, name, value, reported_at, expires_at) VALUES ?
           ON DUPLICATE KEY UPDATE
             reported_at = IF(CAST(value AS BINARY) = CAST(VALUES(value) AS BINARY)
                              AND expires_at > VALUES(expires_at) - ${META_TTL_SECONDS},
                              reported_at, VALUES(reported_at)),
             value = VALUES(value),
             expires_at = GREATEST(expires_at, VALUES(expires_at))`,
        values: [chunk.map((r) => [r.host, r.plugin, r.name, r.value, r.reportedAt, r.expiresAt])],
      });
    }
    for (const chunk of chunks(warnings, ROWS_PER_STATEMENT)) {
      statements.push({
        // Not INSERT IGNORE: that would also turn real errors (data too long) into warnings.
        sql: `INSERT INTO warnings (host, plugin, name, message, reported_at, received_at) VALUES ?
           ON DUPLICATE KEY UPDATE id = id`,
        values: [chunk.map((w) => [w.host, w.plugin, w.name, w.message, w.reportedAt, w.receivedAt])],
      });
    }
    for (const chunk of chunks(received, ROWS_PER_STATEMENT)) {
      statements.push({
        sql: `INSERT INTO last_received (host, plugin, received_at) VALUES ?
           ON DUPLICATE KEY UPDATE received_at = GREATEST(received_at, VALUES(received_at))`,
        values: [chunk.map((r) => [r.host, r.plugin, r.receivedAt])],
      });
    }
    await this.writeAll('writing a batch', statements);
    this.state.metaCache.remember(meta);
    await expireIfDue(this.state.expiry, batch.receivedAt, (now) => this.expire(now));
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
