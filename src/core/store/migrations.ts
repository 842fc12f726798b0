/**
 * Versioned schema migrations, one list for both dialects. Applied versions are recorded in
 * `schema_migrations`; running them again does nothing. Two processes migrating at once are
 * serialised: SQLite by `BEGIN IMMEDIATE` (the write lock, waited for through busy_timeout),
 * MySQL by `GET_LOCK` on the database's name (MySQL DDL commits implicitly, so a transaction
 * cannot protect it).
 */
import type Database from 'better-sqlite3';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { StoreError } from './common.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: readonly string[];
  mysql: readonly string[];
}

// Key columns are sized for the protocol's limits (host 253, plugin and name 120 characters) and
// stay under InnoDB's 3072-byte index limit in utf8mb4. utf8mb4_bin: keys compare exactly, as
// in SQLite ("Web01" and "web01" are different metric names).
const MYSQL_TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'hosts, meta, warnings, last_received',
    sqlite: [
      `CREATE TABLE hosts (
        address TEXT PRIMARY KEY NOT NULL,
        hostname TEXT NOT NULL,
        comments TEXT NOT NULL,
        service TEXT NOT NULL,
        label TEXT NOT NULL,
        role TEXT NOT NULL,
        plugins TEXT NOT NULL,
        settings TEXT NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('import', 'auto')),
        position INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      )`,
      'CREATE INDEX hosts_hostname ON hosts (hostname)',
      `CREATE TABLE meta (
        host TEXT NOT NULL,
        plugin TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        reported_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (host, plugin, name)
      ) WITHOUT ROWID`,
      'CREATE INDEX meta_expires_at ON meta (expires_at)',
      `CREATE TABLE warnings (
        id INTEGER PRIMARY KEY,
        host TEXT NOT NULL,
        plugin TEXT NOT NULL,
        name TEXT NOT NULL,
        message TEXT NOT NULL,
        reported_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        UNIQUE (host, plugin, name, reported_at)
      )`,
      'CREATE INDEX warnings_host_received_at ON warnings (host, received_at)',
      'CREATE INDEX warnings_received_at ON warnings (received_at)',
      `CREATE TABLE last_received (
        host TEXT NOT NULL,
        plugin TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (host, plugin)
      ) WITHOUT ROWID`,
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS hosts (
        address VARCHAR(255) NOT NULL PRIMARY KEY,
        hostname VARCHAR(255) NOT NULL,
        comments TEXT NOT NULL,
        service VARCHAR(255) NOT NULL,
        label VARCHAR(255) NOT NULL,
        role VARCHAR(255) NOT NULL,
        plugins TEXT NOT NULL,
        settings TEXT NOT NULL,
        origin ENUM('import', 'auto') NOT NULL,
        position INT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        KEY hosts_hostname (hostname)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS meta (
        host VARCHAR(255) NOT NULL,
        plugin VARCHAR(191) NOT NULL,
        name VARCHAR(191) NOT NULL,
        value TEXT NOT NULL,
        reported_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (host, plugin, name),
        KEY meta_expires_at (expires_at)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS warnings (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        host VARCHAR(255) NOT NULL,
        plugin VARCHAR(191) NOT NULL,
        name VARCHAR(191) NOT NULL,
        message TEXT NOT NULL,
        reported_at BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        UNIQUE KEY warnings_unique (host, plugin, name, reported_at),
        KEY warnings_host_received_at (host, received_at),
        KEY warnings_received_at (received_at)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS last_received (
        host VARCHAR(255) NOT NULL,
        plugin VARCHAR(191) NOT NULL,
        received_at BIGINT NOT NULL,
        PRIMARY KEY (host, plugin)
      ) ${MYSQL_TABLE}`,
    ],
  },
  {
    version: 2,
    name: 'hosts.options (max_files, relay from the server list)',
    sqlite: ["ALTER TABLE hosts ADD COLUMN options TEXT NOT NULL DEFAULT '{}'"],
    mysql: ["ALTER TABLE hosts ADD COLUMN options VARCHAR(1000) NOT NULL DEFAULT '{}'"],
  },
  {
    version: 3,
    name: 'host_storage (the storage node each host lives on)',
    // Its own table, not a hosts column: an assignment outlives `hosts remove` (the files stay on
    // the node) and is written before the host row, when its first values are routed.
    sqlite: [
      `CREATE TABLE host_storage (
        host TEXT PRIMARY KEY NOT NULL,
        node TEXT NOT NULL,
        assigned_at INTEGER NOT NULL
      ) WITHOUT ROWID`,
      'CREATE INDEX host_storage_node ON host_storage (node)',
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS host_storage (
        host VARCHAR(255) NOT NULL PRIMARY KEY,
        node VARCHAR(64) NOT NULL,
        assigned_at BIGINT NOT NULL,
        KEY host_storage_node (node)
      ) ${MYSQL_TABLE}`,
    ],
  },
  {
    version: 4,
    name: 'latest_values (newest metric values per host+plugin, for rankings and aggregates)',
    sqlite: [
      `CREATE TABLE latest_values (
        host TEXT NOT NULL,
        plugin TEXT NOT NULL,
        at INTEGER NOT NULL,
        latest TEXT NOT NULL,
        previous_at INTEGER,
        previous TEXT,
        PRIMARY KEY (host, plugin)
      ) WITHOUT ROWID`,
      'CREATE INDEX latest_values_plugin ON latest_values (plugin)',
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS latest_values (
        host VARCHAR(255) NOT NULL,
        plugin VARCHAR(191) NOT NULL,
        at BIGINT NOT NULL,
        latest MEDIUMTEXT NOT NULL,
        previous_at BIGINT NULL,
        previous MEDIUMTEXT NULL,
        PRIMARY KEY (host, plugin),
        KEY latest_values_plugin (plugin)
      ) ${MYSQL_TABLE}`,
    ],
  },
];

export const LATEST_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

const SQLITE_VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

const MYSQL_VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  applied_at BIGINT NOT NULL
) ${MYSQL_TABLE}`;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Apply the missing migrations to a SQLite database; returns the versions applied. */
export function migrateSqlite(db: Database.Database, where: string): number[] {
  const applied: number[] = [];
  const run = db.transaction(() => {
    db.exec(SQLITE_VERSIONS_TABLE);
    const done = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
        (r) => r.version,
      ),
    );
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.sqlite) {
        try {
          db.exec(statement);
        } catch (error) {
          throw new StoreError(
            `${where}: migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          );
        }
      }
      record.run(migration.version, migration.name, nowSeconds());
      applied.push(migration.version);
    }
  });
  // IMMEDIATE takes the write lock before reading schema_migrations, so a second process waits
  // (busy_timeout) and then sees the versions the first one recorded.
  run.immediate();
  return applied;
}

export function sqliteSchemaVersion(db: Database.Database): number {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

/** Apply the missing migrations to a MySQL database; returns the versions applied. */
export async function migrateMysql(
  connection: PoolConnection,
  database: string,
  where: string,
): Promise<number[]> {
  // GET_LOCK names are server-wide (max 64 characters): one lock per database.
  const lockName = `kurado-migrate:${database}`.slice(0, 64);
  const [lockRows] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, 120) AS locked', [lockName]);
  if (lockRows[0]?.locked !== 1) {
    throw new StoreError(`${where}: another process held the migration lock "${lockName}" for 120 s`);
  }
  const applied: number[] = [];
  try {
    await connection.query(MYSQL_VERSIONS_TABLE);
    const [rows] = await connection.query<RowDataPacket[]>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => Number(r.version)));
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.mysql) {
        try {
          await connection.query(statement);
        } catch (error) {
          throw new StoreError(
            `${where}: migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          );
        }
      }
      await connection.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.name,
        nowSeconds(),
      ]);
      applied.push(migration.version);
    }
  } finally {
    await connection.query('SELECT RELEASE_LOCK(?)', [lockName]);
  }
  return applied;
}

export async function mysqlSchemaVersion(connection: PoolConnection): Promise<number> {
  const [tables] = await connection.query<RowDataPacket[]>(
    "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'",
  );
  if (tables.length === 0) return 0;
  const [rows] = await connection.query<RowDataPacket[]>(
    'SELECT MAX(version) AS version FROM schema_migrations',
  );
  return Number(rows[0]?.version ?? 0);
}
