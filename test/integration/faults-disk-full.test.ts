import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { minuteMessage, minutesAgo, missingMinutes, publishMqtt } from '../helpers/fault-stream.js';
import { type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { eventually, listRrdFiles, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

/** Write zeros into `file` until the file system says ENOSPC. */
function fillUp(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * The data directory fills up under a running `receive`: it must say which path is full, keep
 * running, acknowledge nothing it could not store, and store the whole backlog once space is
 * back. The data directory is a small tmpfs this test mounts (the tests run as root).
 */
describe('fault: the data directory is full', () => {
  let root: string;
  let dataDir: string;
  let broker: PrivateMosquitto;
  let rrdcached: PrivateRrdcached;
  let reader: RrdReader;
  let receive: RunningKurado;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'kurado-diskfull-'));
    dataDir = path.join(root, 'data');
    mkdirSync(dataDir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dataDir], { stdio: 'pipe' });
    } catch (error) {
      throw new Error(
        `cannot mount a 3 MB tmpfs on ${dataDir} (this test needs root): ${(error as Error).message}`,
      );
    }
    broker = await startMosquitto();
    rrdcached = await startRrdcached({ baseDir: dataDir });
    reader = new RrdReader(rrdcached.address);
    receive = spawnKurado([
      'receive',
      ...['--mqtt', broker.url, '--client-id', `faults-diskfull-${process.pid}`, '--mqtt-connections', '4'],
      ...['--rrdcached', rrdcached.address, '--data-dir', dataDir],
      ...['--store', `sqlite:${path.join(root, 'kurado.db')}`],
    ]);
    await receive.waitForLog(/subscribed to agent updates/);
  }, 60_000);

  afterAll(async () => {
    const code = receive ? await receive.stop('SIGTERM') : 0;
    await reader?.close();
    await rrdcached?.stop();
    await broker?.stop();
    try {
      execFileSync('umount', [dataDir], { stdio: 'pipe' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    expect(code).toBe(0);
  }, 30_000);

  it('says which path is full, keeps running, and stores every value once space is back', async () => {
    const start = minutesAgo(30);
    const minutes = 6;
    const steady = 'steady.example.com';
    const newcomer = 'newcomer.example.com';

    // A host whose file exists before the disk fills.
    await publishMqtt(broker.url, [minuteMessage(steady, start, 0)]);
    await eventually(
      async () => (await missingMinutes(reader, dataDir, steady, start, 1)).length === 0,
      () => `minute 0 of ${steady} not stored; logs:\n${receive.logs().slice(-3000)}`,
      20_000,
    );

    const filler = path.join(dataDir, 'filler');
    fillUp(filler);
    const messages = [];
    for (let minute = 1; minute < minutes; minute++) messages.push(minuteMessage(steady, start, minute));
    for (let minute = 0; minute < minutes; minute++) messages.push(minuteMessage(newcomer, start, minute));
    await publishMqtt(broker.url, messages);

    // Loud: an error line naming the full data directory and the file it could not create.
    const line = await receive.waitForLog(/No space left on device/, 20_000);
    expect(JSON.parse(line).level).toBeGreaterThanOrEqual(50);
    expect(line).toContain(dataDir);
    expect(line).toContain(newcomer);
    // It keeps running and stores nothing half-way: no file of the newcomer exists.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(receive.child.exitCode).toBeNull();
    expect(listRrdFiles(path.join(dataDir, newcomer))).toEqual([]);

    // Space comes back: the backlog the broker kept is stored, every minute of both hosts.
    rmSync(filler);
    let missing: Record<string, number[]> = {};
    await eventually(
      async () => {
        missing = {
          [steady]: await missingMinutes(reader, dataDir, steady, start, minutes),
          [newcomer]: await missingMinutes(reader, dataDir, newcomer, start, minutes),
        };
        return Object.values(missing).every((list) => list.length === 0);
      },
      () => `missing minutes ${JSON.stringify(missing)}; logs:\n${receive.logs().slice(-3000)}`,
      40_000,
    );
    await receive.waitForLog(/write path is back; batch stored/, 5_000);
  }, 90_000);
});
