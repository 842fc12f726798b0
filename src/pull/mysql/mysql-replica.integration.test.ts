import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linesToMap, pullTarget, runFetch } from '../../../test/helpers/pull.js';
import { type RunningServer, startMariadb, startTogether } from '../../../test/helpers/servers.js';
import { mysqlFetcher } from './mysql.js';

const connect = (server: RunningServer) =>
  createConnection({ host: '127.0.0.1', port: server.port, user: 'root', password: '' });

async function replicaRow(replica: Connection): Promise<RowDataPacket | undefined> {
  const [rows] = await replica.query<RowDataPacket[]>('SHOW SLAVE STATUS');
  return rows[0];
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('mysql fetcher on a replica (two private MariaDB servers replicating)', () => {
  let primary: RunningServer;
  let replica: RunningServer;
  let toPrimary: Connection;
  let toReplica: Connection;

  beforeAll(async () => {
    [primary, replica] = (await startTogether(
      () => startMariadb({ serverId: 1, logBin: true }),
      () => startMariadb({ serverId: 2 }),
    )) as [RunningServer, RunningServer];
    toPrimary = await connect(primary);
    toReplica = await connect(replica);
    await toPrimary.query("CREATE USER repl@'%' IDENTIFIED BY 'repl-pass'");
    await toPrimary.query("CREATE USER repl@'localhost' IDENTIFIED BY 'repl-pass'");
    await toPrimary.query("GRANT REPLICATION SLAVE ON *.* TO repl@'%', repl@'localhost'");
    const [[position]] = (await toPrimary.query('SHOW MASTER STATUS')) as unknown as [RowDataPacket[]];
    await toReplica.query(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_LOG_FILE = ?, MASTER_LOG_POS = ?, MASTER_CONNECT_RETRY = 1',
      ['127.0.0.1', primary.port, 'repl', 'repl-pass', position?.File, position?.Position],
    );
    await toReplica.query('START SLAVE');
    await waitFor(
      'the replica to connect',
      async () => (await replicaRow(toReplica))?.Slave_IO_Running === 'Yes',
    );
  }, 120_000);

  afterAll(async () => {
    await toReplica?.end().catch(() => undefined);
    await toPrimary?.end().catch(() => undefined);
    await Promise.all([replica?.stop(), primary?.stop()]);
  });

  it('reports the delay and positions, and the read position grows with what the primary writes', async () => {
    const target = pullTarget('mysql', [String(replica.port)], { user: 'root' });
    const before = linesToMap(await runFetch(mysqlFetcher, target));
    expect(before.get('meta.replication')).toBe('1');
    expect(before.get('meta.replica_io_running')).toBe('Yes');
    expect(before.get('meta.replica_sql_running')).toBe('Yes');
    expect(before.get('meta.master_host')).toBe('127.0.0.1');
    expect(before.get('meta.master_port')).toBe(String(primary.port));
    expect(before.get('metrics.replication_second_behind_master.gauge')).toBe('0');
    expect(before.has('warn.replication')).toBe(false);

    await toPrimary.query('CREATE DATABASE kurado_repl');
    await toPrimary.query('CREATE TABLE kurado_repl.t (id INT PRIMARY KEY) ENGINE=InnoDB');
    for (let i = 0; i < 5; i++) await toPrimary.query('INSERT INTO kurado_repl.t VALUES (?)', [i]);
    await waitFor('the replica to apply the inserts', async () => {
      const [rows] = await toReplica.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'kurado_repl'",
      );
      if (Number(rows[0]?.n) === 0) return false;
      const [count] = await toReplica.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM kurado_repl.t');
      return Number(count[0]?.n) === 5;
    });
    const after = linesToMap(await runFetch(mysqlFetcher, target));
    expect(Number(after.get('metrics.replication_read_master_log_pos.gauge'))).toBeGreaterThan(
      Number(before.get('metrics.replication_read_master_log_pos.gauge')),
    );
    expect(after.get('metrics.replication_exec_master_log_pos.gauge')).toBe(
      after.get('metrics.replication_read_master_log_pos.gauge'),
    );
  });

  it('a replica whose primary is gone reports an unknown delay and warns with the I/O error', async () => {
    await primary.stop();
    await waitFor(
      'the replica to notice',
      async () => (await replicaRow(toReplica))?.Slave_IO_Running !== 'Yes',
    );
    await waitFor(
      'the I/O error',
      async () => String((await replicaRow(toReplica))?.Last_IO_Error ?? '') !== '',
    );
    const out = linesToMap(await runFetch(mysqlFetcher, pullTarget('mysql', [String(replica.port)])));
    expect(out.get('meta.replication')).toBe('1');
    expect(out.get('meta.replica_io_running')).not.toBe('Yes');
    expect(out.get('metrics.replication_second_behind_master.gauge')).toBe('U');
    expect(out.get('warn.replication')).toMatch(/error (re)?connecting to master 'repl@127\.0\.0\.1:\d+'/);
  });
});
