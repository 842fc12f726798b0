import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTemplatesWithRrdtool } from '../../src/core/graphs/check.js';
import { loadTemplates } from '../../src/core/graphs/loader.js';
import { createGraphService, type KuradoGraphService } from '../../src/core/graphs/service.js';
import type { GraphRequest } from '../../src/core/graphs/types.js';
import { rrdFilePath } from '../../src/core/rrd/layout.js';
import { RrdtoolProcess } from '../../src/core/rrd/rrdtool-process.js';
import type { MetaEntry } from '../../src/core/store/types.js';
import { templateMetrics, writeFixtureRrds } from '../helpers/graph-fixtures.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const HOST = '10.1.2.3';
const NOW = Math.floor(Date.now() / 1000);
const ITEMS = ['eth0', 'mapper_vg-root', 'sda'];
const PLUGINS: [string, string][] = [
  ['base', 'base'],
  ['nginx', 'nginx:8080:/nginx_status'],
  ['http', 'http'],
  ['mysql', 'mysql:3307'],
  ['redis', 'redis'],
  ['memcached', 'memcached:11211'],
];

function meta(name: string, value: string, plugin = 'base'): MetaEntry {
  return { host: HOST, plugin, name, value, timestamp: NOW };
}

const META: MetaEntry[] = [
  meta('traffic-interfaces', 'eth0'),
  meta('disk-usage-devices', 'mapper_vg-root'),
  meta('disk-usage-mapper_vg-root-mount', '/'),
  meta('disk-io-devices', 'sda'),
];

function request(plugin: string, graph: string, extra: Partial<GraphRequest> = {}): GraphRequest {
  return { host: HOST, plugin, graph, term: '8hours', width: 500, height: 100, ...extra };
}

describe('every shipped template against real RRD files', () => {
  let dataDir: string;
  let service: KuradoGraphService;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-graph-render-'));
    const templates = loadTemplates();
    for (const [name, plugin] of PLUGINS) {
      const template = templates.templates.get(name)!;
      // Per-item graphs only for the items of their own list (eth0 for traffic, sda for disk IO…).
      const metrics = templateMetrics(template, ITEMS).filter(
        (m) =>
          !(m.name.startsWith('traffic-') && !m.name.startsWith('traffic-eth0')) &&
          !(m.name.startsWith('disk-usage-') && !m.name.includes('mapper_vg-root')) &&
          !(m.name.startsWith('disk-io-') && !m.name.startsWith('disk-io-sda')),
      );
      await writeFixtureRrds({ dataDir, host: HOST, plugin, metrics, end: NOW, hours: 6 });
    }
    await writeFixtureRrds({
      dataDir,
      host: HOST,
      plugin: 'process',
      metrics: [
        { name: 'fork', type: 'derive' },
        { name: 'procs', type: 'gauge' },
      ],
      end: NOW,
    });
    service = createGraphService({ dataDir, poolSize: 2 });
  });

  afterAll(async () => {
    await service?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists every graph of every plugin on the host, base first, template-less plugins automatically', async () => {
    const listed = await service.list(HOST, META);
    expect(listed.map((p) => p.plugin)).toEqual([
      'base',
      'http',
      'memcached:11211',
      'mysql:3307',
      'nginx:8080:/nginx_status',
      'process',
      'redis',
    ]);
    const base = listed[0]!;
    expect(base.groups.map((g) => g.title)).toEqual([
      'Traffic(eth0)',
      'CPU Memory',
      'Disk Usage(/)',
      'Disk IO(sda)',
    ]);
    expect(listed.find((p) => p.plugin === 'process')?.groups).toEqual([
      {
        title: 'process',
        graphs: [
          { plugin: 'process', key: 'fork.derive', title: 'fork/s' },
          { plugin: 'process', key: 'procs.gauge', title: 'procs' },
        ],
      },
    ]);
    expect(listed.find((p) => p.plugin === 'mysql:3307')?.groups.map((g) => g.title)).toEqual([
      'MySQL (3307)',
      'MySQL replication (3307)',
      'MySQL InnoDB (3307)',
    ]);
    const total = listed.reduce((n, p) => n + p.groups.reduce((m, g) => m + g.graphs.length, 0), 0);
    // 8 base + 2 nginx + 2 http + 17 mysql + 9 redis + 6 memcached + 2 automatic.
    expect(total).toBe(46);
  });

  it('renders every listed graph as a PNG of the requested size, with numbers in its legend', async () => {
    const listed = await service.list(HOST, META);
    for (const plugin of listed) {
      for (const group of plugin.groups) {
        for (const graph of group.graphs) {
          const req = request(plugin.plugin, graph.key);
          const png = await service.renderPng(req, META);
          expect(png.subarray(0, 8), `${plugin.plugin}/${graph.key}`).toEqual(PNG_MAGIC);
          // The same arguments through graphv: rrdtool reports the canvas it drew.
          const result = await service.pool.run([
            'graphv',
            '-',
            ...(await service.graphArguments(req, META)),
          ]);
          const info = Object.fromEntries(
            result.text.split('\n').map((line) => line.split(' = ') as [string, string]),
          );
          expect(Number(info.graph_width), `${plugin.plugin}/${graph.key}`).toBe(500);
          expect(Number(info.graph_height)).toBe(100);
          expect(Number(info.image_width)).toBeGreaterThan(500);
          expect(Number(info.image_height)).toBeGreaterThan(100);
          const legends = Object.entries(info).filter(([k]) => k.startsWith('legend['));
          expect(
            legends.some(([, v]) => /Cur:\s*[0-9]/.test(v)),
            `${plugin.plugin}/${graph.key}: ${JSON.stringify(legends)}`,
          ).toBe(true);
        }
      }
    }
  });

  it('lets rrdtool accept the arguments of every shipped template (config check dry run)', async () => {
    expect((await checkTemplatesWithRrdtool(loadTemplates())).map((e) => e.message)).toEqual([]);
  });

  it('draws CPU shares that add up to 100 %', async () => {
    const data = await service.exportData(request('base', 'cpu', { term: '4hours' }), META);
    expect(data.legends).toEqual([
      'User',
      'Nice',
      'System',
      'Idle',
      'Wait',
      'Intr',
      'SoftIRQ',
      'Steal',
      'Guest',
      'GstNice',
    ]);
    const full = data.rows.filter((r) => r.values.every((v) => v !== null));
    expect(full.length).toBeGreaterThan(100);
    for (const row of full) expect(row.values.reduce((a, b) => a! + b!, 0)).toBeCloseTo(100, 6);
    expect(data.step).toBe(60);
  });

  it('draws disk IO in bytes: sectors per second × 512', async () => {
    const bytes = await service.exportData(request('base', 'disk-io-byte-sda'), META);
    const sectors = await service.exportData(request('base', 'disk-io-sda-read-sectors.derive'), META);
    expect(bytes.legends).toEqual(['Read/s', 'Write/s']);
    const rate = new Map(sectors.rows.map((r) => [r.timestamp, r.values[0]]));
    const compared = bytes.rows.filter((r) => r.values[0] !== null && rate.get(r.timestamp) != null);
    expect(compared.length).toBeGreaterThan(100);
    for (const row of compared) expect(row.values[0]! / rate.get(row.timestamp)!).toBeCloseTo(512, 6);
  });

  it('draws traffic in bits per second and a disk usage prediction line', async () => {
    const traffic = await service.exportData(request('base', 'traffic-eth0'), META);
    const rx = await service.exportData(request('base', 'traffic-eth0-rxbytes.derive'), META);
    expect(traffic.legends).toEqual(['Inbound', 'Outbound']);
    const row = traffic.rows.find((r) => r.values[0] !== null)!;
    const raw = rx.rows.find((r) => r.timestamp === row.timestamp)!.values[0]!;
    expect(row.values[0]! / raw).toBeCloseTo(8, 6);
    const usage = await service.exportData(request('base', 'disk-usage-mapper_vg-root'), META);
    expect(usage.legends).toEqual(['Capacity', 'Total', 'Used', 'Prediction']);
    // The prediction is a straight line over the whole range, also where no data was stored.
    expect(usage.rows[0]?.values[3]).not.toBeNull();
  });

  it('reports an unknown graph, plugin or host as not found with what exists', async () => {
    await expect(service.renderPng(request('base', 'cpux'), META)).rejects.toThrow(
      /no graph "cpux" for plugin "base"; available: traffic-eth0, cpu,/,
    );
    await expect(service.renderPng(request('varnish', 'hits'), META)).rejects.toThrow(
      /has no data for plugin "varnish"; plugins: base, http,/,
    );
    await expect(service.renderPng({ ...request('base', 'cpu'), host: '10.9.9.9' }, META)).rejects.toThrow(
      /no data for host "10.9.9.9"/,
    );
    await expect(service.renderPng(request('base', 'cpu', { width: 5 }), META)).rejects.toThrow(
      /width must be/,
    );
    await expect(service.renderPng(request('base', 'cpu', { term: 'custom' }), META)).rejects.toThrow(
      /needs both from and to/,
    );
  });

  it('draws a custom range', async () => {
    const png = await service.renderPng(
      request('base', 'loadavg-1', { term: 'custom', from: NOW - 2 * 3600, to: NOW - 3600 }),
      META,
    );
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
    const data = await service.exportData(
      request('base', 'loadavg-1', { term: 'custom', from: NOW - 2 * 3600, to: NOW - 3600 }),
      META,
    );
    expect(data.rows[0]!.timestamp).toBeGreaterThanOrEqual(NOW - 2 * 3600 - 60);
    expect(data.rows.at(-1)!.timestamp).toBeLessThanOrEqual(NOW - 3600 + 60);
  });
});

describe('the render pool', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-graph-pool-'));
    await writeFixtureRrds({
      dataDir,
      host: HOST,
      plugin: 'app',
      metrics: [{ name: 'load', type: 'gauge' }],
      end: NOW,
      hours: 48,
    });
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('replaces a worker killed in the middle of a render; that render and the next succeed', async () => {
    const service = createGraphService({ dataDir, poolSize: 1 });
    try {
      const req = request('app', 'load.gauge', { term: 'year', width: 2000, height: 800 });
      await service.renderPng(req, []);
      const pid = service.pool.pids()[0]!;
      const inFlight = service.renderPng(req, []);
      process.kill(pid, 'SIGKILL');
      expect((await inFlight).subarray(0, 8)).toEqual(PNG_MAGIC);
      expect((await service.renderPng(req, [])).subarray(0, 8)).toEqual(PNG_MAGIC);
      expect(service.pool.pids()[0]).not.toBe(pid);
    } finally {
      await service.close();
    }
  });

  it('kills a hung worker after the timeout and draws the next graph with a fresh one', async () => {
    const service = createGraphService({ dataDir, poolSize: 1, timeoutMs: 1500 });
    try {
      const req = request('app', 'load.gauge');
      await service.renderPng(req, []);
      const pid = service.pool.pids()[0]!;
      process.kill(pid, 'SIGSTOP');
      // The message is for users (no pid, no files); the cause has rrdtool's detail for the log.
      const error = (await service.renderPng(req, []).catch((e: unknown) => e)) as Error;
      expect(error.message).toBe('drawing took longer than 1.5 s and was stopped');
      expect((error.cause as Error).message).toMatch(/did not answer within 1500 ms/);
      expect((await service.renderPng(req, [])).subarray(0, 8)).toEqual(PNG_MAGIC);
      expect(service.pool.pids()[0]).not.toBe(pid);
    } finally {
      await service.close();
    }
  });
});

describe('a missing rrdtool binary', () => {
  it('fails the render loudly, naming the binary', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-graph-nobinary-'));
    const service = createGraphService({ dataDir, poolSize: 1, rrdtoolBinary: '/nonexistent/bin/rrdtool' });
    try {
      await writeFixtureRrds({
        dataDir,
        host: HOST,
        plugin: 'app',
        metrics: [{ name: 'x', type: 'gauge' }],
        end: NOW,
      });
      const error = (await service
        .renderPng(request('app', 'x.gauge'), [])
        .catch((e: unknown) => e)) as Error;
      expect(error.message).toBe('rrdtool could not be started');
      expect((error.cause as Error).message).toMatch(/\/nonexistent\/bin\/rrdtool/);
    } finally {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('rendering when rrdcached is down', () => {
  it('draws from the files directly and says so, instead of failing', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-graph-nodaemon-'));
    const complaints: string[] = [];
    const service = createGraphService({
      dataDir,
      poolSize: 1,
      rrdcached: `unix:${path.join(dataDir, 'no-such.sock')}`,
      onDaemonUnreachable: (message) => complaints.push(message),
    });
    try {
      await writeFixtureRrds({
        dataDir,
        host: HOST,
        plugin: 'app',
        metrics: [{ name: 'x', type: 'gauge' }],
        end: NOW,
      });
      const req = request('app', 'x.gauge');
      expect((await service.renderPng(req, [])).subarray(0, 8)).toEqual(PNG_MAGIC);
      const data = await service.exportData(req, []);
      expect(data.rows.filter((r) => r.values[0] !== null).length).toBeGreaterThan(100);
      expect(complaints[0]).toMatch(/Unable to connect to rrdcached/);
    } finally {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('rendering through rrdcached', () => {
  let rrdcached: PrivateRrdcached;

  beforeAll(async () => {
    rrdcached = await startRrdcached();
  });
  afterAll(async () => {
    await rrdcached?.stop();
  });

  it('draws a value written seconds ago that rrdcached has not flushed to the file yet', async () => {
    const dataDir = rrdcached.baseDir;
    const last = NOW - (NOW % 60) - 120;
    await writeFixtureRrds({
      dataDir,
      host: HOST,
      plugin: 'app',
      metrics: [{ name: 'temperature', type: 'gauge' }],
      end: last,
      hours: 2,
    });
    const file = rrdFilePath(dataDir, HOST, 'app', 'temperature', 'gauge');
    // Written through the daemon (-w 3600): it stays in rrdcached's queue, not in the file.
    const client = new RrdtoolProcess({ daemon: rrdcached.address });
    try {
      await client.run(['update', file, `${last + 60}:4242`]);
    } finally {
      await client.close();
    }
    const req = request('app', 'temperature.gauge', { term: '1hour' });
    const direct = createGraphService({ dataDir, poolSize: 1 });
    const cached = createGraphService({ dataDir, poolSize: 1, rrdcached: rrdcached.address });
    try {
      const valueAt = (rows: { timestamp: number; values: (number | null)[] }[]) =>
        rows.find((r) => r.timestamp === last + 60)?.values[0];
      expect(valueAt((await direct.exportData(req, [])).rows)).toBeNull();
      expect(valueAt((await cached.exportData(req, [])).rows)).toBe(4242);
      const png = await cached.renderPng(req, []);
      expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
      const text = (await cached.pool.run(['graphv', '-', ...(await cached.graphArguments(req, []))])).text;
      expect(text).toMatch(/legend\[\d+\] = "Cur:\s*4\.24k?\s*"/);
    } finally {
      await direct.close();
      await cached.close();
    }
  });
});
