import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const RRDCACHED_BINARY = '/usr/bin/rrdcached';

export interface PrivateRrdcached {
  /** `unix:/tmp/…/rrdcached.sock` or `127.0.0.1:<port>`; the same after every restart. */
  address: string;
  /** The daemon's `-b` directory: use it as data_dir. */
  baseDir: string;
  journalDir: string;
  /** Process id of the running daemon (undefined while it is down). */
  pid(): number | undefined;
  /** Stop with `signal` (SIGKILL = crash, journal replay on restart) and start again at the same address. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** Send `signal` and wait until the daemon is gone; `start()` brings it back. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again after `kill()`; resolves once PING answers. */
  start(): Promise<void>;
  /** Stop for good (SIGKILL: fast, nothing is kept anyway) and delete its directories. */
  stop(): Promise<void>;
}

/**
 * A private rrdcached for one test: its own temporary base, journal and socket (or free loopback
 * TCP port), in the foreground, with the production flags (`-B -R -O`, journal, long `-w` so
 * values stay queued and a crash really tests the journal). Resolves once it answers PING;
 * throws with rrdcached's stderr when it does not come up.
 */
export async function startRrdcached(
  options: {
    tcp?: boolean /** An existing `-b` directory (a test's own mount); not deleted by stop(). */;
    baseDir?: string;
  } = {},
): Promise<PrivateRrdcached> {
  // Short prefix: a unix socket path must stay under 108 bytes.
  const root = mkdtempSync(path.join(tmpdir(), 'krc-'));
  const baseDir = options.baseDir ?? path.join(root, 'data');
  const journalDir = path.join(root, 'journal');
  if (!options.baseDir) mkdirSync(baseDir);
  mkdirSync(journalDir);
  const address = options.tcp ? `127.0.0.1:${await freePort()}` : `unix:${path.join(root, 'rrdcached.sock')}`;
  const args = [
    '-g',
    '-B',
    '-R',
    '-b',
    baseDir,
    '-j',
    journalDir,
    '-l',
    address,
    '-w',
    '3600',
    '-f',
    '7200',
    '-O',
    '-p',
    path.join(root, 'rrdcached.pid'),
  ];
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const running = spawn(RRDCACHED_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = running;
    let stderr = '';
    running.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const failed = new Promise<never>((_, reject) => {
      running.once('error', (error) =>
        reject(new Error(`cannot start ${RRDCACHED_BINARY} for ${address}: ${error.message}`)),
      );
      running.once('exit', (code, signal) =>
        reject(
          new Error(
            `${RRDCACHED_BINARY} ${args.join(' ')} exited (${signal ?? code}) before answering PING at ${address}: ${stderr.trim()}`,
          ),
        ),
      );
    });
    failed.catch(() => undefined);
    await Promise.race([waitForPong(address, () => stderr), failed]);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };

  await start();
  return {
    address,
    baseDir,
    journalDir,
    pid: () => child?.pid,
    restart: async (signal = 'SIGTERM') => {
      await kill(signal);
      await start();
    },
    kill,
    start,
    stop: async () => {
      // SIGTERM costs a second (rrdcached waits for its threads); the files are deleted anyway.
      await kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Connect to `address`, send PING, resolve on `0 PONG`; retry for up to 10 s. */
async function waitForPong(address: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      await ping(address);
      return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `rrdcached at ${address} did not answer PING within 10 s: ${lastError}; stderr: ${stderr()}`,
  );
}

function ping(address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = address.startsWith('unix:')
      ? connect(address.slice('unix:'.length))
      : connect(Number(address.split(':')[1]), address.split(':')[0]);
    let reply = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('PING\n'));
    socket.on('data', (text: string) => {
      reply += text;
      if (reply.includes('\n')) {
        socket.destroy();
        if (reply.startsWith('0 PONG')) resolve();
        else reject(new Error(`unexpected PING reply ${JSON.stringify(reply)}`));
      }
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
