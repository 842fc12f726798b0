/**
 * Re-records the pull plugins' fixtures (src/pull/<name>/fixtures/) from private instances of
 * the real servers, as the tests start them (test/helpers/servers.ts), after a known amount of
 * traffic. Run after a Debian upgrade of nginx/apache2/redis/memcached/MariaDB:
 *
 *   npx tsx scripts/record-pull-fixtures.ts
 *
 * then update the values the parse tests expect. The MySQL primary fixture is read from the
 * MariaDB the tests use (KURADO_TEST_MYSQL_URL, default root@127.0.0.1:3306).
 */
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { Socket } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { queryMysql } from '../src/pull/mysql/mysql.js';
import { REDIS_CONFIG_META } from '../src/pull/redis/redis.js';
import { TEST_MYSQL_URL } from '../test/helpers/mariadb.js';
import {
  APACHE_STATUS_PATH,
  NGINX_STATUS_PATH,
  type RunningServer,
  startApache,
  startMariadb,
  startMemcached,
  startNginx,
  startRedis,
  startTogether,
} from '../test/helpers/servers.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'src', 'pull');
const save = (plugin: string, file: string, text: string) => {
  writeFileSync(path.join(FIXTURES, plugin, 'fixtures', file), text);
  console.log(`wrote src/pull/${plugin}/fixtures/${file}`);
};

/** The raw HTTP reply, as `curl -si` shows it (status line, headers, blank line, body). */
function rawGet(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: urlPath, headers: { Connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const head = [`HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}`];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            head.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
          resolve(`${head.join('\r\n')}\r\n\r\n${Buffer.concat(chunks).toString('utf8')}`);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw memcached commands and returns everything up to the server's close after `quit`. */
function memcachedTalk(port: number, commands: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    socket.on('data', (d) => {
      reply += d.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
    socket.connect(port, '127.0.0.1', () => socket.write(`${commands}quit\r\n`));
  });
}

async function nginx() {
  const server = await startNginx();
  try {
    for (let i = 0; i < 5; i++) await rawGet(server.port, '/');
    save('nginx', 'stub_status.http', await rawGet(server.port, NGINX_STATUS_PATH));
    save('nginx', 'not_status.http', await rawGet(server.port, '/'));
  } finally {
    await server.stop();
  }
}

async function apache() {
  const server = await startApache();
  try {
    for (let i = 0; i < 5; i++) await rawGet(server.port, '/');
    save('http', 'server-status-auto.http', await rawGet(server.port, `${APACHE_STATUS_PATH}?auto`));
    save('http', '404.http', await rawGet(server.port, '/'));
  } finally {
    await server.stop();
  }
}

async function redis() {
  const server = await startRedis();
  const client = new Redis({ host: '127.0.0.1', port: server.port });
  try {
    for (let i = 0; i < 20; i++) await client.set(`k${i}`, `v${i}`);
    await client.select(3);
    await client.set('other', '1');
    await client.select(0);
    save('redis', 'info.txt', await client.info());
    const config: Record<string, string> = {};
    for (const name of REDIS_CONFIG_META) {
      const reply = (await client.config('GET', name)) as string[];
      for (let i = 0; i + 1 < reply.length; i += 2) config[reply[i] as string] = reply[i + 1] as string;
    }
    save(
      'redis',
      'slowlog-config.json',
      `${JSON.stringify({ slowlogLen: await client.slowlog('LEN'), config }, null, 2)}\n`,
    );
  } finally {
    client.disconnect();
    await server.stop();
  }
}

async function memcached() {
  const server = await startMemcached();
  try {
    await memcachedTalk(server.port, 'set a 0 0 1\r\nx\r\nset b 0 0 2\r\nyy\r\nget a\r\nget nope\r\n');
    save('memcached', 'stats.txt', await memcachedTalk(server.port, 'stats\r\n'));
    save('memcached', 'stats-settings.txt', await memcachedTalk(server.port, 'stats settings\r\n'));
    save('memcached', 'unknown-command.txt', await memcachedTalk(server.port, 'stats nonsense-kurado\r\n'));
  } finally {
    await server.stop();
  }
}

async function mysql() {
  const url = new URL(TEST_MYSQL_URL);
  const primary = await createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
  });
  try {
    save(
      'mysql',
      'mariadb-10.11-primary.json',
      `${JSON.stringify(await queryMysql(primary, 5000), null, 1)}\n`,
    );
  } finally {
    await primary.end();
  }
  const [source, replica] = (await startTogether(
    () => startMariadb({ serverId: 1, logBin: true }),
    () => startMariadb({ serverId: 2 }),
  )) as [RunningServer, RunningServer];
  try {
    const toSource = await createConnection({ host: '127.0.0.1', port: source.port, user: 'root' });
    const toReplica = await createConnection({ host: '127.0.0.1', port: replica.port, user: 'root' });
    await toSource.query("CREATE USER repl@'%' IDENTIFIED BY 'x'");
    await toSource.query("CREATE USER repl@'localhost' IDENTIFIED BY 'x'");
    await toSource.query("GRANT REPLICATION SLAVE ON *.* TO repl@'%', repl@'localhost'");
    const [[position]] = (await toSource.query('SHOW MASTER STATUS')) as unknown as [RowDataPacket[]];
    await toReplica.query(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_LOG_FILE = ?, MASTER_LOG_POS = ?',
      ['127.0.0.1', source.port, 'repl', 'x', position?.File, position?.Position],
    );
    await toReplica.query('START SLAVE');
    await toSource.query('CREATE DATABASE d');
    await toSource.query('CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB');
    for (let i = 0; i < 5; i++) await toSource.query('INSERT INTO d.t VALUES (?)', [i]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    save(
      'mysql',
      'mariadb-10.11-replica.json',
      `${JSON.stringify(await queryMysql(toReplica, 5000), null, 1)}\n`,
    );
    await toSource.end();
    await toReplica.end();
  } finally {
    await Promise.all([replica.stop(), source.stop()]);
  }
}

for (const record of [nginx, apache, redis, memcached, mysql]) await record();
