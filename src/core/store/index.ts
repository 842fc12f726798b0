/**
 * `openStore(url)`: the MetaStore a store URL names.
 * - `mysql://user:pass@host:port/database[?connectionLimit=N]` (also `mariadb://`): MySQL/MariaDB.
 * - `sqlite:/path/kurado.db` (also `sqlite:relative/path`, `sqlite:///abs/path`, `sqlite::memory:`):
 *   an embedded SQLite file; its directory is created.
 */
import { redactUrl } from '../config.js';
import { StoreError, type StoreOptions } from './common.js';
import { LATEST_SCHEMA_VERSION } from './migrations.js';
import { MysqlStore, type MysqlTarget } from './mysql.js';
import { SqliteStore } from './sqlite.js';
import type { MetaStore } from './types.js';

export { AUTO_EXPIRE_EVERY_SECONDS, META_REFRESH_SECONDS, StoreError, type StoreOptions } from './common.js';
export { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
export { MysqlStore } from './mysql.js';
export { SqliteStore } from './sqlite.js';
export { BASE_PLUGIN, type BaseState, baseState, evaluateStatus, formatAge } from './status.js';
export * from './types.js';

export const DEFAULT_MYSQL_PORT = 3306;
export const DEFAULT_MYSQL_POOL_SIZE = 10;

/**
 * What to do about the schema when opening:
 * - `migrate`: apply missing migrations (the default for SQLite: one machine, nothing to coordinate);
 * - `check`: fail with "run `kurado db migrate`" when the schema is older than this Kurado;
 * - `none`: nothing (the default for MySQL, where `kurado db migrate` or `store.migrate()` is explicit).
 */
export type SchemaAction = 'migrate' | 'check' | 'none';

export interface OpenStoreOptions extends StoreOptions {
  schema?: SchemaAction;
}

export type StoreLocation = { kind: 'mysql'; target: MysqlTarget } | { kind: 'sqlite'; file: string };

/** Parse a store URL; errors show the URL with its password replaced by `***`. */
export function parseStoreUrl(url: string): StoreLocation {
  const shown = redactUrl(url);
  const usage = 'use mysql://user:pass@host:port/database or sqlite:/path/kurado.db';
  if (url.startsWith('sqlite:')) {
    let file = url.slice('sqlite:'.length);
    if (file.startsWith('//')) {
      // sqlite:///abs/path is the URL form of /abs/path; sqlite://x/y would name a host.
      if (!file.startsWith('///'))
        throw new StoreError(`store URL "${shown}": write sqlite:/abs/path or sqlite:///abs/path`);
      file = file.slice(2);
    }
    if (file === '') throw new StoreError(`store URL "${shown}" names no file; ${usage}`);
    return { kind: 'sqlite', file };
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new StoreError(`store URL "${shown}" is not a valid URL; ${usage}`);
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    if (!parsed.hostname) throw new StoreError(`store URL "${shown}" names no host; ${usage}`);
    if (!database || database.includes('/')) {
      throw new StoreError(
        `store URL "${shown}" must name one database after the host (…:3306/kurado); ${usage}`,
      );
    }
    const portText = parsed.port || String(DEFAULT_MYSQL_PORT);
    const limitText = parsed.searchParams.get('connectionLimit') ?? String(DEFAULT_MYSQL_POOL_SIZE);
    const connectionLimit = Number(limitText);
    if (!Number.isInteger(connectionLimit) || connectionLimit < 1) {
      throw new StoreError(
        `store URL "${shown}": connectionLimit must be a positive integer, not "${limitText}"`,
      );
    }
    for (const key of parsed.searchParams.keys()) {
      if (key !== 'connectionLimit')
        throw new StoreError(`store URL "${shown}": unknown parameter "${key}" (known: connectionLimit)`);
    }
    return {
      kind: 'mysql',
      target: {
        // URL keeps IPv6 literals bracketed; mysql2 wants them bare.
        host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(portText),
        user: decodeURIComponent(parsed.username) || 'root',
        password: decodeURIComponent(parsed.password),
        database,
        connectionLimit,
      },
    };
  }
  throw new StoreError(`unsupported store URL "${shown}"; ${usage}`);
}

/** Open the store `url` names; see SchemaAction for what happens to the schema. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<MetaStore> {
  const location = parseStoreUrl(url);
  const store: MetaStore =
    location.kind === 'sqlite'
      ? new SqliteStore(location.file, options)
      : await MysqlStore.open(location.target, options);
  const action = options.schema ?? (location.kind === 'sqlite' ? 'migrate' : 'none');
  try {
    if (action === 'migrate') await store.migrate();
    if (action === 'check') {
      const version = await store.schemaVersion();
      if (version < LATEST_SCHEMA_VERSION) {
        throw new StoreError(
          `store ${redactUrl(url)} has schema version ${version}, this Kurado needs ${LATEST_SCHEMA_VERSION}: run \`kurado db migrate\``,
        );
      }
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
