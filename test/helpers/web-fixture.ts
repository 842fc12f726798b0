/**
 * A real `kurado serve` for tests and benchmarks: a SQLite store in a temp dir with a server
 * list of several services and labels, a private rrdcached, RRD files written with the real
 * writer (several hours of base metrics, so graphs show lines), the real GraphService (rrdtool
 * pool) and the web server on 127.0.0.1:<free port>.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { summaryUpdates } from '../../src/core/aggregate/aggregator.js';
import { aggregateSpecs, summarize } from '../../src/core/aggregate/summary.js';
import type { KuradoConfig } from '../../src/core/config.js';
import { loadTemplates } from '../../src/core/graphs/loader.js';
import { createGraphService, type KuradoGraphService } from '../../src/core/graphs/service.js';
import { readServerList } from '../../src/core/hosts/server-list.js';
import type { DsType, MetaValue } from '../../src/core/protocol/types.js';
import { rrdFilePath } from '../../src/core/rrd/layout.js';
import type { RrdUpdate } from '../../src/core/rrd/types.js';
import { createRrdWriter } from '../../src/core/rrd/writer.js';
import { openStore } from '../../src/core/store/index.js';
import type { HostRecord, LatestValues, LatestValuesRow, MetaStore } from '../../src/core/store/types.js';
import { createWebServer } from '../../src/web/server.js';
import { type PrivateRrdcached, startRrdcached } from './rrdcached.js';

export const XSS_META = '<script>alert(1)</script>';
export const XSS_COMMENT = '<img src=x onerror=alert(2)>';
export const NGINX_PLUGIN = 'nginx:8080:/nginx_status';

/** The server list every web test sees (hosts with `data: true` get RRD files and meta). */
export interface FixtureHost extends HostRecord {
  data: boolean;
  /** How the host looks to the status rules. */
  state: 'ok' | 'warn' | 'critical' | 'unknown';
}

function host(
  address: string,
  hostname: string,
  service: string,
  label: string,
  comments: string,
  state: FixtureHost['state'],
  data: boolean,
  plugins = ['base'],
): FixtureHost {
  return {
    address,
    hostname,
    comments,
    service,
    label,
    role: plugins.length > 1 ? 'web' : 'base',
    plugins,
    origin: 'import',
    data,
    state,
  };
}

export const FIXTURE_HOSTS: FixtureHost[] = [
  host('10.1.0.1', 'web-1', 'Web', 'frontend', 'nginx front, rack A', 'ok', true, ['base', NGINX_PLUGIN]),
  host('10.1.0.2', 'web-2', 'Web', 'frontend', XSS_COMMENT, 'warn', true),
  host('10.1.0.3', 'web-3', 'Web', 'frontend', 'rack B', 'ok', true),
  host('10.1.1.1', 'api-1', 'Web', 'api', 'api server', 'critical', true),
  host('10.2.0.1', 'db-master', 'DB', 'master', 'MySQL primary', 'unknown', false),
  host('10.2.0.2', 'db-replica', 'DB', 'replica', 'MySQL replica', 'unknown', false),
  host('10.3.0.1', 'cache-1', 'Cache', '', 'memcached', 'unknown', false),
];

export interface WebFixture {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>` (only when started with `listen`). */
  url: string;
  store: MetaStore;
  /** The SQLite store's URL, for a `kurado serve` process of its own. */
  storeUrl: string;
  graphs: KuradoGraphService;
  rrdcached: PrivateRrdcached;
  dataDir: string;
  hosts: FixtureHost[];
  now: number;
  /** A second server on the same store/graphs with other web settings (access control tests). */
  serverWith(
    web: Partial<KuradoConfig['web']>,
    options?: { usersFileCheckMs?: number },
  ): Promise<FastifyInstance>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  listen?: boolean;
  /** Extra hosts without data (e.g. 3,000 for the fleet benchmark). */
  extraHosts?: number;
  /** Give the extra hosts RRD files and meta too, like the fixture's own data hosts. */
  extraHostsWithData?: boolean;
  /** Hours of 1-minute values written per data host. */
  hours?: number;
  web?: Partial<KuradoConfig['web']>;
}

const BASE_META = (address: string, index: number): Record<string, string> => ({
  uptime: String(86400 * (3 + index) + 3600 * 4 + 60 * 5),
  version:
    address === '10.1.0.2'
      ? XSS_META
      : `Linux version 6.1.0-${20 + index}-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.9${index}-1`,
  'traffic-interfaces': 'eth0',
  'disk-usage-devices': 'sda1',
  'disk-usage-sda1-mount': '/',
  'disk-io-devices': 'sda',
});

/** Smooth, host-specific series: a daily-ish wave plus a little noise. */
function wave(t: number, index: number, period = 5400): number {
  return 0.5 + 0.4 * Math.sin((t / period + index) * 2 * Math.PI) + 0.05 * Math.sin(t / 97 + index * 7);
}

/** Base metrics (and nginx for web-1) of one host at time t; counters accumulate in `state`. */
function samples(
  address: string,
  index: number,
  t: number,
  state: Map<string, number>,
): [string, string, DsType, number][] {
  const out: [string, string, DsType, number][] = [];
  const counter = (plugin: string, name: string, ratePerSecond: number) => {
    const key = `${plugin}/${name}`;
    const value = (state.get(key) ?? 1_000_000) + ratePerSecond * 60;
    state.set(key, value);
    out.push([plugin, name, 'derive', Math.round(value)]);
  };
  const gauge = (plugin: string, name: string, value: number) => out.push([plugin, name, 'gauge', value]);
  const w = wave(t, index);
  const cpu: Record<string, number> = {
    user: 150 * w,
    nice: 5,
    system: 40 * w,
    idle: 400 * (1 - w) + 100,
    iowait: 10 * w,
    irq: 2,
    softirq: 6,
    steal: 1,
    guest: 0,
    'guest-nice': 0,
  };
  for (const [name, rate] of Object.entries(cpu)) counter('base', `cpu-${name}`, rate);
  gauge('base', 'loadavg-1', 4 * w);
  gauge('base', 'loadavg-5', 3.5 * w);
  gauge('base', 'loadavg-15', 3 * w);
  gauge('base', 'processors', 8);
  const total = 16 * 2 ** 30;
  const used = total * (0.3 + 0.3 * w);
  gauge('base', 'memory-total', total);
  gauge('base', 'memory-used', used);
  gauge('base', 'memory-buffers', total * 0.05);
  gauge('base', 'memory-cached', total * 0.25);
  gauge('base', 'memory-free', total - used - total * 0.3);
  gauge('base', 'memory-swap-total', 2 * 2 ** 30);
  gauge('base', 'memory-swap-used', 0.2 * 2 ** 30 * w);
  gauge('base', 'tcp-established', Math.round(200 + 300 * w));
  counter('base', 'traffic-eth0-rxbytes', 5_000_000 * w);
  counter('base', 'traffic-eth0-txbytes', 2_000_000 * (1 - w / 2));
  gauge('base', 'disk-usage-sda1-used', 40_000_000 + (t % 86400) * 10);
  gauge('base', 'disk-usage-sda1-available', 60_000_000 - (t % 86400) * 10);
  counter('base', 'disk-io-sda-read-ios', 50 * w);
  counter('base', 'disk-io-sda-read-sectors', 4000 * w);
  counter('base', 'disk-io-sda-write-ios', 80 * (1 - w / 2));
  counter('base', 'disk-io-sda-write-sectors', 9000 * (1 - w / 2));
  if (address === '10.1.0.1') {
    gauge(NGINX_PLUGIN, 'read', 3 * w);
    gauge(NGINX_PLUGIN, 'write', 10 * w);
    gauge(NGINX_PLUGIN, 'wait', 40 * w);
    counter(NGINX_PLUGIN, 'reqs', 800 * w);
  }
  return out;
}

/** The hosts as a `hosts.toml` server list: roles, then one section per service+label. */
function serverListToml(hosts: FixtureHost[]): string {
  const roles = new Map<string, string[]>();
  for (const h of hosts) roles.set(h.role, h.plugins);
  const lines: string[] = [];
  for (const [role, plugins] of roles)
    lines.push(`[roles.${role}]`, `plugins = ${JSON.stringify(plugins)}`, '');
  const sections = new Map<string, FixtureHost[]>();
  for (const h of hosts) {
    const key = JSON.stringify([h.service, h.label, h.role]);
    const list = sections.get(key);
    if (list) list.push(h);
    else sections.set(key, [h]);
  }
  for (const [key, members] of sections) {
    const [service, label, role] = JSON.parse(key) as [string, string, string];
    lines.push(`[[services.${JSON.stringify(service)}]]`);
    if (label) lines.push(`label = ${JSON.stringify(label)}`);
    lines.push(`role = ${JSON.stringify(role)}`, 'hosts = [');
    for (const h of members)
      lines.push(`  ${JSON.stringify([h.address, h.hostname, h.comments].filter(Boolean).join(' '))},`);
    lines.push(']', '');
  }
  return lines.join('\n');
}

export async function startWebFixture(options: FixtureOptions = {}): Promise<WebFixture> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'kurado-web-'));
  const rrdcached = await startRrdcached();
  const dataDir = rrdcached.baseDir;
  const storeUrl = `sqlite:${path.join(tmp, 'kurado.db')}`;
  const store = await openStore(storeUrl);
  await store.migrate();
  const hosts = [...FIXTURE_HOSTS];
  for (let i = 0; i < (options.extraHosts ?? 0); i++) {
    const service = `svc-${String(i % 30).padStart(2, '0')}`;
    hosts.push(
      host(
        `10.${100 + Math.floor(i / 65000)}.${Math.floor(i / 250) % 256}.${(i % 250) + 1}`,
        `node-${i}`,
        service,
        `rack-${i % 4}`,
        `bulk host ${i}`,
        'unknown',
        options.extraHostsWithData ?? false,
      ),
    );
  }
  // Hosts come in the way `kurado hosts import` brings them: a TOML server list.
  const serverList = path.join(tmp, 'hosts.toml');
  writeFileSync(serverList, serverListToml(hosts));
  const imported = readServerList(serverList).hosts;
  if (imported.length !== hosts.length)
    throw new Error(`fixture server list gave ${imported.length} hosts, not ${hosts.length}`);
  await store.upsertHosts(imported);

  const now = Math.floor(Date.now() / 1000);
  const end = now - (now % 60);
  const hours = options.hours ?? 6;
  const writer = createRrdWriter({ dataDir, rrdcached: rrdcached.address });
  const dataHosts = hosts.filter((h) => h.data);
  const counters = new Map<string, Map<string, number>>();
  // The service summaries `receive` would write once a minute, from the same latest values.
  const specs = aggregateSpecs(loadTemplates());
  let latest = new Map<string, LatestValues>();
  let previous = new Map<string, LatestValues>();
  for (let t = end - hours * 3600; t <= end; t += 60) {
    const updates: RrdUpdate[] = [];
    previous = latest;
    latest = new Map();
    dataHosts.forEach((h, index) => {
      let state = counters.get(h.address);
      if (!state) {
        state = new Map();
        counters.set(h.address, state);
      }
      for (const [plugin, name, type, value] of samples(h.address, index, t, state)) {
        updates.push({
          path: rrdFilePath(dataDir, h.address, plugin, name, type),
          type,
          timestamp: t,
          value,
        });
        const key = `${h.address}\u0000${plugin}`;
        let entry = latest.get(key);
        if (!entry) {
          entry = { host: h.address, plugin, at: t, values: {} };
          latest.set(key, entry);
        }
        entry.values[`${name}.${type}`] = [value, t];
      }
    });
    const rows: LatestValuesRow[] = [...latest].map(([key, entry]) => {
      const before = previous.get(key);
      return before ? { ...entry, previous: { at: before.at, values: before.values } } : entry;
    });
    updates.push(...summaryUpdates(dataDir, summarize(hosts, rows, specs, t), t));
    const report = await writer.write(updates);
    if (report.failed.length > 0) {
      throw new Error(
        `fixture RRD write failed: ${report.failed.map((f) => `${f.path}: ${f.reason}`).join('; ')}`,
      );
    }
  }
  await writer.close();

  const meta: MetaValue[] = dataHosts.flatMap((h, index) =>
    Object.entries(BASE_META(h.address, index)).map(([name, value]) => ({
      host: h.address,
      plugin: 'base',
      name,
      value,
      timestamp: now,
    })),
  );
  meta.push({
    host: '10.1.0.1',
    plugin: NGINX_PLUGIN,
    name: 'server',
    value: 'nginx/1.22.1',
    timestamp: now,
  });
  // The newest values as the Ingestor would have stored them (rankings read them); a critical
  // host's agent stopped, so it has none of the last minutes.
  const reporting = (values: Iterable<LatestValues>) =>
    [...values].filter((l) => dataHosts.find((h) => h.address === l.host)?.state !== 'critical');
  await store.writeBatch({
    meta: [],
    warnings: [],
    received: [],
    receivedAt: end,
    latest: reporting(previous.values()),
  });
  await store.writeBatch({
    meta: [],
    warnings: [],
    received: [],
    receivedAt: end,
    latest: reporting(latest.values()),
  });
  const fresh = dataHosts.filter((h) => h.state !== 'critical');
  await store.writeBatch({
    meta,
    warnings: [
      {
        host: '10.1.0.2',
        plugin: 'base',
        name: 'disk_usage',
        message: 'df: /mnt/nfs: Stale file handle',
        timestamp: now - 30,
      },
    ],
    received: fresh.flatMap((h) => h.plugins.map((plugin) => ({ host: h.address, plugin }))),
    receivedAt: now,
  });
  const stale = dataHosts.filter((h) => h.state === 'critical');
  await store.writeBatch({
    meta: [],
    warnings: [],
    received: stale.map((h) => ({ host: h.address, plugin: 'base' })),
    receivedAt: now - 900,
  });

  const graphs = createGraphService({ dataDir, rrdcached: rrdcached.address, poolSize: 4 });
  const webConfig = (web: Partial<KuradoConfig['web']> = {}): Pick<KuradoConfig, 'web'> => ({
    web: { listen: '127.0.0.1:0', auth: 'none', allowFrom: [], ...web },
  });
  const app = await createWebServer({ store, graphs, config: webConfig(options.web) });
  let url = '';
  if (options.listen) {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    url = address;
  } else {
    await app.ready();
  }
  const others: FastifyInstance[] = [];
  return {
    app,
    url,
    store,
    storeUrl,
    graphs,
    rrdcached,
    dataDir,
    hosts,
    now,
    async serverWith(web, extra = {}) {
      const other = await createWebServer({ store, graphs, config: webConfig(web), ...extra });
      await other.ready();
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.close();
      await app.close();
      await graphs.close();
      await store.close();
      await rrdcached.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
