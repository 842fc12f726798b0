import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MOSQUITTO = '/usr/sbin/mosquitto';

/**
 * A private Mosquitto (never the shared one other tests use) on its own port, configured like
 * Debian's stock /etc/mosquitto/mosquitto.conf (persistence on, default queue limits), so a test
 * can stop it, restart it or read its log ("Outgoing messages are being dropped") without
 * disturbing anyone. Sessions and queued messages survive a restart like a production broker's.
 */
export class PrivateMosquitto {
  private child: ChildProcess | undefined;
  private logs = '';
  readonly config: string;

  /**
   * `access` replaces `allow_anonymous true` (e.g. password_file and acl_file lines, with their
   * files written into `dir` beforehand).
   */
  constructor(
    readonly port: number,
    readonly dir: string,
    access: readonly string[] = ['allow_anonymous true'],
  ) {
    // Mosquitto started as root drops to the mosquitto user, which must be able to write here
    // (and reach it: `dir` must not sit inside a 0700 directory).
    chmodSync(dir, 0o777);
    this.config = path.join(dir, 'mosquitto.conf');
    writeFileSync(
      this.config,
      [
        `listener ${port} 127.0.0.1`,
        ...access,
        'persistence true',
        `persistence_location ${dir}/`,
        'log_type all',
        '',
      ].join('\n'),
    );
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(MOSQUITTO, ['-c', this.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const collect = (chunk: Buffer) => {
      this.logs += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (error) => {
      this.logs += `cannot start ${MOSQUITTO}: ${error.message}\n`;
    });
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `${MOSQUITTO} -c ${this.config} did not listen on 127.0.0.1:${this.port}:\n${this.logs}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** What the broker printed, over all its runs. */
  output(): string {
    return this.logs;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    // Without its saved sessions the restarted broker would drop what subscribers missed, and a
    // test would pass or fail on timing instead of on what it tests.
    if (this.logs.includes('Error saving in-memory database')) {
      throw new Error(`${MOSQUITTO} -c ${this.config} could not save its database:\n${this.logs}`);
    }
  }
}

/** A started PrivateMosquitto on a free port in a fresh directory. */
export async function startMosquitto(access?: (dir: string) => readonly string[]): Promise<PrivateMosquitto> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kurado-mosquitto-'));
  const broker = new PrivateMosquitto(await freePort(), dir, access?.(dir));
  await broker.start();
  return broker;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}
