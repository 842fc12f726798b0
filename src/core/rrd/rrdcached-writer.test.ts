import { describe, expect, it } from 'vitest';
import { type RrdcachedClient, RrdcachedError } from './rrdcached.js';
import { RrdcachedWriter } from './rrdcached-writer.js';
import type { RrdUpdate } from './types.js';

const DATA = '/data';
const FILE = `${DATA}/web1/base/load.gauge.rrd`;

/**
 * rrdcached as the writer sees it, in memory: BATCH of CREATE/UPDATE lines with rrdtool's
 * answers, a connection count, and a restart that loses the last answered values (rrdcached
 * 1.7.2 buffers its journal, so a SIGKILL loses its tail).
 */
class FakeRrdcached {
  readonly files = new Map<string, number[]>();
  connectionCount = 1;
  connected = true;
  batches = 0;
  /** Break the connection under the next `times` batches, after they ran. */
  dropAfterRunning = 0;

  async batch(commands: readonly string[]): Promise<{ index: number; message: string }[]> {
    this.batches++;
    if (!this.connected) {
      this.connected = true;
      this.connectionCount++;
    }
    const errors: { index: number; message: string }[] = [];
    for (const [index, command] of commands.entries()) {
      const [verb, path, ...rest] = command.split(' ');
      const file = path as string;
      if (verb === 'CREATE') {
        if (this.files.has(file)) errors.push({ index, message: 'RRD Error: File exists' });
        else this.files.set(file, []);
        continue;
      }
      const stored = this.files.get(file);
      if (!stored) {
        errors.push({ index, message: `No such file: ${file}` });
        continue;
      }
      for (const value of rest) {
        const timestamp = Number(value.split(':')[0]);
        const last = stored[stored.length - 1] ?? 0;
        if (timestamp <= last) {
          errors.push({
            index,
            message: `illegal attempt to update using time ${timestamp} when last update time is ${last}`,
          });
          break;
        }
        stored.push(timestamp);
      }
    }
    if (this.dropAfterRunning > 0) {
      this.dropAfterRunning--;
      this.connected = false;
      throw new RrdcachedError('connection lost before the answer', 'connection-lost', 'fake');
    }
    return errors;
  }

  /** SIGKILL and start again: the last `lost` values of every file are gone. */
  restart(lost: number): void {
    for (const [file, stored] of this.files) this.files.set(file, stored.slice(0, -lost));
    this.connected = false;
  }

  async close(): Promise<void> {}
}

function writer(daemon: FakeRrdcached, replayValues?: number): RrdcachedWriter {
  return new RrdcachedWriter({
    dataDir: DATA,
    rrdcached: daemon as unknown as RrdcachedClient,
    ...(replayValues === undefined ? {} : { replayValues }),
  });
}

const minute = (n: number): RrdUpdate => ({ path: FILE, type: 'gauge', timestamp: n * 60, value: n });

describe('RrdcachedWriter (in-memory daemon)', () => {
  it('sends recent values again after the daemon restarted, so what it lost comes back', async () => {
    const daemon = new FakeRrdcached();
    const write = writer(daemon);
    for (let n = 1; n <= 5; n++) await write.write([minute(n)]);
    daemon.restart(2);
    expect(daemon.files.get(FILE)).toEqual([60, 120, 180]);
    const report = await write.write([minute(6)]);
    // The replay's own duplicates stay out of the caller's report.
    expect(report).toEqual({ accepted: 1, duplicates: 0, created: 0, failed: [] });
    expect(daemon.files.get(FILE)).toEqual([60, 120, 180, 240, 300, 360]);
  });

  it('without a replay buffer the lost tail stays lost (what the replay is for)', async () => {
    const daemon = new FakeRrdcached();
    const write = writer(daemon, 0);
    for (let n = 1; n <= 5; n++) await write.write([minute(n)]);
    daemon.restart(2);
    await write.write([minute(6)]);
    expect(daemon.files.get(FILE)).toEqual([60, 120, 180, 360]);
  });

  it('sends a batch again when the connection broke before the answer; what had run counts as duplicates', async () => {
    const daemon = new FakeRrdcached();
    const write = writer(daemon, 0);
    daemon.dropAfterRunning = 1;
    const report = await write.write([minute(1), minute(2)]);
    expect(report).toMatchObject({ accepted: 0, duplicates: 2, failed: [] });
    expect(daemon.files.get(FILE)).toEqual([60, 120]);
    expect(daemon.batches).toBe(2);
  });
});
