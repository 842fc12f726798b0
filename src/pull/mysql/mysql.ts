import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { endpoint, networkError, portArg, stringSetting, timeoutError } from '../net.js';
import { excerpt, numberOrU, oneLine } from '../text.js';
import type { FetchContext, Fetcher, PullTarget } from '../types.js';
import { FetchError } from '../types.js';

export const MYSQL_DEFAULT_PORT = 3306;

/** SHOW GLOBAL STATUS counters stored as derive, by their lower-cased names. */
const DERIVE = [
  'com_select',
  'com_insert',
  'com_replace',
  'com_update',
  'com_delete',
  'slow_queries',
  'select_full_join',
  'select_full_range_join',
  'select_range',
  'select_range_check',
  'select_scan',
  'sort_rows',
  'sort_range',
  'sort_merge_passes',
  'sort_scan',
  'created_tmp_tables',
  'created_tmp_disk_tables',
  'created_tmp_files',
  'threads_created',
  'connections',
];
const GAUGE = ['threads_cached', 'threads_connected', 'threads_running'];
const INNODB_DERIVE = [
  'innodb_rows_inserted',
  'innodb_rows_updated',
  'innodb_rows_deleted',
  'innodb_rows_read',
  'innodb_pages_created',
  'innodb_pages_read',
  'innodb_pages_written',
  'innodb_data_reads',
  'innodb_data_writes',
  'innodb_data_fsyncs',
  'innodb_log_writes',
];
/** Buffer pool page counts, stored in bytes (pages × page size). */
const INNODB_PAGES = ['total', 'free', 'data', 'dirty'];
const META_VARIABLES = [
  'version',
  'version_comment',
  'max_connections',
  'thread_cache_size',
  'slow_query_log',
  'long_query_time',
  'log_queries_not_using_indexes',
  'sync_binlog',
];
const INNODB_META_VARIABLES = [
  'innodb_flush_log_at_trx_commit',
  'innodb_flush_method',
  'innodb_file_per_table',
  'innodb_doublewrite',
  'innodb_io_capacity',
];
const INNODB_META_SIZES = ['innodb_buffer_pool_size', 'innodb_log_file_size'];

/** What one MySQL fetch read. Names are lower-cased; `replica` null = the server is no replica. */
export interface MysqlReplies {
  status: Record<string, string>;
  variables: Record<string, string>;
  /** SHOW ENGINE INNODB STATUS text; undefined when not readable (no PROCESS privilege). */
  innodbStatus?: string | undefined;
  /** The first row of SHOW REPLICA STATUS / SHOW SLAVE STATUS; null when empty. */
  replica: Record<string, string | null> | null;
  /** Why the replica status could not be read (privilege), when it could not. */
  replicaError?: string | undefined;
}

/**
 * Spin and OS-wait counts from the SEMAPHORES section of SHOW ENGINE INNODB STATUS, summed over
 * its lines (`Mutex spin waits N, rounds N, OS waits N` in 5.6, `RW-shared spins N, rounds N,
 * OS waits N` and RW-excl/RW-sx in 5.6 to 8.x). Undefined when the section has none (MariaDB
 * 10.6 and later print no counts).
 */
export function parseInnodbSemaphores(
  text: string,
): { spinWaits: number; spinRounds: number; osWaits: number } | undefined {
  const start = text.indexOf('\nSEMAPHORES\n');
  if (start < 0) return undefined;
  const next = text.indexOf('\n------------\n', start + 12);
  const section = text.slice(start, next < 0 ? undefined : next);
  const re = /(?:spin waits|spins) (\d+), rounds (\d+), OS waits (\d+)/g;
  let found = false;
  const sum = { spinWaits: 0, spinRounds: 0, osWaits: 0 };
  for (const m of section.matchAll(re)) {
    found = true;
    sum.spinWaits += Number(m[1]);
    sum.spinRounds += Number(m[2]);
    sum.osWaits += Number(m[3]);
  }
  return found ? sum : undefined;
}

/** Handler_read_* counters that each mean one row read through the storage-engine interface. */
const HANDLER_READS = ['first', 'key', 'last', 'next', 'prev', 'rnd', 'rnd_next'].map(
  (n) => `handler_read_${n}`,
);

/**
 * Row counters from the Handler_* status variables, for servers without Innodb_rows_* (MariaDB
 * 10.6 and later dropped them): rows inserted, updated, deleted and read through the storage
 * engine interface, all engines counted. Empty when the server has no Handler_* counters either.
 */
export function handlerRowCounters(status: Record<string, string>): string[] {
  if (status.handler_write === undefined || HANDLER_READS.some((n) => status[n] === undefined)) return [];
  const read = HANDLER_READS.reduce((sum, n) => sum + BigInt(status[n] as string), 0n);
  return [
    `metrics.innodb_rows_inserted.derive\t${status.handler_write}`,
    `metrics.innodb_rows_updated.derive\t${status.handler_update ?? 'U'}`,
    `metrics.innodb_rows_deleted.derive\t${status.handler_delete ?? 'U'}`,
    `metrics.innodb_rows_read.derive\t${read}`,
  ];
}

/** `134217728` → `128MB` (bytes shown in MiB with thousands separators). */
export function megabytes(bytes: string): string {
  const n = Number(bytes);
  return Number.isFinite(n) ? `${Math.round(n / 1048576).toLocaleString('en-US')}MB` : bytes;
}

function column(row: Record<string, string | null>, ...names: string[]): string | null | undefined {
  for (const name of names) if (name in row) return row[name];
  return undefined;
}

/**
 * Lines for one MySQL/MariaDB: the statement, select, sort, temporary-object, thread and
 * connection counters; InnoDB row, page, I/O and semaphore counters and buffer pool usage (in
 * bytes) when the server has InnoDB; replication delay and positions on a replica. Meta:
 * version, uptime, the main settings, `innodb` and `replication` (0/1) and the replica's state;
 * a replication error becomes `warn.replication`.
 */
export function parseMysql(replies: MysqlReplies, where: string): string[] {
  const { status, variables } = replies;
  if (status.uptime === undefined || status.com_select === undefined)
    throw new FetchError(`${where} answered SHOW GLOBAL STATUS without Uptime and Com_select`);
  const lines: string[] = [];
  for (const name of DERIVE)
    if (status[name] !== undefined) lines.push(`metrics.${name}.derive\t${status[name]}`);
  for (const name of GAUGE)
    if (status[name] !== undefined) lines.push(`metrics.${name}.gauge\t${status[name]}`);

  const innodb = status.innodb_buffer_pool_pages_total !== undefined;
  if (innodb) {
    for (const name of INNODB_DERIVE)
      if (status[name] !== undefined) lines.push(`metrics.${name}.derive\t${status[name]}`);
    if (status.innodb_rows_read === undefined) lines.push(...handlerRowCounters(status));
    const semaphores = replies.innodbStatus ? parseInnodbSemaphores(replies.innodbStatus) : undefined;
    if (semaphores) {
      lines.push(`metrics.innodb_spin_waits.derive\t${semaphores.spinWaits}`);
      lines.push(`metrics.innodb_spin_rounds.derive\t${semaphores.spinRounds}`);
      lines.push(`metrics.innodb_os_waits.derive\t${semaphores.osWaits}`);
    }
    const requests = Number(status.innodb_buffer_pool_read_requests);
    const reads = Number(status.innodb_buffer_pool_reads);
    const hitRate = requests > 0 && Number.isFinite(reads) ? (1 - reads / requests) * 100 : undefined;
    lines.push(`metrics.innodb_buffer_pool_hit_rate.gauge\t${numberOrU(hitRate)}`);
    const pageSize = Number(status.innodb_page_size ?? variables.innodb_page_size ?? 16384);
    for (const kind of INNODB_PAGES) {
      const pages = status[`innodb_buffer_pool_pages_${kind}`];
      const bytes = pages === undefined ? undefined : Number(pages) * pageSize;
      lines.push(`metrics.innodb_buffer_pool_pages_${kind}.gauge\t${numberOrU(bytes)}`);
    }
  }

  const replica = replies.replica;
  if (replica) {
    lines.push(
      `metrics.replication_second_behind_master.gauge\t${numberOrU(column(replica, 'seconds_behind_master', 'seconds_behind_source'))}`,
    );
    lines.push(
      `metrics.replication_read_master_log_pos.gauge\t${numberOrU(column(replica, 'read_master_log_pos', 'read_source_log_pos'))}`,
    );
    lines.push(
      `metrics.replication_exec_master_log_pos.gauge\t${numberOrU(column(replica, 'exec_master_log_pos', 'exec_source_log_pos'))}`,
    );
  }

  for (const name of META_VARIABLES) {
    const value = variables[name];
    if (value !== undefined) lines.push(`meta.${name}\t${oneLine(value)}`);
  }
  lines.push(`meta.uptime\t${status.uptime}`);
  lines.push(`meta.innodb\t${innodb ? 1 : 0}`);
  if (innodb) {
    lines.push(
      `meta.row_counters\t${status.innodb_rows_read === undefined ? 'Handler_* (all engines)' : 'Innodb_rows_*'}`,
    );
    for (const name of INNODB_META_SIZES)
      if (variables[name] !== undefined) lines.push(`meta.${name}\t${megabytes(variables[name])}`);
    for (const name of INNODB_META_VARIABLES)
      if (variables[name] !== undefined) lines.push(`meta.${name}\t${oneLine(variables[name])}`);
  }
  lines.push(`meta.replication\t${replica ? 1 : 0}`);
  if (replica) {
    const state = {
      replica_io_running: column(replica, 'slave_io_running', 'replica_io_running'),
      replica_sql_running: column(replica, 'slave_sql_running', 'replica_sql_running'),
      master_host: column(replica, 'master_host', 'source_host'),
      master_port: column(replica, 'master_port', 'source_port'),
    };
    for (const [key, value] of Object.entries(state))
      if (value !== undefined && value !== null) lines.push(`meta.${key}\t${oneLine(value)}`);
    const errors = [
      column(replica, 'last_io_error', 'last_error'),
      column(replica, 'last_sql_error', 'last_error'),
    ].filter((e): e is string => typeof e === 'string' && e !== '');
    if (errors.length > 0) lines.push(`warn.replication\t${oneLine([...new Set(errors)].join('; '))}`);
  }
  if (replies.replicaError) lines.push(`warn.replication\t${oneLine(replies.replicaError)}`);
  return lines;
}

/** mysql2 error codes that mean the login was refused. */
const AUTH_ERRORS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
]);

function describe(err: unknown, where: string, user: string, context: FetchContext): FetchError {
  if (err instanceof FetchError) return err;
  if (context.signal.aborted) return timeoutError(where, context);
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && AUTH_ERRORS.has(code))
    return new FetchError(
      `${where} refused the login of user "${user}" (settings user/password): ${excerpt(message, 160)}`,
    );
  if (code === 'ETIMEDOUT' || code === 'PROTOCOL_SEQUENCE_TIMEOUT') return timeoutError(where, context);
  if (typeof code === 'string' && code.startsWith('ER_'))
    return new FetchError(`${where}: ${excerpt(message, 160)}`);
  return networkError(err, where, context);
}

function nameValueRows(rows: RowDataPacket[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const row of rows) {
    const name = row.Variable_name ?? row.variable_name;
    const value = row.Value ?? row.value;
    if (typeof name === 'string') out[name.toLowerCase()] = value === null ? '' : String(value);
  }
  return out;
}

function lowerKeys(row: RowDataPacket): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(row))
    out[key.toLowerCase()] = value === null || value === undefined ? null : String(value);
  return out;
}

/** Reads everything parseMysql needs over one connection. */
export async function queryMysql(connection: Connection, timeoutMs: number): Promise<MysqlReplies> {
  const query = async (sql: string) =>
    (await connection.query<RowDataPacket[]>({ sql, timeout: timeoutMs }))[0];
  const status = nameValueRows(await query('SHOW GLOBAL STATUS'));
  const variables = nameValueRows(await query('SHOW GLOBAL VARIABLES'));
  let innodbStatus: string | undefined;
  if (status.innodb_buffer_pool_pages_total !== undefined) {
    try {
      const row = (await query('SHOW ENGINE INNODB STATUS'))[0];
      innodbStatus = typeof row?.Status === 'string' ? row.Status : undefined;
    } catch {
      // Needs the PROCESS privilege; only the semaphore counters come from it.
    }
  }
  let replica: Record<string, string | null> | null = null;
  let replicaError: string | undefined;
  try {
    let rows: RowDataPacket[];
    try {
      rows = await query('SHOW REPLICA STATUS');
    } catch (err) {
      // MySQL before 8.0.22 and MariaDB before 10.5.1 know only the old name.
      if ((err as { code?: unknown }).code !== 'ER_PARSE_ERROR') throw err;
      rows = await query('SHOW SLAVE STATUS');
    }
    replica = rows[0] ? lowerKeys(rows[0]) : null;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'ER_SPECIFIC_ACCESS_DENIED_ERROR' && code !== 'ER_ACCESS_DENIED_ERROR') throw err;
    replicaError = `cannot read the replica status (grant REPLICATION CLIENT or SLAVE MONITOR): ${excerpt((err as Error).message, 120)}`;
  }
  return { status, variables, innodbStatus, replica, replicaError };
}

/** `mysql[:port]`: global status, variables, InnoDB and replica status. Settings `user` (root), `password`. */
export const mysqlFetcher: Fetcher = {
  name: 'mysql',
  async fetch(target: PullTarget, context: FetchContext): Promise<string[]> {
    const port = portArg(target, 0, MYSQL_DEFAULT_PORT);
    const where = endpoint(target.address, port);
    if (context.signal.aborted) throw timeoutError(where, context);
    const user = stringSetting(target, 'user') ?? 'root';
    let connection: Connection | undefined;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        connection?.destroy();
        reject(timeoutError(where, context));
      };
      context.signal.addEventListener('abort', onAbort, { once: true });
    });
    const work = (async () => {
      connection = await createConnection({
        host: target.address,
        port,
        user,
        password: stringSetting(target, 'password') ?? '',
        connectTimeout: context.timeoutMs,
        supportBigNumbers: true,
        bigNumberStrings: true,
      });
      // Aborted while connecting: the connection came too late.
      if (context.signal.aborted) connection.destroy();
      return parseMysql(await queryMysql(connection, context.timeoutMs), where);
    })();
    let clean = false;
    try {
      const lines = await Promise.race([work, aborted]);
      clean = true;
      return lines;
    } catch (err) {
      throw describe(err, where, user, context);
    } finally {
      if (onAbort) context.signal.removeEventListener('abort', onAbort);
      work.catch(() => undefined);
      aborted.catch(() => undefined);
      // A polite QUIT after a good read keeps the server's Aborted_clients (and its log) quiet.
      const open: Connection | undefined = connection;
      if (clean && open) open.end().catch(() => open.destroy());
      else open?.destroy();
    }
  },
};
