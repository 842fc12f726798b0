import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnKurado, spawnKuradoInTerminal } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

/** A readable log line: `[HH:MM:SS] LEVEL: message`. */
const TEXT_LOG_LINE = /^\[\d\d:\d\d:\d\d\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /;
/** The start-up steps of `kurado up`, as the task list titles them once done. */
const STEP_TITLES = [
  /✔ data directory \//,
  /✔ rrdcached unix:\/.*rrdcached\.sock/,
  /✔ store sqlite:\//,
  /✔ MQTT broker 127\.0\.0\.1:\d+/,
  /✔ receiver/,
  /✔ pull scheduler and worker/,
  /✔ web UI 127\.0\.0\.1:\d+/,
  new RegExp(`✔ agent of ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
];

function upArgs(dataDir: string, listen = '127.0.0.1:0'): string[] {
  return ['up', '--data-dir', dataDir, '--listen', listen, '--mqtt-listen', '127.0.0.1:0'];
}

/** A TCP port some other program holds, which the web UI cannot take. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

const tempDir = useTempDirs();

describe('kurado up on a terminal', () => {
  it('shows its start-up steps as a task list, then readable log lines; Ctrl-C stops it', async () => {
    const dataDir = tempDir('kurado-up-tty-');
    const up = spawnKuradoInTerminal(upArgs(dataDir), { KURADO_LOG_LEVEL: 'info' });
    try {
      await up.waitForLog(/INFO: Kurado is up/, 90_000);
      const screen = up.screen();
      for (const title of STEP_TITLES) expect(screen).toMatch(title);
      const afterList = screen.slice(screen.lastIndexOf('✔ agent of'));
      const logLines = afterList
        .split('\n')
        .slice(1)
        .filter((line) => line.trim() !== '' && !line.startsWith('Kurado is up: open'));
      expect(logLines.length).toBeGreaterThan(0);
      for (const line of logLines) expect(line).toMatch(TEXT_LOG_LINE);
      expect(screen).toMatch(/INFO: Kurado is up: web UI http:\/\/127\.0\.0\.1:\d+\/ .* mqttPort=\d+/);
      expect(screen).not.toContain('{"level"');

      up.interrupt();
      expect(await up.exited()).toBe(0);
      expect(up.screen()).toMatch(/INFO: stopping: storing in-flight values signal=SIGINT/);
    } finally {
      await up.stop('SIGKILL');
    }
  }, 120_000);

  it('logs JSON and draws no task list under systemd, even on a terminal', async () => {
    const dataDir = tempDir('kurado-up-tty-');
    const up = spawnKuradoInTerminal([...upArgs(dataDir), '--no-agent'], {
      KURADO_LOG_LEVEL: 'info',
      INVOCATION_ID: 'f00dfeedf00dfeedf00dfeedf00dfeed',
    });
    try {
      const line = await up.waitForLog(/Kurado is up: web UI/, 90_000);
      expect(JSON.parse(line)).toMatchObject({
        level: 30,
        name: 'up',
        web: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      });
      expect(up.screen()).not.toMatch(/[✔✖]/);
    } finally {
      up.interrupt();
      expect(await up.exited()).toBe(0);
    }
  }, 120_000);

  it('shows the step that failed with its reason and exits 1 when the web port is taken', async () => {
    const dataDir = tempDir('kurado-up-tty-');
    const taken = await takenPort();
    try {
      const up = spawnKuradoInTerminal(upArgs(dataDir, `127.0.0.1:${taken.port}`));
      expect(await up.exited()).toBe(1);
      const screen = up.screen();
      expect(screen).toMatch(/✔ receiver/);
      expect(screen).toMatch(
        new RegExp(
          `✖ web UI 127\\.0\\.0\\.1:${taken.port}\\n\\s*› .*EADDRINUSE.*127\\.0\\.0\\.1:${taken.port}`,
        ),
      );
      expect(screen).not.toMatch(/✔ web UI/);
      expect(screen).not.toMatch(/Kurado is up/);
    } finally {
      taken.server.close();
    }
  }, 120_000);

  it('shows the data directory step failed with its reason and exits 1 when it cannot be made', async () => {
    const root = tempDir('kurado-up-tty-');
    const notADirectory = path.join(root, 'file');
    writeFileSync(notADirectory, 'not a directory');
    const up = spawnKuradoInTerminal(upArgs(path.join(notADirectory, 'data')));
    expect(await up.exited()).toBe(1);
    const screen = up.screen();
    expect(screen).toMatch(/✖ data directory .*\/file\/data\n\s*› ENOTDIR: not a directory/);
    expect(screen).not.toMatch(/✔ rrdcached/);
  }, 120_000);
});

describe('kurado up piped', () => {
  it('writes JSON log lines only, as journald and log shippers expect', async () => {
    const dataDir = tempDir('kurado-up-pipe-');
    const up = spawnKurado([...upArgs(dataDir), '--no-agent'], { KURADO_LOG_LEVEL: 'info' });
    let stderr = '';
    up.child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      await up.waitForLog(/Kurado is up: web UI/, 90_000);
    } finally {
      expect(await up.stop('SIGTERM')).toBe(0);
    }
    const lines = stderr.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('level');
    expect(lines.some((line) => (JSON.parse(line) as { msg: string }).msg.startsWith('Kurado is up'))).toBe(
      true,
    );
    expect(up.logs()).not.toMatch(/[✔✖]/);
  }, 120_000);
});
