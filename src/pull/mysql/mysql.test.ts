import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { linesToMap } from '../../../test/helpers/pull.js';
import { type MysqlReplies, megabytes, parseInnodbSemaphores, parseMysql } from './mysql.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8')) as MysqlReplies;

describe('parseMysql', () => {
  it('reads a recorded MariaDB 10.11 primary: counters, InnoDB in bytes, meta, no replication', () => {
    const replies = fixture('mariadb-10.11-primary.json');
    const out = linesToMap(parseMysql(replies, 'x'));
    const { status, variables } = replies;
    expect(out.get('metrics.com_select.derive')).toBe(status.com_select);
    expect(out.get('metrics.connections.derive')).toBe(status.connections);
    expect(out.get('metrics.threads_connected.gauge')).toBe(status.threads_connected);
    // MariaDB 10.11 has no Innodb_rows_*: the row counters come from Handler_*.
    expect(status.innodb_rows_read).toBeUndefined();
    expect(out.get('metrics.innodb_rows_inserted.derive')).toBe(status.handler_write);
    expect(out.get('metrics.innodb_rows_deleted.derive')).toBe(status.handler_delete);
    const handlerReads = ['first', 'key', 'last', 'next', 'prev', 'rnd', 'rnd_next'].reduce(
      (sum, n) => sum + Number(status[`handler_read_${n}`]),
      0,
    );
    expect(out.get('metrics.innodb_rows_read.derive')).toBe(String(handlerReads));
    expect(out.get('meta.row_counters')).toBe('Handler_* (all engines)');
    const pageSize = Number(status.innodb_page_size);
    expect(pageSize).toBe(16384);
    expect(out.get('metrics.innodb_buffer_pool_pages_total.gauge')).toBe(
      String(Number(status.innodb_buffer_pool_pages_total) * pageSize),
    );
    const hitRate = Number(out.get('metrics.innodb_buffer_pool_hit_rate.gauge'));
    expect(hitRate).toBeGreaterThan(0);
    expect(hitRate).toBeLessThanOrEqual(100);
    expect(out.get('meta.version')).toBe(variables.version);
    expect(out.get('meta.version')).toMatch(/^10\.11\..*MariaDB/);
    expect(out.get('meta.uptime')).toBe(status.uptime);
    expect(out.get('meta.innodb')).toBe('1');
    expect(out.get('meta.innodb_buffer_pool_size')).toBe('128MB');
    expect(out.get('meta.replication')).toBe('0');
    // MariaDB 10.6+ prints no spin counts; the semaphore graph then has no files.
    expect(out.has('metrics.innodb_spin_waits.derive')).toBe(false);
    expect([...out.keys()].some((k) => k.startsWith('metrics.replication_'))).toBe(false);
    expect([...out.keys()].some((k) => k.startsWith('warn.'))).toBe(false);
  });

  it('reads a recorded MariaDB 10.11 replica: delay, positions and the replica state', () => {
    const out = linesToMap(parseMysql(fixture('mariadb-10.11-replica.json'), 'x'));
    expect(out.get('metrics.replication_second_behind_master.gauge')).toBe('0');
    expect(out.get('metrics.replication_read_master_log_pos.gauge')).toBe('1898');
    expect(out.get('metrics.replication_exec_master_log_pos.gauge')).toBe('1898');
    expect(out.get('meta.replication')).toBe('1');
    expect(out.get('meta.replica_io_running')).toBe('Yes');
    expect(out.get('meta.replica_sql_running')).toBe('Yes');
    expect(out.get('meta.master_host')).toBe('127.0.0.1');
    expect(out.has('warn.replication')).toBe(false);
  });

  it('a replica row gives delay and positions; NULL delay is unknown; its errors become a warning', () => {
    const replies = fixture('mariadb-10.11-primary.json');
    const lines = parseMysql(
      {
        ...replies,
        replica: {
          slave_io_running: 'No',
          slave_sql_running: 'Yes',
          master_host: '192.0.2.5',
          master_port: '3306',
          seconds_behind_master: null,
          read_master_log_pos: '1234',
          exec_master_log_pos: '1200',
          last_io_error: "error connecting to master 'repl@192.0.2.5:3306'",
          last_sql_error: '',
        },
      },
      'x',
    );
    const out = linesToMap(lines);
    expect(out.get('metrics.replication_second_behind_master.gauge')).toBe('U');
    expect(out.get('metrics.replication_read_master_log_pos.gauge')).toBe('1234');
    expect(out.get('metrics.replication_exec_master_log_pos.gauge')).toBe('1200');
    expect(out.get('meta.replication')).toBe('1');
    expect(out.get('meta.replica_io_running')).toBe('No');
    expect(out.get('meta.master_host')).toBe('192.0.2.5');
    expect(out.get('warn.replication')).toBe("error connecting to master 'repl@192.0.2.5:3306'");
  });

  it('MySQL 8.0.22+ replica columns (Source) are read too', () => {
    const replies = fixture('mariadb-10.11-primary.json');
    const out = linesToMap(
      parseMysql(
        {
          ...replies,
          replica: {
            replica_io_running: 'Yes',
            replica_sql_running: 'Yes',
            source_host: 'db01',
            source_port: '3306',
            seconds_behind_source: '3',
            read_source_log_pos: '99',
            exec_source_log_pos: '98',
            last_io_error: '',
            last_sql_error: '',
          },
        },
        'x',
      ),
    );
    expect(out.get('metrics.replication_second_behind_master.gauge')).toBe('3');
    expect(out.get('metrics.replication_read_master_log_pos.gauge')).toBe('99');
    expect(out.get('meta.master_host')).toBe('db01');
    expect(out.has('warn.replication')).toBe(false);
  });
});

describe('row counters', () => {
  it('MySQL and MariaDB before 10.6 report Innodb_rows_*, used as they are', () => {
    const replies = fixture('mariadb-10.11-primary.json');
    const status = {
      ...replies.status,
      innodb_rows_read: '500',
      innodb_rows_inserted: '40',
      innodb_rows_updated: '30',
      innodb_rows_deleted: '20',
    };
    const out = linesToMap(parseMysql({ ...replies, status }, 'x'));
    expect(out.get('metrics.innodb_rows_read.derive')).toBe('500');
    expect(out.get('metrics.innodb_rows_inserted.derive')).toBe('40');
    expect(out.get('meta.row_counters')).toBe('Innodb_rows_*');
  });
});

describe('parseInnodbSemaphores', () => {
  it('sums MySQL 5.6 mutex and rw-lock spin lines', () => {
    const text = [
      '----------',
      'SEMAPHORES',
      '----------',
      'OS WAIT ARRAY INFO: reservation count 10',
      'Mutex spin waits 100, rounds 2000, OS waits 30',
      'RW-shared spins 5, rounds 60, OS waits 2',
      'RW-excl spins 1, rounds 30, OS waits 1',
      'Spin rounds per wait: 20.00 mutex, 12.00 RW-shared, 30.00 RW-excl',
      '------------',
      'TRANSACTIONS',
    ].join('\n');
    expect(parseInnodbSemaphores(text)).toEqual({ spinWaits: 106, spinRounds: 2090, osWaits: 33 });
  });

  it('MariaDB 10.11 prints none', () => {
    const replies = fixture('mariadb-10.11-primary.json');
    expect(replies.innodbStatus).toContain('SEMAPHORES');
    expect(parseInnodbSemaphores(replies.innodbStatus ?? '')).toBeUndefined();
  });
});

describe('megabytes', () => {
  it('shows bytes as MiB with separators', () => {
    expect(megabytes('134217728')).toBe('128MB');
    expect(megabytes(String(8 * 1024 ** 3))).toBe('8,192MB');
  });
});
