/**
 * Service and label graphs end to end: agent messages go through the real Ingestor (rrdtool
 * writer, SQLite store), the Aggregator writes the summaries once a simulated minute, and the
 * numbers the service graphs show are compared with sums worked out by hand. Hosts start late
 * and stop early: a new host counts from its first value (its counters from their second), a
 * silent one stops counting once its last value is older than the 120 s heartbeat.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/core/aggregate/aggregator.js';
import { aggregateSpecs } from '../../src/core/aggregate/summary.js';
import { loadTemplates } from '../../src/core/graphs/loader.js';
import { createGraphService, type KuradoGraphService } from '../../src/core/graphs/service.js';
import type { AggregateGraphRequest, GraphData } from '../../src/core/graphs/types.js';
import { Ingestor } from '../../src/core/ingest/ingestor.js';
import { listHosts } from '../../src/core/rrd/layout.js';
import { RrdtoolWriter } from '../../src/core/rrd/rrdtool-writer.js';
import { openStore } from '../../src/core/store/index.js';
import type { HostRecord, MetaStore } from '../../src/core/store/types.js';

const MINUTES = 10;
/** Minute-aligned start, far enough back that every simulated minute is in the past. */
const T0 = Math.floor(Date.now() / 1000 / 60) * 60 - 30 * 60;
const CPU = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guest-nice'];

interface FixtureHost {
  address: string;
  service: string;
  label: string;
  /** Minutes (0-based) the host sends in. */
  from: number;
  to: number;
  load: number;
  /** cpu-user / cpu-idle ticks per second (the other counters stay still). */
  user: number;
  idle: number;
  /** bytes/s per interface */
  traffic?: Record<string, number>;
}

const HOSTS: FixtureHost[] = [
  {
    address: '10.0.0.1',
    service: 'shop',
    label: 'frontend',
    from: 0,
    to: 9,
    load: 1,
    user: 10,
    idle: 90,
    traffic: { eth0: 1000, eth1: 500 },
  },
  // Starts late: counts from minute 3 (its counters from minute 4).
  { address: '10.0.0.2', service: 'shop', label: 'frontend', from: 3, to: 9, load: 2, user: 50, idle: 50 },
  // Stops early: last value in minute 5, still counted at minute 6 (85 s old), gone from minute 7.
  { address: '10.0.0.3', service: 'shop', label: 'backend', from: 0, to: 5, load: 4, user: 100, idle: 0 },
  { address: '10.0.0.4', service: 'blog', label: '', from: 0, to: 9, load: 8, user: 1, idle: 1 },
];

function record(host: FixtureHost): HostRecord {
  return {
    address: host.address,
    hostname: host.address,
    comments: '',
    service: host.service,
    label: host.label,
    role: 'web',
    plugins: ['base'],
    origin: 'import',
  };
}

/** One agent message of `host` in `minute`, 5 s after the minute starts. */
function message(host: FixtureHost, minute: number): string {
  const at = T0 + minute * 60 + 5;
  const seconds = at - T0;
  const lines = [`base.metrics.loadavg-1.gauge\t${host.load}\t${at}`];
  for (const name of CPU) {
    const rate = name === 'user' ? host.user : name === 'idle' ? host.idle : 0;
    lines.push(`base.metrics.cpu-${name}.derive\t${rate * seconds}\t${at}`);
  }
  for (const [device, rate] of Object.entries(host.traffic ?? {})) {
    lines.push(`base.metrics.traffic-${device}-rxbytes.derive\t${rate * seconds}\t${at}`);
    lines.push(`base.metrics.traffic-${device}-txbytes.derive\t${(rate / 10) * seconds}\t${at}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Hosts of `service` (and `label`) whose values count in the summary written for `minute`. */
function counting(service: string, label: string, minute: number, counters: boolean): FixtureHost[] {
  return HOSTS.filter(
    (h) =>
      h.service === service &&
      (label === '' || h.label === label) &&
      minute >= h.from + (counters ? 1 : 0) &&
      minute <= h.to + 1,
  );
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** The CLI from the sources, stdout a pipe. */
function kurado(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, KURADO_CONFIG: '', KURADO_GRAPHS_DIR: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** The value of a series at the row for `minute` (a summary written at T0 + 60 × minute). */
function at(data: GraphData, legend: string, minute: number): number | null {
  const index = data.legends.indexOf(legend);
  expect(index, `legend "${legend}" in ${data.legends.join(', ')}`).toBeGreaterThanOrEqual(0);
  const row = data.rows.find((r) => r.timestamp === T0 + minute * 60);
  expect(row, `row at minute ${minute}`).toBeDefined();
  return row!.values[index]!;
}

describe('service and label graphs over hosts that come and go', () => {
  let dataDir: string;
  let store: MetaStore;
  let writer: RrdtoolWriter;
  let graphs: KuradoGraphService;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-aggregate-'));
    store = await openStore(`sqlite:${path.join(dataDir, 'kurado.db')}`);
    await store.upsertHosts(HOSTS.map(record));
    writer = new RrdtoolWriter({ dataDir });
    const templates = loadTemplates();
    let clock = T0;
    const ingestor = new Ingestor({ dataDir, writer, store, now: () => clock });
    const aggregator = new Aggregator({
      dataDir,
      store,
      writer,
      specs: aggregateSpecs(templates),
      now: () => clock * 1000,
    });
    for (let minute = 0; minute < MINUTES; minute++) {
      clock = T0 + minute * 60 + 10;
      const sending = HOSTS.filter((h) => minute >= h.from && minute <= h.to);
      await ingestor.ingest(sending.map((h) => ({ host: h.address, payload: message(h, minute) })));
      clock = T0 + minute * 60 + 30;
      const report = await aggregator.runOnce();
      expect(report.minute).toBe(T0 + minute * 60);
    }
    graphs = createGraphService({ dataDir, templates, poolSize: 1, now: () => T0 + MINUTES * 60 });
  }, 120_000);

  afterAll(async () => {
    await graphs?.close();
    await writer?.close();
    await store?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const request = (service: string, label: string, graph: string): AggregateGraphRequest => ({
    service,
    label,
    plugin: 'base',
    graph,
    term: 'custom',
    from: T0 - 120,
    to: T0 + MINUTES * 60,
    width: 500,
    height: 100,
  });

  it('sums load over the hosts that reported, averages it over them and says how many they were', async () => {
    for (const [service, label] of [
      ['shop', ''],
      ['shop', 'frontend'],
      ['shop', 'backend'],
      ['blog', ''],
    ] as const) {
      const data = await graphs.exportAggregateData(request(service, label, 'loadavg-1'));
      for (let minute = 0; minute < MINUTES; minute++) {
        const hosts = counting(service, label, minute, false);
        const where = `${service}/${label} minute ${minute}`;
        if (hosts.length === 0) {
          expect(at(data, 'Load Average', minute), where).toBeNull();
          continue;
        }
        expect(at(data, 'Load Average', minute), where).toBeCloseTo(sum(hosts.map((h) => h.load)), 6);
        expect(at(data, 'Average per host', minute), where).toBeCloseTo(
          sum(hosts.map((h) => h.load)) / hosts.length,
          6,
        );
      }
    }
    // Hand-worked for the whole shop: 1 + 4 before 10.0.0.2 starts; 1 + 2 + 4 while all three
    // report (minute 6 counts 10.0.0.3's last value, 85 s old); 1 + 2 after it went silent.
    const shop = await graphs.exportAggregateData(request('shop', '', 'loadavg-1'));
    expect([0, 2, 3, 6, 7, 9].map((m) => at(shop, 'Load Average', m))).toEqual([5, 5, 7, 7, 3, 3]);
  });

  it('draws average CPU as the stacked share of every host CPU tick, counters from their second value', async () => {
    const data = await graphs.exportAggregateData(request('shop', '', 'cpu'));
    for (let minute = 1; minute < MINUTES; minute++) {
      const hosts = counting('shop', '', minute, true);
      const user = sum(hosts.map((h) => h.user));
      const idle = sum(hosts.map((h) => h.idle));
      expect(at(data, 'User', minute), `minute ${minute}`).toBeCloseTo((100 * user) / (user + idle), 4);
      expect(at(data, 'Idle', minute), `minute ${minute}`).toBeCloseTo((100 * idle) / (user + idle), 4);
    }
    // Minute 4 by hand: users 10 + 50 + 100 = 160 of 300 ticks/s → 53.33 %.
    expect(at(data, 'User', 4)).toBeCloseTo(53.333, 2);
    // Minute 0 has no rate yet (one sample per host).
    expect(at(data, 'User', 0)).toBeNull();
  });

  it('sums traffic over every interface of every host, in bits/s', async () => {
    const data = await graphs.exportAggregateData(request('shop', '', 'traffic'));
    // 10.0.0.1 alone has interfaces: (1000 + 500) B/s in, (100 + 50) B/s out.
    expect(at(data, 'Inbound', 5)).toBeCloseTo(1500 * 8, 6);
    expect(at(data, 'Outbound', 5)).toBeCloseTo(150 * 8, 6);
  });

  it('lists the service graphs, draws them as PNG, and keeps the summaries out of the host list', async () => {
    const listed = await graphs.listAggregate({ service: 'shop', label: 'frontend' });
    const keys = listed.flatMap((p) => p.groups.flatMap((g) => g.graphs.map((x) => `${p.plugin}/${x.key}`)));
    expect(keys).toEqual(expect.arrayContaining(['base/cpu', 'base/loadavg-1', 'base/traffic']));
    const png = await graphs.renderAggregatePng({ ...request('shop', 'frontend', 'cpu'), term: 'day' });
    expect(png.subarray(0, 4).toString('latin1')).toBe('\x89PNG');
    expect(listHosts(dataDir).sort()).toEqual(HOSTS.map((h) => h.address).sort());
    await expect(graphs.exportAggregateData(request('nope', '', 'cpu'))).rejects.toThrow(
      /no service graphs for "nope"/,
    );
    await expect(graphs.exportAggregateData(request('shop', '', 'nope'))).rejects.toThrow(
      /no service graph "nope".*available: .*cpu/,
    );
  });

  it('kurado graph render --service/--label draws the same PNG as the service page', async () => {
    const env = { KURADO_DATA_DIR: dataDir, KURADO_STORE_URL: `sqlite:${path.join(dataDir, 'kurado.db')}` };
    const out = path.join(dataDir, 'frontend-cpu.png');
    const range = ['--term', 'custom', '--from', String(T0 - 120), '--to', String(T0 + MINUTES * 60)];
    const drawn = await kurado(
      ['graph', 'render', '--service', 'shop', '--label', 'frontend', 'cpu', ...range, '--out', out],
      env,
    );
    expect(drawn.stderr).toBe('');
    expect(drawn.code).toBe(0);
    const expected = await graphs.renderAggregatePng(request('shop', 'frontend', 'cpu'));
    expect(readFileSync(out).equals(expected)).toBe(true);
    const unknown = await kurado(['graph', 'render', '--service', 'nope', 'cpu', '--out', out], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no service graphs for "nope"/);
    const noService = await kurado(['graph', 'render', '--label', 'frontend', 'cpu', '--out', out], env);
    expect(noService.code).toBe(2);
    expect(noService.stderr).toMatch(/--service/);
  }, 60_000);

  it('kurado top ranks the hosts of a service by their latest values, ties by name, silent hosts left out', async () => {
    const env = { KURADO_DATA_DIR: dataDir, KURADO_STORE_URL: `sqlite:${path.join(dataDir, 'kurado.db')}` };
    const now = Math.floor(Date.now() / 1000) - 10;
    const load = (host: string, value: number) => ({
      host,
      plugin: 'base',
      at: now,
      values: { 'loadavg-1.gauge': [value, now] as [number, number] },
    });
    // 10.0.0.2 and 10.0.0.3 tie; 10.0.0.1's values are the old ones (silent since the fixture).
    await store.writeBatch({
      meta: [],
      warnings: [],
      received: [],
      receivedAt: now,
      latest: [load('10.0.0.2', 2.5), load('10.0.0.3', 2.5), load('10.0.0.4', 9)],
    });
    const json = await kurado(['top', '--service', 'shop', '--by', 'load', '--json'], env);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const ranking = JSON.parse(json.stdout) as {
      hosts: number;
      missing: number;
      top: { address: string; value: number }[];
    };
    expect(ranking.top.map((r) => [r.address, r.value])).toEqual([
      ['10.0.0.2', 2.5],
      ['10.0.0.3', 2.5],
    ]);
    expect(ranking).toMatchObject({ hosts: 3, missing: 1 });
    const table = await kurado(['top', '--service', 'shop', '--by', 'load'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/Load average \(1 min\)/);
    expect(table.stdout).toMatch(/2 of 3 hosts shown; 1 without data/);
    const bad = await kurado(['top', '--by', 'heat'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown ranking "heat"/);
  }, 60_000);
});
