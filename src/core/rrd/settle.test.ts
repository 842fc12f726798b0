import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CREATES_PER_BATCH, MAX_CONNECTION_RETRIES, MAX_ROUNDS, type RoundIo, storeFiles } from './settle.js';
import type { RrdUpdate, WriteReport } from './types.js';
import { emptyReport, groupByFile, type Operation } from './write-plan.js';

const DATA = '/data';
const FILE = path.join(DATA, 'web1', 'base', 'load.gauge.rrd');

/**
 * An RRD tree in memory answering like rrdtool/rrdcached: a file keeps its last update time and
 * refuses a value at or before it, stopping the line there (what came before is kept).
 */
class FakeRrd {
  readonly files = new Map<string, { last: number; values: Map<number, number | null> }>();
  readonly directories = new Set<string>([path.join(DATA, 'web1', 'base')]);
  readonly batches: Operation[][] = [];
  /** Throw this many times before answering (a daemon restarting under the batch). */
  failures: { error: Error; times: number } | undefined;

  readonly io: RoundIo = {
    execute: async (operations) => this.execute(operations),
    isRetryable: (error) => (error as Error).message === 'connection lost',
    makeDirectories: async (directory) => {
      this.directories.add(directory);
    },
  };

  private execute(operations: readonly Operation[]): (string | undefined)[] {
    this.batches.push([...operations]);
    if (this.failures && this.failures.times > 0) {
      this.failures.times--;
      throw this.failures.error;
    }
    return operations.map((operation) => {
      const file = operation.file;
      if (operation.kind === 'create') {
        if (this.files.has(file.path)) return `creating '${file.path}': File exists`;
        if (!this.directories.has(path.dirname(file.path)))
          return `creating '${file.path}': No such file or directory`;
        this.files.set(file.path, { last: (file.timestamps[0] as number) - 60, values: new Map() });
        return undefined;
      }
      const stored = this.files.get(file.path);
      if (!stored) return `No such file: ${file.path}`;
      for (let at = operation.from; at < operation.to; at++) {
        const timestamp = file.timestamps[at] as number;
        if (timestamp <= stored.last)
          return `illegal attempt to update using time ${timestamp} when last update time is ${stored.last}`;
        stored.values.set(timestamp, file.values[at] as number | null);
        stored.last = timestamp;
      }
      return undefined;
    });
  }

  stored(file = FILE): [number, number | null][] {
    return [...(this.files.get(file)?.values ?? [])];
  }
}

function values(...timestamps: number[]): RrdUpdate[] {
  return timestamps.map((timestamp) => ({ path: FILE, type: 'gauge', timestamp, value: timestamp / 60 }));
}

async function write(rrd: FakeRrd, known: Set<string>, updates: RrdUpdate[]): Promise<WriteReport> {
  const report = emptyReport();
  await storeFiles(groupByFile(updates, report), report, { known, dataDir: DATA, io: rrd.io });
  return report;
}

describe('storeFiles (the write rounds, against an RRD tree in memory)', () => {
  it('creates a file it does not know in the same batch as its update, then never again', async () => {
    const rrd = new FakeRrd();
    const known = new Set<string>();
    expect(await write(rrd, known, values(60, 120))).toEqual({
      accepted: 2,
      duplicates: 0,
      created: 1,
      failed: [],
    });
    expect(rrd.batches[0]?.map((operation) => operation.kind)).toEqual(['create', 'update']);
    expect(await write(rrd, known, values(180))).toMatchObject({ accepted: 1, created: 0 });
    expect(rrd.batches[1]?.map((operation) => operation.kind)).toEqual(['update']);
    expect(rrd.stored().map(([timestamp]) => timestamp)).toEqual([60, 120, 180]);
  });

  it('takes "File exists" as a known file, not as a creation or a failure', async () => {
    const rrd = new FakeRrd();
    await write(rrd, new Set(), values(60));
    const another = new Set<string>(); // a second receiver that has not seen the file
    expect(await write(rrd, another, values(120))).toEqual({
      accepted: 1,
      duplicates: 0,
      created: 0,
      failed: [],
    });
    expect(another.has(FILE)).toBe(true);
  });

  it('counts a redelivered message as duplicates and stores the new values sent with it', async () => {
    const rrd = new FakeRrd();
    const known = new Set<string>();
    await write(rrd, known, values(60, 120, 180));
    const report = await write(rrd, known, values(120, 180, 240, 300));
    expect(report).toEqual({ accepted: 2, duplicates: 2, created: 0, failed: [] });
    expect(rrd.stored().map(([timestamp]) => timestamp)).toEqual([60, 120, 180, 240, 300]);
    // The refused UPDATE came back in a second round holding only the newer values.
    const second = rrd.batches[2]?.[0];
    expect(second?.kind === 'update' && [second.from, second.to]).toEqual([2, 4]);
  });

  it('keeps the first of two values with one timestamp in one write, counting the second', async () => {
    const rrd = new FakeRrd();
    const report = await write(rrd, new Set(), [
      { path: FILE, type: 'gauge', timestamp: 120, value: 1 },
      { path: FILE, type: 'gauge', timestamp: 60, value: 2 },
      { path: FILE, type: 'gauge', timestamp: 120, value: 3 },
    ]);
    expect(report).toMatchObject({ accepted: 2, duplicates: 1 });
    expect(rrd.stored()).toEqual([
      [60, 2],
      [120, 1],
    ]);
  });

  it('creates a known file again once when it was deleted underneath', async () => {
    const rrd = new FakeRrd();
    const known = new Set<string>();
    await write(rrd, known, values(60));
    rrd.files.delete(FILE);
    expect(await write(rrd, known, values(120))).toEqual({
      accepted: 1,
      duplicates: 0,
      created: 1,
      failed: [],
    });
    expect(rrd.stored()).toEqual([[120, 2]]);
  });

  it('makes a missing directory and creates the file in the next round', async () => {
    const rrd = new FakeRrd();
    rrd.directories.clear();
    expect(await write(rrd, new Set(), values(60))).toEqual({
      accepted: 1,
      duplicates: 0,
      created: 1,
      failed: [],
    });
    expect(rrd.directories.has(path.dirname(FILE))).toBe(true);
    expect(rrd.batches).toHaveLength(2);
  });

  it(`creates more than ${CREATES_PER_BATCH} new files in batches of CREATEs alone, then updates them all`, async () => {
    const rrd = new FakeRrd();
    const known = new Set<string>([FILE]);
    rrd.files.set(FILE, { last: 0, values: new Map() });
    const count = CREATES_PER_BATCH * 2 + 50;
    const updates: RrdUpdate[] = values(60);
    for (let index = 0; index < count; index++) {
      // The last file's directory is missing: its CREATE fails, the directory is made, and its
      // UPDATE ("No such file") brings the CREATE back in the next round.
      const dir = index === count - 1 ? 'new-dir' : 'base';
      for (const timestamp of [60, 120]) {
        updates.push({
          path: path.join(DATA, 'web1', dir, `m${index}.gauge.rrd`),
          type: 'gauge',
          timestamp,
          value: index,
        });
      }
    }
    expect(await write(rrd, known, updates)).toEqual({
      accepted: count * 2 + 1,
      duplicates: 0,
      created: count,
      failed: [],
    });
    const kinds = rrd.batches.map((batch) =>
      [...new Set(batch.map((operation) => operation.kind))].join('+'),
    );
    expect(kinds).toEqual(['create', 'create', 'create', 'update', 'create+update']);
    expect(rrd.batches.slice(0, 3).map((batch) => batch.length)).toEqual([
      CREATES_PER_BATCH,
      CREATES_PER_BATCH,
      50,
    ]);
    // The known file's value went with the first UPDATE batch.
    expect(rrd.stored().map(([timestamp]) => timestamp)).toEqual([60]);
    expect(rrd.stored(path.join(DATA, 'web1', 'new-dir', `m${count - 1}.gauge.rrd`))).toHaveLength(2);
  });

  it('fails a file whose CREATE is refused for another reason, naming it, and stores the others', async () => {
    const rrd = new FakeRrd();
    const other = path.join(DATA, 'web1', 'base', 'other.gauge.rrd');
    const original = rrd.io.execute;
    const io: RoundIo = {
      ...rrd.io,
      execute: async (operations) =>
        (await original(operations)).map((error, index) => {
          const operation = operations[index] as Operation;
          return operation.kind === 'create' && operation.file.path === other
            ? 'creating: Permission denied'
            : error;
        }),
    };
    const report = emptyReport();
    const updates = [...values(60), { path: other, type: 'gauge' as const, timestamp: 60, value: 1 }];
    await storeFiles(groupByFile(updates, report), report, { known: new Set(), dataDir: DATA, io });
    expect(report.accepted).toBe(1);
    expect(report.failed).toEqual([
      { path: other, reason: `cannot create ${other}: creating: Permission denied` },
    ]);
  });

  it('sends a batch again when the connection broke under it, and gives up after a few attempts', async () => {
    const rrd = new FakeRrd();
    rrd.failures = { error: new Error('connection lost'), times: MAX_CONNECTION_RETRIES - 1 };
    expect(await write(rrd, new Set(), values(60))).toMatchObject({ accepted: 1, created: 1 });
    expect(rrd.batches).toHaveLength(MAX_CONNECTION_RETRIES);

    const down = new FakeRrd();
    down.failures = { error: new Error('connection lost'), times: Number.POSITIVE_INFINITY };
    await expect(write(down, new Set(), values(60))).rejects.toThrow('connection lost');
    expect(down.batches).toHaveLength(MAX_CONNECTION_RETRIES);
  });

  it('rejects at once on an error that is not a broken connection', async () => {
    const rrd = new FakeRrd();
    rrd.failures = { error: new Error('bad command'), times: 1 };
    await expect(write(rrd, new Set(), values(60))).rejects.toThrow('bad command');
    expect(rrd.batches).toHaveLength(1);
  });

  it(`fails the values still refused after ${MAX_ROUNDS} rounds instead of looping`, async () => {
    const batches: Operation[][] = [];
    const io: RoundIo = {
      execute: async (operations) => {
        batches.push([...operations]);
        // A daemon that refuses the first value as if its clock were behind: never settles.
        return operations.map((operation) =>
          operation.kind === 'update'
            ? `illegal attempt to update using time ${operation.file.timestamps[operation.from]} when last update time is 1`
            : undefined,
        );
      },
      isRetryable: () => false,
      makeDirectories: async () => {},
    };
    const report = emptyReport();
    await storeFiles(groupByFile(values(60, 120), report), report, { known: new Set(), dataDir: DATA, io });
    expect(batches).toHaveLength(MAX_ROUNDS);
    expect(report.failed).toEqual([
      { path: FILE, reason: `values still refused after ${MAX_ROUNDS} rounds` },
    ]);
  });

  it('refuses a path outside data_dir without sending it', async () => {
    const rrd = new FakeRrd();
    const outside = '/etc/passwd.rrd';
    const report = await write(rrd, new Set(), [{ path: outside, type: 'gauge', timestamp: 60, value: 1 }]);
    expect(report.failed).toEqual([{ path: outside, reason: `${outside} is outside data_dir ${DATA}` }]);
    expect(rrd.batches).toHaveLength(0);
  });
});
