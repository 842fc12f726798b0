import { describe, expect, it } from 'vitest';
import { rankHosts, rankingMetric } from '../core/aggregate/rankings.js';
import type { PluginGraphs } from '../core/graphs/types.js';
import { type HostRecord, type HostStatusReport, STALE_AFTER_SECONDS } from '../core/store/types.js';
import { COMPARE_WIDTHS, DEFAULT_PAGE_WIDTH, localInputValue, type RangeQuery, WIDTHS } from './format.js';
import { compareView, fleetView, graphView, hostView, serviceView, staleAgentNotice } from './page-views.js';

const NOW = 1_800_000_000;
const DAY: RangeQuery = { term: 'day', width: DEFAULT_PAGE_WIDTH, height: 100 };

function host(address: string, extra: Partial<HostRecord> = {}): HostRecord {
  return {
    address,
    hostname: `h-${address}`,
    comments: '',
    service: 'shop',
    label: '',
    role: 'web',
    plugins: ['base'],
    origin: 'import',
    ...extra,
  };
}

const BASE_GRAPHS: PluginGraphs = {
  plugin: 'base',
  groups: [
    {
      title: 'CPU Memory',
      graphs: [
        { plugin: 'base', key: 'cpu', title: 'CPU' },
        { plugin: 'base', key: 'memory', title: 'Memory' },
      ],
    },
  ],
};

const report = (status: HostStatusReport['status'], reason = ''): HostStatusReport => ({ status, reason });

describe('fleetView', () => {
  const hosts = [
    host('10.0.0.2', { service: 'shop', label: 'db' }),
    host('10.0.0.1', { service: 'shop', label: 'app' }),
    host('10.0.0.3', { service: 'unregistered', origin: 'auto' }),
    host('10.0.0.4', { service: 'Blog' }),
  ];
  const statuses = new Map([
    ['10.0.0.1', report('ok')],
    ['10.0.0.2', report('critical', 'base not received for 7 min')],
    ['10.0.0.4', report('warn', '1 warning')],
  ]);

  const all = (service?: string, q = '', page = { offset: 0, limit: 500 }) => ({
    service,
    q,
    page,
    query: { ...(service ? { service } : {}), ...(q ? { q } : {}) },
    maxServices: 1000,
  });

  it('groups services (unregistered last) and labels by name, with counts and status titles', () => {
    const view = fleetView(hosts, statuses, all());
    expect(view.services.map((s) => [s.name, s.count])).toEqual([
      ['Blog', 1],
      ['shop', 2],
      ['unregistered', 1],
    ]);
    const shop = view.shown[1]!;
    expect(shop.labels.map((l) => [l.name, l.hosts.map((h) => h.address)])).toEqual([
      ['app', ['10.0.0.1']],
      ['db', ['10.0.0.2']],
    ]);
    expect(shop.labels[1]!.hosts[0]).toMatchObject({
      status: 'critical',
      statusTitle: 'Critical: base not received for 7 min',
      url: '/host/10.0.0.2',
    });
    expect(view.counts).toEqual({ ok: 1, warn: 1, critical: 1, unknown: 1 });
    expect(view.total).toBe(4);
    expect(view.shown).toHaveLength(3);
    expect(view.pager).toEqual({ first: 1, last: 4, matching: 4, previous: null, next: null });
  });

  it('counts and shows only the chosen service, and nothing for an unknown one', () => {
    const view = fleetView(hosts, statuses, all('shop'));
    expect(view.shown.map((s) => s.name)).toEqual(['shop']);
    expect(view.counts).toEqual({ ok: 1, warn: 0, critical: 1, unknown: 0 });
    expect(view.serviceFound).toBe(true);
    const unknown = fleetView(hosts, statuses, all('nope'));
    expect(unknown.serviceFound).toBe(false);
    expect(unknown.shown).toEqual([]);
  });

  it('searches the whole fleet for every word of q (address, hostname, comments, role, service, label)', () => {
    const view = fleetView(hosts, statuses, all(undefined, 'SHOP 10.0.0'));
    expect(view.shown.flatMap((s) => s.labels.flatMap((l) => l.hosts.map((h) => h.address)))).toEqual([
      '10.0.0.1',
      '10.0.0.2',
    ]);
    expect(fleetView(hosts, statuses, all(undefined, 'db')).pager.matching).toBe(1);
    expect(fleetView(hosts, statuses, all(undefined, 'nothing like it')).shown).toEqual([]);
    expect(view.q).toBe('SHOP 10.0.0');
  });

  it('shows one page of a large fleet, with links to the pages before and after', () => {
    const fleet = Array.from({ length: 2500 }, (_, i) =>
      host(`10.1.${Math.floor(i / 250)}.${i % 250}`, { service: i < 2000 ? 'big' : 'small' }),
    );
    const second = fleetView(fleet, new Map(), {
      ...all(undefined, '', { offset: 1000, limit: 1000 }),
      query: { offset: '1000', limit: '1000' },
    });
    const onPage = second.shown.flatMap((s) => s.labels.flatMap((l) => l.hosts));
    expect(onPage).toHaveLength(1000);
    expect(onPage[0]?.address).toBe(fleet[1000]?.address);
    expect(second.shown.map((s) => [s.name, s.count])).toEqual([['big', 2000]]);
    expect(second.pager).toEqual({
      first: 1001,
      last: 2000,
      matching: 2500,
      previous: '/?offset=0&limit=1000',
      next: '/?offset=2000&limit=1000',
    });
    // The last page spans the end of one service and keeps the filter in its links.
    const last = fleetView(fleet, new Map(), {
      ...all(undefined, '10.1', { offset: 1900, limit: 1000 }),
      query: { q: '10.1', offset: '1900' },
    });
    expect(last.shown.map((s) => s.name)).toEqual(['big', 'small']);
    expect(last.pager).toMatchObject({
      first: 1901,
      last: 2500,
      next: null,
      previous: '/?q=10.1&offset=900&limit=1000',
    });
    expect(last.counts.unknown).toBe(2500);
  });

  it('lists at most maxServices services in the sidebar and says how many more there are', () => {
    const many = Array.from({ length: 30 }, (_, i) => host(`10.2.0.${i}`, { service: `s${i}` }));
    const view = fleetView(many, new Map(), { ...all(), maxServices: 10 });
    expect(view.services).toHaveLength(10);
    expect(view.moreServices).toBe(20);
  });
});

describe('hostView', () => {
  const input = {
    host: host('10.0.0.1', { plugins: ['base', 'nginx:80'] }),
    range: DAY,
    plugin: undefined,
    listed: [BASE_GRAPHS, { plugin: 'redis:6379', groups: [] }],
    meta: [{ host: '10.0.0.1', plugin: 'base', name: 'uptime', value: '90061', timestamp: NOW - 60 }],
    warnings: [{ plugin: 'mysql:3306', name: 'command', message: 'refused', timestamp: NOW - 30 }],
    lastReceived: [{ plugin: 'base', at: NOW - 30 }],
    report: report('warn', '1 warning: mysql:3306 command: refused'),
    limits: { metaPerHost: 100, warningsPerHost: 100 },
    now: NOW,
  };

  it('lists the role plugins first, then plugins with graphs, then plugins with warnings only', () => {
    const view = hostView(input);
    expect(view.plugins.map((p) => p.plugin)).toEqual(['base', 'nginx:80', 'redis:6379', 'mysql:3306']);
    const base = view.plugins[0]!;
    expect(base.badges).toEqual([{ name: 'uptime', value: 'up 1 day, 1:01', title: 'up 1 day, 1:01' }]);
    expect(base.groups[0]!.graphs[0]).toEqual({
      key: 'cpu',
      title: 'CPU',
      src: '/graph/10.0.0.1/base/cpu.png?term=day&width=500',
      data: '/api/graph/10.0.0.1/base/cpu?term=day&width=500',
      view: '/host/10.0.0.1/graph/base/cpu',
    });
    expect(view.plugins[3]!.warnings).toEqual([
      { name: 'command', message: 'refused', time: expect.any(String) },
    ]);
    expect(view).toMatchObject({ status: 'warn', statusReason: '1 warning: mysql:3306 command: refused' });
    expect(view.stale).toBeUndefined();
    expect(view.truncated).toBeUndefined();
  });

  it('links terms and widths back to the same page, and keeps the plugin filter', () => {
    const view = hostView({ ...input, plugin: 'base', range: { ...DAY, width: 700 } });
    expect(view.shown.map((p) => p.plugin)).toEqual(['base']);
    expect(view.terms.find((t) => t.term === 'week')?.url).toBe(
      '/host/10.0.0.1?term=week&width=700&plugin=base',
    );
    expect(view.widths.map((w) => w.width)).toEqual([...WIDTHS]);
    expect(view.widths.find((w) => w.active)?.width).toBe(700);
    expect(view.widths.find((w) => w.width === DEFAULT_PAGE_WIDTH)?.url).toBe(
      '/host/10.0.0.1?term=day&width=500&plugin=base',
    );
    expect(hostView({ ...input, plugin: 'base' }).terms[0]!.url).toBe(
      '/host/10.0.0.1?term=1hour&plugin=base',
    );
    expect(view.pluginUrl('nginx:80')).toBe('/host/10.0.0.1?term=day&width=700&plugin=nginx%3A80');
  });

  it('opens the custom-range pickers on the last 32 hours ending on a quarter hour, or on the custom range', () => {
    const view = hostView(input);
    const quarter = Math.floor(NOW / 900) * 900;
    expect([view.fromEpoch, view.toEpoch]).toEqual([quarter - 32 * 3600, quarter]);
    expect(view.toValue).toBe(localInputValue(quarter));
    const custom = hostView({
      ...input,
      range: { ...DAY, term: 'custom', from: NOW - 7200, to: NOW - 3600 },
    });
    expect([custom.fromEpoch, custom.toEpoch]).toEqual([NOW - 7200, NOW - 3600]);
  });

  it('says how much it left out of a host with too many meta values and warnings', () => {
    const view = hostView({ ...input, limits: { metaPerHost: 0, warningsPerHost: 1 } });
    expect(view.truncated).toBe('Showing 0 of 1 meta values and 1 of 1 warnings.');
  });
});

describe('staleAgentNotice', () => {
  it('warns when base is stale or never came, whether the role lists base or the host sent it', () => {
    const listed = host('a', { plugins: ['base'] });
    const unlisted = host('b', { plugins: ['nginx:80'] });
    const old = NOW - STALE_AFTER_SECONDS - 1;
    expect(staleAgentNotice(listed, [], NOW)).toBe('No metrics were ever received from this host.');
    expect(staleAgentNotice(listed, [{ plugin: 'base', at: old }], NOW)).toMatch(
      /^Metrics are not updated in the last 5 minutes\. This host or its agent has been down\. Last updated: /,
    );
    expect(staleAgentNotice(unlisted, [{ plugin: 'base', at: old }], NOW)).toMatch(/not updated/);
    expect(staleAgentNotice(unlisted, [], NOW)).toBeUndefined();
    expect(staleAgentNotice(listed, [{ plugin: 'base', at: NOW - 60 }], NOW)).toBeUndefined();
  });
});

describe('graphView', () => {
  it('shows one graph over the fixed terms, or nothing for a graph the host does not have', () => {
    const view = graphView(host('10.0.0.1'), 'base', 'memory', [BASE_GRAPHS], { ...DAY, width: 700 });
    expect(view?.info).toEqual({ plugin: 'base', key: 'memory', title: 'Memory', group: 'CPU Memory' });
    expect(view?.terms.map((t) => t.src)).toContain('/graph/10.0.0.1/base/memory.png?term=week&width=700');
    expect(view?.widths.find((w) => w.active)?.url).toBe('/host/10.0.0.1/graph/base/memory?width=700');
    expect(graphView(host('10.0.0.1'), 'base', 'nope', [BASE_GRAPHS], DAY)).toBeUndefined();
  });
});

describe('compareView', () => {
  const a = host('10.0.0.1');
  const b = host('10.0.0.2', { plugins: ['nginx:80'] });
  const range: RangeQuery = { term: 'week', width: 420, height: 100 };

  it('makes one row per graph key of the chosen plugin with one cell per host that has it', () => {
    const view = compareView({
      hosts: [a, b],
      missing: ['nope'],
      listed: [[BASE_GRAPHS], [{ plugin: 'base', groups: [BASE_GRAPHS.groups[0]!] }]],
      statuses: new Map([['10.0.0.1', 'ok']]),
      range,
      plugin: undefined,
      now: NOW,
    });
    expect(view.plugin).toBe('base');
    expect(view.plugins.map((p) => p.name)).toEqual(['base', 'nginx:80']);
    expect(view.rows.map((r) => [r.key, r.cells.map((c) => [c.host.address, c.status])])).toEqual([
      [
        'cpu',
        [
          ['10.0.0.1', 'ok'],
          ['10.0.0.2', 'unknown'],
        ],
      ],
      [
        'memory',
        [
          ['10.0.0.1', 'ok'],
          ['10.0.0.2', 'unknown'],
        ],
      ],
    ]);
    expect(view.rows[0]!.cells[0]!.src).toBe('/graph/10.0.0.1/base/cpu.png?term=week&width=420');
    expect(view.widths.map((w) => w.width)).toEqual([...COMPARE_WIDTHS]);
    expect(view.plugins[1]!.url).toBe('/compare?host=10.0.0.1&host=10.0.0.2&plugin=nginx%3A80&term=week');
    expect(view.missing).toEqual(['nope']);
  });

  it('falls back to the first plugin when the one asked for is not there', () => {
    const view = compareView({
      hosts: [b],
      missing: [],
      listed: [[]],
      statuses: new Map(),
      range,
      plugin: 'mysql:3306',
      now: NOW,
    });
    expect(view.plugin).toBe('nginx:80');
    expect(view.rows).toEqual([]);
  });
});

const noRanking = rankHosts([], [], rankingMetric('load'), NOW, 10);

describe('serviceView', () => {
  const hosts = [
    host('10.0.0.1', { label: 'web' }),
    host('10.0.0.2', { label: 'web' }),
    host('10.0.0.3', { label: 'db' }),
    host('10.0.0.4'),
  ];
  const statuses = new Map([
    ['10.0.0.1', report('ok')],
    ['10.0.0.2', report('critical', 'base not received')],
    ['10.0.0.3', report('ok')],
  ]);

  it('counts the hosts of the service or label and links every label, keeping term and width', () => {
    const all = serviceView({
      service: 'shop',
      hosts,
      label: '',
      range: DAY,
      listed: [BASE_GRAPHS],
      statuses,
      now: NOW,
      ranking: noRanking,
    });
    expect(all.hostCount).toBe(4);
    expect(all.counts).toEqual({ ok: 2, warn: 0, critical: 1, unknown: 1 });
    expect(all.labels.map((l) => [l.name, l.active])).toEqual([
      ['all hosts', true],
      ['db', false],
      ['web', false],
    ]);
    const week = { ...DAY, term: 'week' as const, width: 700 };
    const web = serviceView({
      service: 'shop',
      hosts,
      label: 'web',
      range: week,
      listed: [BASE_GRAPHS],
      statuses,
      now: NOW,
      ranking: noRanking,
    });
    expect(web.hostCount).toBe(2);
    expect(web.labels.find((l) => l.name === 'db')?.url).toBe('/service/shop?term=week&width=700&label=db');
    expect(web.plugins[0]?.groups[0]?.graphs[0]?.src).toBe(
      '/service-graph/shop/base/cpu.png?term=week&width=700&label=web',
    );
    expect(web.hiddenFields).toEqual([
      { name: 'width', value: 700 },
      { name: 'label', value: 'web' },
    ]);
  });
});
