/**
 * A throwaway MariaDB/MySQL database per test file (or test), so that test files running in
 * parallel never see each other's rows. MariaDB must be running: when it is not, the tests fail
 * with its address in the message (they never skip).
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';

/** `host:port` of the test server; root without a password unless KURADO_TEST_MYSQL_URL says otherwise. */
export const TEST_MYSQL_URL = process.env.KURADO_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

export interface ThrowawayDatabase {
  name: string;
  /** Store URL of the database: `mysql://root@127.0.0.1:3306/kurado_test_…`. */
  url: string;
  drop(): Promise<void>;
}

function serverOptions() {
  const url = new URL(TEST_MYSQL_URL);
  return {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
  };
}

async function connect() {
  const options = serverOptions();
  try {
    return await createConnection({ ...options, connectTimeout: 5_000 });
  } catch (error) {
    throw new Error(
      `MariaDB at ${options.host}:${options.port} is not reachable (the MySQL store tests need it; start it or set KURADO_TEST_MYSQL_URL): ${(error as Error).message}`,
    );
  }
}

/** Create `kurado_test_<random>`; call `drop()` after the tests. */
export async function createThrowawayDatabase(prefix = 'kurado_test'): Promise<ThrowawayDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const connection = await connect();
  try {
    // Identifiers cannot be placeholders; `name` is built here from hex digits only.
    await connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await connection.end();
  }
  const base = TEST_MYSQL_URL.replace(/\/+$/, '');
  return {
    name,
    url: `${base}/${name}`,
    drop: async () => {
      const c = await connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}
