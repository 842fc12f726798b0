import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rrdFilePath } from '../../src/core/rrd/layout.js';
import { RrdcachedClient } from '../../src/core/rrd/rrdcached.js';
import { RrdtoolProcess } from '../../src/core/rrd/rrdtool-process.js';
import type { RrdUpdate, RrdWriter } from '../../src/core/rrd/types.js';
import { createRrdWriter, RrdcachedWriter, RrdtoolWriter } from '../../src/core/rrd/writer.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

/** A recent minute boundary, so the 1-minute archive (2 days) covers every test value. */
const T0 = Math.floor(Date.now() / 1000 / 60) * 60 - 6 * 3600;
const at = (minute: number) => T0 + minute * 60;

interface Backend {
  writer: RrdWriter;
  dataDir: string;
  /** Reads files the way a graph does: through the daemon when there is one. */
  reader: RrdtoolProcess;
  /**
   * The name the reader must use: over TCP the rrdtool client refuses absolute paths ("absolute
   * path names not allowed when talking to a remote daemon") and the daemon resolves relative
   * ones against its -b.
   */
  readPath(file: string): string;
  daemon?: PrivateRrdcached;
  /** Make the daemon forget a file (as after a restart), so a deletion underneath shows. */
  forget(file: string): Promise<void>;
  stop(): Promise<void>;
}

const backends: { name: string; start(): Promise<Backend> }[] = [
  {
    name: 'RrdtoolWriter (rrdtool -)',
    async start() {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-rrdtool-writer-'));
      const writer = new RrdtoolWriter({ dataDir });
      const reader = new RrdtoolProcess({ env: { RRDCACHED_ADDRESS: '' } });
      return {
        writer,
        dataDir,
        reader,
        readPath: (file) => file,
        forget: async () => {},
        stop: async () => {
          await writer.close();
          await reader.close();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  ...[false, true].map((tcp) => ({
    name: `RrdcachedWriter over ${tcp ? 'TCP' : 'a unix socket'}`,
    async start(): Promise<Backend> {
      const daemon = await startRrdcached({ tcp });
      const writer = new RrdcachedWriter({ dataDir: daemon.baseDir, rrdcached: daemon.address });
      const reader = new RrdtoolProcess({ daemon: daemon.address });
      const control = new RrdcachedClient(daemon.address);
      return {
        writer,
        dataDir: daemon.baseDir,
        reader,
        readPath: (file) => (tcp ? path.relative(daemon.baseDir, file) : file),
        daemon,
        forget: async (file) => {
          await control.flush(file);
          await control.batch([`FORGET ${file}`]);
        },
        stop: async () => {
          await writer.close();
          await reader.close();
          await control.close();
          await daemon.stop();
        },
      };
    },
  })),
];

/** AVERAGE rows of the 1-minute archive: timestamp → value, null for unknown. */
async function fetchRows(b: Pick<Backend, 'reader' | 'readPath'>, file: string, from: number, to: number) {
  const { text } = await b.reader.run([
    'fetch',
    b.readPath(file),
    'AVERAGE',
    '-r',
    '60',
    '-s',
    String(from - 60),
    '-e',
    String(to),
  ]);
  const rows = new Map<number, number | null>();
  for (const line of text.split('\n')) {
    const match = /^(\d+): (\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    rows.set(Number(match[1]), Number.isNaN(value) ? null : value);
  }
  return rows;
}

async function info(b: Backend, file: string): Promise<Map<string, string>> {
  const { text } = await b.reader.run(['info', b.readPath(file)]);
  const result = new Map<string, string>();
  for (const line of text.split('\n')) {
    const split = line.indexOf(' = ');
    if (split > 0) result.set(line.slice(0, split), line.slice(split + 3).replace(/^"|"$/g, ''));
  }
  return result;
}

describe.each(backends)('$name', (backend) => {
  let b: Backend;
  beforeEach(async () => {
    b = await backend.start();
  });
  afterEach(async () => {
    await b.stop();
  });

  const file = (name: string, type: RrdUpdate['type'] = 'gauge', host = 'web01') =>
    rrdFilePath(b.dataDir, host, 'base', name, type);

  it('creates one file per metric with step 60, DS n of the right type and 12 archives, values readable', async () => {
    const load = file('loadavg-1');
    const cpu = file('cpu-user', 'derive');
    const report = await b.writer.write([
      { path: load, type: 'gauge', timestamp: at(1), value: 0.5 },
      { path: cpu, type: 'derive', timestamp: at(1), value: 1000 },
      { path: load, type: 'gauge', timestamp: at(2), value: 1.25 },
      { path: cpu, type: 'derive', timestamp: at(2), value: 7000 },
    ]);
    expect(report).toEqual({ accepted: 4, duplicates: 0, created: 2, failed: [] });

    const loadInfo = await info(b, load);
    expect(loadInfo.get('step')).toBe('60');
    expect(loadInfo.get('ds[n].type')).toBe('GAUGE');
    expect(loadInfo.get('ds[n].minimal_heartbeat')).toBe('120');
    const archives = [...loadInfo.keys()].filter((key) => /^rra\[\d+\]\.cf$/.test(key));
    expect(archives).toHaveLength(12);
    expect(new Set(archives.map((key) => loadInfo.get(key)))).toEqual(new Set(['AVERAGE', 'MIN', 'MAX']));
    expect((await info(b, cpu)).get('ds[n].type')).toBe('DERIVE');

    const rows = await fetchRows(b, load, at(1), at(2));
    expect(rows.get(at(2))).toBe(1.25);
    // 6000 over 60 s
    expect((await fetchRows(b, cpu, at(2), at(2))).get(at(2))).toBe(100);
  });

  it('stores several values per file given in any order, and null as unknown', async () => {
    const target = file('memory-used');
    const report = await b.writer.write([
      { path: target, type: 'gauge', timestamp: at(3), value: 30 },
      { path: target, type: 'gauge', timestamp: at(1), value: 10 },
      { path: target, type: 'gauge', timestamp: at(4), value: null },
      { path: target, type: 'gauge', timestamp: at(2), value: 20 },
      { path: target, type: 'gauge', timestamp: at(5), value: 50 },
    ]);
    expect(report).toEqual({ accepted: 5, duplicates: 0, created: 1, failed: [] });
    const rows = await fetchRows(b, target, at(1), at(5));
    expect([at(1), at(2), at(3), at(4), at(5)].map((t) => rows.get(t))).toEqual([10, 20, 30, null, 50]);
  });

  it('stores a long backlog for one file (an agent spool after an outage) in one write', async () => {
    const target = file('spooled');
    // 1,000 values make an UPDATE of about 25 KB, over rrdcached's 8 KB line limit.
    const backlog = Array.from({ length: 1000 }, (_, minute) => ({
      path: target,
      type: 'gauge' as const,
      timestamp: at(minute + 1),
      value: minute + 0.123456789,
    }));
    expect(await b.writer.write(backlog)).toEqual({ accepted: 1000, duplicates: 0, created: 1, failed: [] });
    const rows = await fetchRows(b, target, at(1), at(1000));
    // rrdtool fetch prints 11 significant digits.
    expect(rows.get(at(1))).toBeCloseTo(0.123456789, 8);
    expect(rows.get(at(500))).toBeCloseTo(499.123456789, 6);
    expect(rows.get(at(1000))).toBeCloseTo(999.123456789, 6);
    const unknown = [...rows].filter(([time, value]) => time >= at(1) && time <= at(1000) && value === null);
    expect(unknown).toEqual([]);
  });

  it('counts a redelivered message as duplicates, and keeps the new values that come with old ones', async () => {
    const target = file('disk-used');
    const first = [1, 2, 3].map((minute) => ({
      path: target,
      type: 'gauge' as const,
      timestamp: at(minute),
      value: minute,
    }));
    await b.writer.write(first);
    expect(await b.writer.write(first)).toEqual({ accepted: 0, duplicates: 3, created: 0, failed: [] });
    // An agent's spool resent minutes 2-3 together with new minutes 4-6 in one message.
    const mixed = [2, 3, 4, 5, 6].map((minute) => ({
      path: target,
      type: 'gauge' as const,
      timestamp: at(minute),
      value: minute * 10,
    }));
    expect(await b.writer.write(mixed)).toEqual({ accepted: 3, duplicates: 2, created: 0, failed: [] });
    // The same timestamp twice in one write keeps the first value.
    expect(
      await b.writer.write([
        { path: target, type: 'gauge', timestamp: at(7), value: 70 },
        { path: target, type: 'gauge', timestamp: at(7), value: 71 },
      ]),
    ).toEqual({ accepted: 1, duplicates: 1, created: 0, failed: [] });
    const rows = await fetchRows(b, target, at(1), at(7));
    expect([1, 2, 3, 4, 5, 6, 7].map((minute) => rows.get(at(minute)))).toEqual([1, 2, 3, 40, 50, 60, 70]);
  });

  it('writes fractional and huge counter/derive values without losing the file', async () => {
    const derive = file('net-rx', 'derive');
    const counter = file('net-tx', 'counter');
    const report = await b.writer.write([
      { path: derive, type: 'derive', timestamp: at(1), value: 0 },
      { path: derive, type: 'derive', timestamp: at(2), value: 600.4 },
      { path: counter, type: 'counter', timestamp: at(1), value: 1e21 },
      { path: counter, type: 'counter', timestamp: at(2), value: 1e21 + 6e6 },
      { path: counter, type: 'counter', timestamp: at(3), value: -5 },
    ]);
    expect(report.failed).toEqual([]);
    expect((await fetchRows(b, derive, at(2), at(2))).get(at(2))).toBe(10);
    const counterRows = await fetchRows(b, counter, at(2), at(3));
    expect(counterRows.get(at(2))).toBeGreaterThan(0);
    expect(counterRows.get(at(3))).toBeNull();
  });

  it('creates the file again when it was deleted underneath', async () => {
    const target = file('uptime');
    await b.writer.write([{ path: target, type: 'gauge', timestamp: at(1), value: 1 }]);
    await b.forget(target);
    unlinkSync(target);
    const report = await b.writer.write([{ path: target, type: 'gauge', timestamp: at(2), value: 2 }]);
    expect(report).toEqual({ accepted: 1, duplicates: 0, created: 1, failed: [] });
    expect((await fetchRows(b, target, at(2), at(2))).get(at(2))).toBe(2);
  });

  it('keeps metric names inside data_dir however hostile they are', async () => {
    const hostile = rrdFilePath(b.dataDir, '../../etc', '..', '../../passwd', 'gauge');
    const report = await b.writer.write([{ path: hostile, type: 'gauge', timestamp: at(1), value: 1 }]);
    expect(report.created).toBe(1);
    expect(path.relative(b.dataDir, hostile).split(path.sep)[0]).not.toBe('..');
    expect(path.relative(b.dataDir, hostile).split(path.sep)).toHaveLength(3);
    expect((await fetchRows(b, hostile, at(1), at(1))).get(at(1))).toBe(1);
  });

  it('names the file when a value is refused for another reason than a duplicate', async () => {
    // A directory that is a regular file: neither rrdcached nor rrdtool can create below it.
    const blocker = path.join(b.dataDir, 'not-a-directory');
    writeFileSync(blocker, '');
    const outside = path.join(blocker, 'x.rrd');
    const good = file('ok');
    const report = await b.writer.write([
      { path: outside, type: 'gauge', timestamp: at(1), value: 1 },
      { path: good, type: 'gauge', timestamp: at(1), value: 1 },
    ]);
    expect(report.accepted).toBe(1);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]?.path).toBe(outside);
    expect(report.failed[0]?.reason).toContain(outside);
  });
});

describe.each([false, true])('RrdcachedWriter across daemon restarts (tcp: %s)', (tcp) => {
  let daemon: PrivateRrdcached;
  beforeEach(async () => {
    daemon = await startRrdcached({ tcp });
  });
  afterEach(async () => {
    await daemon.stop();
  });

  it.each(['SIGKILL', 'SIGTERM'] as const)(
    'keeps every value written before and after a %s restart in the middle of a stream',
    async (signal) => {
      const writer = new RrdcachedWriter({ dataDir: daemon.baseDir, rrdcached: daemon.address });
      const files = Array.from({ length: 40 }, (_, i) =>
        rrdFilePath(daemon.baseDir, `host${i}`, 'base', 'load', 'gauge'),
      );
      const minutes = 40;
      let restarted: Promise<void> | undefined;
      for (let minute = 1; minute <= minutes; minute++) {
        // The restart runs while writes go on: those writes wait for the daemon to come back.
        if (minute === 20) restarted = daemon.restart(signal);
        const report = await writer.write(
          files.map((target, i) => ({
            path: target,
            type: 'gauge',
            timestamp: at(minute),
            value: minute * 100 + i,
          })),
        );
        expect(report.failed).toEqual([]);
      }
      await restarted;
      await writer.close();
      const reader = new RrdtoolProcess({ daemon: daemon.address });
      try {
        for (const [i, target] of files.entries()) {
          const readPath = (file: string) => (tcp ? path.relative(daemon.baseDir, file) : file);
          const rows = await fetchRows({ reader, readPath }, target, at(1), at(minutes));
          const missing = Array.from({ length: minutes }, (_, m) => m + 1).filter(
            (minute) => rows.get(at(minute)) !== minute * 100 + i,
          );
          expect(missing, `${target}: minutes missing or wrong`).toEqual([]);
        }
      } finally {
        await reader.close();
      }
    },
  );

  it('rejects a write naming the address when the daemon stays away', async () => {
    const writer = new RrdcachedWriter({
      dataDir: daemon.baseDir,
      rrdcached: daemon.address,
      unreachableAfterMs: 300,
    });
    await daemon.kill('SIGKILL');
    const target = rrdFilePath(daemon.baseDir, 'h', 'base', 'load', 'gauge');
    const started = Date.now();
    await expect(writer.write([{ path: target, type: 'gauge', timestamp: at(1), value: 1 }])).rejects.toThrow(
      `rrdcached at ${daemon.address} unreachable`,
    );
    // It waited for the daemon to come back (the bound) and then gave up instead of hanging.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(5000);
    await writer.close();
  });
});

describe('createRrdWriter', () => {
  it('writes through rrdcached when an address is given and through rrdtool otherwise', async () => {
    const daemon = await startRrdcached();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-create-writer-'));
    try {
      const viaDaemon = createRrdWriter({ dataDir: daemon.baseDir, rrdcached: daemon.address });
      expect(viaDaemon).toBeInstanceOf(RrdcachedWriter);
      const target = rrdFilePath(daemon.baseDir, 'h', 'base', 'load', 'gauge');
      await viaDaemon.write([{ path: target, type: 'gauge', timestamp: at(1), value: 1 }]);
      const control = new RrdcachedClient(daemon.address);
      // The value waits in the daemon's queue (-w 3600), not in the file yet.
      expect((await control.stats()).UpdatesReceived).toBe(1);
      await control.close();
      await viaDaemon.close();

      const direct = createRrdWriter({ dataDir });
      expect(direct).toBeInstanceOf(RrdtoolWriter);
      const local = rrdFilePath(dataDir, 'h', 'base', 'load', 'gauge');
      expect(await direct.write([{ path: local, type: 'gauge', timestamp: at(1), value: 1 }])).toMatchObject({
        accepted: 1,
        created: 1,
      });
      await direct.close();
    } finally {
      await daemon.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
