import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';

export const RRDCACHED_BINARY = '/usr/bin/rrdcached';

export interface RrdcachedDaemon {
  /** `unix:<socket>` to give the writer and `rrdtool --daemon`. */
  address: string;
  stop(): Promise<void>;
}

/**
 * Run rrdcached as a child of `kurado up` with the settings ingest relies on: journal on
 * (`-j`, so nothing acknowledged is lost on a crash), writes confined to data_dir (`-B -R`),
 * CREATE never overwrites (`-O`), flush every 5 minutes with jitter so writes spread out.
 */
export async function startRrdcachedDaemon(options: {
  dataDir: string;
  stateDir: string;
}): Promise<RrdcachedDaemon> {
  if (!existsSync(RRDCACHED_BINARY)) {
    throw new Error(
      `${RRDCACHED_BINARY} not found: install it with "apt-get install rrdcached" (scripts/setup.sh does)`,
    );
  }
  const journalDir = path.join(options.stateDir, 'journal');
  const socket = path.join(options.stateDir, 'rrdcached.sock');
  const pidFile = path.join(options.stateDir, 'rrdcached.pid');
  mkdirSync(journalDir, { recursive: true });
  mkdirSync(options.dataDir, { recursive: true });
  rmSync(socket, { force: true });
  rmSync(pidFile, { force: true });
  const args = ['-g', '-B', '-R', '-O', '-b', options.dataDir, '-j', journalDir, '-p', pidFile];
  args.push('-l', `unix:${socket}`, '-w', '300', '-z', '120', '-f', '3600', '-t', '4');
  const child: ChildProcess = spawn(RRDCACHED_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`cannot start ${RRDCACHED_BINARY}: ${error.message}`)));
    child.once('exit', (code) => reject(new Error(`rrdcached exited with code ${code}: ${stderr.trim()}`)));
  });
  exited.catch(() => undefined);
  await Promise.race([waitForSocket(socket), exited]);
  return {
    address: `unix:${socket}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await done;
    },
  };
}

async function waitForSocket(socket: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const connection = connect(socket);
      connection.once('connect', () => {
        connection.end('QUIT\n');
        resolve(true);
      });
      connection.once('error', () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline)
      throw new Error(`rrdcached did not answer on ${socket} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
