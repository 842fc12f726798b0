import { randomBytes } from 'node:crypto';
import { type Connection, createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_MYSQL_URL } from '../../../test/helpers/mariadb.js';
import { linesToMap, pullTarget, runFetch, timed } from '../../../test/helpers/pull.js';
import { refusingPort, startBlackHole } from '../../../test/helpers/servers.js';
import { FetchError } from '../types.js';
import { mysqlFetcher } from './mysql.js';

const server = new URL(TEST_MYSQL_URL);
const host = server.hostname;
const port = server.port || '3306';
const credentials = {
  user: decodeURIComponent(server.username) || 'root',
  password: decodeURIComponent(server.password),
};

describe('mysql fetcher against the MariaDB the tests use', () => {
  const database = `kurado_pull_${randomBytes(4).toString('hex')}`;
  let connection: Connection;
  beforeAll(async () => {
    try {
      connection = await createConnection({ host, port: Number(port), ...credentials, connectTimeout: 5000 });
    } catch (error) {
      throw new Error(`MariaDB at ${host}:${port} is not reachable (start it): ${(error as Error).message}`);
    }
    await connection.query(`CREATE DATABASE ${database}`);
    await connection.query(`CREATE TABLE ${database}.t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
  });
  afterAll(async () => {
    await connection?.query(`DROP DATABASE IF EXISTS ${database}`);
    await connection?.end();
  });

  it('reads status, InnoDB and meta; statement and row counters grow with the queries made', async () => {
    const target = pullTarget('mysql', [port], credentials, host);
    const before = linesToMap(await runFetch(mysqlFetcher, target));
    expect(before.get('meta.version')).toMatch(/^\d+\.\d+\.\d+/);
    expect(before.get('meta.innodb')).toBe('1');
    expect(before.get('meta.replication')).toBe('0');
    expect(Number(before.get('metrics.threads_connected.gauge'))).toBeGreaterThanOrEqual(2);
    const total = Number(before.get('metrics.innodb_buffer_pool_pages_total.gauge'));
    const free = Number(before.get('metrics.innodb_buffer_pool_pages_free.gauge'));
    expect(total).toBeGreaterThan(0);
    expect(total % 16384).toBe(0);
    expect(free).toBeLessThanOrEqual(total);
    for (let i = 0; i < 10; i++) await connection.query(`INSERT INTO ${database}.t VALUES (?, ?)`, [i, i]);
    for (let i = 0; i < 5; i++) await connection.query(`SELECT * FROM ${database}.t WHERE id = ?`, [i]);
    const after = linesToMap(await runFetch(mysqlFetcher, target));
    const grew = (key: string) => Number(after.get(key)) - Number(before.get(key));
    expect(grew('metrics.com_insert.derive')).toBeGreaterThanOrEqual(10);
    expect(grew('metrics.com_select.derive')).toBeGreaterThanOrEqual(5);
    expect(grew('metrics.innodb_rows_inserted.derive')).toBeGreaterThanOrEqual(10);
    expect(grew('metrics.innodb_rows_read.derive')).toBeGreaterThanOrEqual(5);
    expect(grew('metrics.connections.derive')).toBeGreaterThanOrEqual(1);
  });

  it('bad credentials name the user and the server, never the password', async () => {
    const target = pullTarget(
      'mysql',
      [port],
      { user: 'kurado_no_such_user', password: 'hunter2-secret' },
      host,
    );
    const result = runFetch(mysqlFetcher, target);
    await expect(result).rejects.toThrow(
      `${host}:${port} refused the login of user "kurado_no_such_user" (settings user/password)`,
    );
    await expect(result).rejects.not.toThrow('hunter2-secret');
  });
});

describe('mysql fetcher against bad targets', () => {
  it('refused and black-hole targets fail naming the address and cost at most the timeout', async () => {
    const refused = await refusingPort();
    await expect(runFetch(mysqlFetcher, pullTarget('mysql', [String(refused)]))).rejects.toThrow(
      new FetchError(`connection refused by 127.0.0.1:${refused} (nothing listens on that port?)`),
    );
    const hole = await startBlackHole();
    try {
      const { ms, error } = await timed(
        runFetch(mysqlFetcher, pullTarget('mysql', [String(hole.port)]), 400),
      );
      expect(error).toEqual(new FetchError(`no answer from 127.0.0.1:${hole.port} within 400 ms`));
      expect(ms).toBeLessThan(3000);
    } finally {
      await hole.stop();
    }
  });
});
