import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, portOpen } from './mosquitto.js';

export { freePort, portOpen };

/**
 * Private instances of the servers the pull plugins read (Debian's nginx, apache2, redis-server,
 * memcached), each on a free loopback port in its own directory, started and stopped by the test.
 * A missing binary is a loud failure naming it and how to install it, never a skip.
 */
export interface RunningServer {
  /** Which server, for messages: `nginx`. */
  readonly kind: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The server's private directory (config, logs, pid). */
  readonly dir: string;
  /** What the server printed so far (stdout + stderr), for a failing test's message. */
  output(): string;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export const NGINX = '/usr/sbin/nginx';
export const APACHE = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';
export const REDIS = '/usr/bin/redis-server';
export const MEMCACHED = '/usr/bin/memcached';
export const MARIADBD = '/usr/sbin/mariadbd';
export const MARIADB_INSTALL_DB = '/usr/bin/mariadb-install-db';

/** Path of the stub_status page of `startNginx`. */
export const NGINX_STATUS_PATH = '/nginx_status';
/** Path of the mod_status page of `startApache` (the fetcher adds `?auto`). */
export const APACHE_STATUS_PATH = '/server-status';

function requireBinary(binary: string, pkg: string): void {
  if (!existsSync(binary))
    throw new Error(`${binary} is missing: install Debian's ${pkg} (scripts/setup.sh --test does it)`);
}

function privateDir(kind: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `kurado-${kind}-`));
  // Servers started as root drop to an unprivileged user that must reach their directory.
  chmodSync(dir, 0o777);
  return dir;
}

const asRoot = process.getuid?.() === 0;

async function launch(
  kind: string,
  binary: string,
  args: string[],
  port: number,
  dir: string,
): Promise<RunningServer> {
  let logs = '';
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const collect = (chunk: Buffer) => {
    logs += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('error', (error) => {
    logs += `cannot start ${binary}: ${error.message}\n`;
  });
  let stopped = false;
  const server: RunningServer = {
    kind,
    host: '127.0.0.1',
    port,
    dir,
    output: () => logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await server.stop().catch(() => undefined);
      throw new Error(`${binary} ${args.join(' ')} did not listen on 127.0.0.1:${port}:\n${logs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return server;
}

/**
 * A private nginx (one worker) serving stub_status at NGINX_STATUS_PATH and "ok" at `/`, on
 * 127.0.0.1 and on `extraAddresses` (other loopback addresses such as 127.0.0.2, so many hosts
 * of a server list can point at it), all on the same port.
 */
export async function startNginx(options: { extraAddresses?: string[] } = {}): Promise<RunningServer> {
  requireBinary(NGINX, 'nginx');
  const dir = privateDir('nginx');
  const port = await freePort();
  const temp = path.join(dir, 'temp');
  mkdirSync(temp);
  chmodSync(temp, 0o777);
  const config = path.join(dir, 'nginx.conf');
  writeFileSync(
    config,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${temp}/body;`,
      `  proxy_temp_path ${temp}/proxy;`,
      `  fastcgi_temp_path ${temp}/fastcgi;`,
      `  uwsgi_temp_path ${temp}/uwsgi;`,
      `  scgi_temp_path ${temp}/scgi;`,
      `  server {`,
      ...['127.0.0.1', ...(options.extraAddresses ?? [])].map((address) => `    listen ${address}:${port};`),
      `    location = ${NGINX_STATUS_PATH} { stub_status; }`,
      '    location = / { return 200 "ok\\n"; }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return launch('nginx', NGINX, ['-e', `${dir}/error.log`, '-p', dir, '-c', config], port, dir);
}

/** A private Apache (event MPM) with mod_status at APACHE_STATUS_PATH, ExtendedStatus on. */
export async function startApache(): Promise<RunningServer> {
  requireBinary(APACHE, 'apache2');
  requireBinary(`${APACHE_MODULES}/mod_status.so`, 'apache2-bin');
  const dir = privateDir('apache2');
  const port = await freePort();
  const docs = path.join(dir, 'htdocs');
  mkdirSync(docs);
  writeFileSync(path.join(docs, 'index.html'), 'ok\n');
  const config = path.join(dir, 'apache2.conf');
  writeFileSync(
    config,
    [
      `ServerRoot "${dir}"`,
      `DefaultRuntimeDir "${dir}"`,
      `PidFile "${dir}/apache2.pid"`,
      `ErrorLog "${dir}/error.log"`,
      'LogLevel warn',
      `LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so`,
      `LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so`,
      `LoadModule status_module ${APACHE_MODULES}/mod_status.so`,
      ...(asRoot ? ['User nobody', 'Group nogroup'] : []),
      'ServerName localhost',
      `Listen 127.0.0.1:${port}`,
      `DocumentRoot "${docs}"`,
      'StartServers 1',
      'ServerLimit 2',
      'ThreadsPerChild 5',
      'MaxRequestWorkers 10',
      'ExtendedStatus On',
      `<Location "${APACHE_STATUS_PATH}">`,
      '  SetHandler server-status',
      '</Location>',
      '',
    ].join('\n'),
  );
  return launch('apache2', APACHE, ['-f', config, '-DFOREGROUND'], port, dir);
}

/** A private redis-server without persistence. */
export async function startRedis(): Promise<RunningServer> {
  requireBinary(REDIS, 'redis-server');
  const dir = privateDir('redis');
  const port = await freePort();
  return launch(
    'redis-server',
    REDIS,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
    ],
    port,
    dir,
  );
}

/** A private memcached with 16 MB of cache. */
export async function startMemcached(): Promise<RunningServer> {
  requireBinary(MEMCACHED, 'memcached');
  const dir = privateDir('memcached');
  const port = await freePort();
  return launch(
    'memcached',
    MEMCACHED,
    ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', ...(asRoot ? ['-u', 'nobody'] : [])],
    port,
    dir,
  );
}

/** Small InnoDB files and buffer pool: a private MariaDB is for a test, not for data. */
const MARIADB_SIZES = ['--innodb-log-file-size=4M', '--innodb-buffer-pool-size=8M'];

/**
 * A private MariaDB (Debian's mariadbd, not the machine's server on 3306) in a fresh data
 * directory; root@localhost has no password. `logBin` turns the binary log on (a replication
 * primary); `serverId` must differ between a primary and its replica. Takes about 5 s.
 */
export async function startMariadb(options: { serverId: number; logBin?: boolean }): Promise<RunningServer> {
  requireBinary(MARIADBD, 'mariadb-server');
  requireBinary(MARIADB_INSTALL_DB, 'mariadb-server');
  const dir = privateDir('mariadb');
  const data = path.join(dir, 'data');
  // Bootstraps running at once collide on temporary table names in a shared /tmp.
  const temp = path.join(dir, 'tmp');
  mkdirSync(temp);
  const common = [`--tmpdir=${temp}`, ...(asRoot ? ['--user=root'] : [])];
  await new Promise<void>((resolve, reject) => {
    execFile(
      MARIADB_INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${data}`,
        ...common,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...MARIADB_SIZES,
      ],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        if (!error) return resolve();
        rmSync(dir, { recursive: true, force: true });
        reject(
          new Error(`${MARIADB_INSTALL_DB} --datadir=${data} failed: ${error.message}\n${stdout}${stderr}`),
        );
      },
    );
  });
  const port = await freePort();
  return launch(
    'mariadb',
    MARIADBD,
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${dir}/mariadbd.sock`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${dir}/mariadbd.pid`,
      `--log-error=${dir}/error.log`,
      ...common,
      ...MARIADB_SIZES,
      `--server-id=${options.serverId}`,
      ...(options.logBin ? [`--log-bin=${dir}/binlog`] : []),
    ],
    port,
    dir,
  );
}

/**
 * Starts several servers at once; when one fails, the others are stopped before the error is
 * thrown, so a failed start leaves nothing running.
 */
export async function startTogether(...starts: (() => Promise<RunningServer>)[]): Promise<RunningServer[]> {
  const results = await Promise.allSettled(starts.map((start) => start()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<RunningServer>).value);
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  throw failed.reason;
}

/**
 * A "black hole": accepts TCP connections on a free loopback port and never answers, like a
 * hung server. Connections it holds are destroyed by `stop`.
 */
export async function startBlackHole(): Promise<{
  port: number;
  connections(): number;
  stop(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    connections: () => accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (connections are refused), for fault tests. */
export async function refusingPort(): Promise<number> {
  return freePort();
}
