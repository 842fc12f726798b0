import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MOSQUITTO = '/usr/sbin/mosquitto';

export interface PrivateMosquitto {
  url: string;
  port: number;
  /** Mosquitto's own log (e.g. "Outgoing messages are being dropped"). */
  log(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A Mosquitto of our own on a free loopback port, configured like Debian's stock
 * /etc/mosquitto/mosquitto.conf (persistence on, default queue limits), so a test can stop it or
 * read its log without disturbing the shared broker other test files use.
 */
export async function startMosquitto(extraConfig = ''): Promise<PrivateMosquitto> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kurado-mosquitto-'));
  const port = await freePort();
  const logFile = path.join(dir, 'mosquitto.log');
  const configFile = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    configFile,
    [
      'persistence true',
      `persistence_location ${dir}/`,
      `log_dest file ${logFile}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      extraConfig,
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(MOSQUITTO, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const spawnError = new Promise<never>((_, reject) => {
      child?.once('error', (error) => reject(new Error(`cannot start ${MOSQUITTO}: ${error.message}`)));
      child?.once('exit', (code) => reject(new Error(`${MOSQUITTO} exited with ${code}: ${stderr}`)));
    });
    spawnError.catch(() => undefined);
    await Promise.race([waitForPort(port), spawnError]);
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    start,
    stop: async () => {
      const running = child;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
