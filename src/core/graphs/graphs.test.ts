import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  findGraph,
  graphArguments,
  groupGraphs,
  metricPath,
  pluginArgs,
  pluginGraphs,
  xportArguments,
} from './graphs.js';
import { loadTemplates } from './loader.js';
import { parseTemplate } from './template.js';
import { customXgrid, resolveRange } from './terms.js';
import { GraphNotFoundError, GraphRequestError } from './types.js';

const set = loadTemplates();
const base = set.templates.get('base')!;
const NOW = 1_795_600_000;

const BASE_FILES = [
  'cpu-user.derive',
  'cpu-nice.derive',
  'cpu-system.derive',
  'cpu-idle.derive',
  'cpu-iowait.derive',
  'cpu-irq.derive',
  'cpu-softirq.derive',
  'cpu-steal.derive',
  'cpu-guest.derive',
  'cpu-guest-nice.derive',
  'loadavg-1.gauge',
  'loadavg-5.gauge',
  'processors.gauge',
  'memory-used.gauge',
  'tcp-established.gauge',
  'traffic-eth0-rxbytes.derive',
  'traffic-eth0-txbytes.derive',
  'traffic-eth1-rxbytes.derive',
  'traffic-eth1-txbytes.derive',
  'disk-usage-mapper_vg-root-used.gauge',
  'disk-usage-mapper_vg-root-available.gauge',
  'disk-io-sda-read-sectors.derive',
  'disk-io-sda-write-sectors.derive',
  'disk-io-sda-read-ios.derive',
  'disk-io-sda-write-ios.derive',
  'disk-io-sdb-read-ios.derive',
  'disk-io-sdb-write-ios.derive',
];

const META = new Map([
  ['traffic-interfaces', 'eth0'],
  ['disk-usage-devices', 'mapper_vg-root'],
  ['disk-usage-mapper_vg-root-mount', '/'],
  ['disk-io-devices', 'sda,sdb'],
  ['disk-swap-devices', 'sdb'],
]);

describe('listing the graphs of a plugin directory', () => {
  it('lists base graphs per meta item with the mount point and the swap mark in the heading', () => {
    const groups = groupGraphs(pluginGraphs('base', base, new Set(BASE_FILES), META));
    expect(groups.map((g) => [g.title, g.graphs.map((x) => x.key)])).toEqual([
      ['Traffic(eth0)', ['traffic-eth0']],
      // eth1 is not in the (possibly expired) meta list but its files exist: still shown.
      ['Traffic(eth1)', ['traffic-eth1']],
      ['CPU Memory', ['cpu', 'loadavg-1', 'memory-usage', 'tcp-established']],
      ['Disk Usage(/)', ['disk-usage-mapper_vg-root']],
      ['Disk IO(sda)', ['disk-io-byte-sda', 'disk-io-count-sda']],
      // sdb only has IO counts: the byte graph (no file) is left out.
      ['Disk IO(sdb-swap)', ['disk-io-count-sdb']],
    ]);
  });

  it('gives a plugin without a template one automatic graph per metric, counters as rates', () => {
    const graphs = pluginGraphs('process', undefined, new Set(['fork.derive', 'procs.gauge']), new Map());
    expect(groupGraphs(graphs)).toEqual([
      {
        title: 'process',
        graphs: [
          { plugin: 'process', key: 'fork.derive', title: 'fork/s' },
          { plugin: 'process', key: 'procs.gauge', title: 'procs' },
        ],
      },
    ]);
    expect(graphs[0]?.verticalLabel).toBe('per second');
  });

  it('adds automatic graphs for metrics a template does not draw, unless it says uncovered = "hide"', () => {
    const nginx = set.templates.get('nginx')!;
    const files = new Set(['read.gauge', 'write.gauge', 'wait.gauge', 'reqs.derive', 'dropped.derive']);
    const groups = groupGraphs(pluginGraphs('nginx:8080', nginx, files, new Map()));
    expect(groups.map((g) => [g.title, g.graphs.map((x) => x.key)])).toEqual([
      ['Nginx (8080)', ['processes', 'reqs']],
      ['nginx:8080 (other metrics)', ['dropped.derive']],
    ]);
    // base hides loadavg-5 (stored, not drawn upstream either).
    const keys = pluginGraphs('base', base, new Set(BASE_FILES), META).map((g) => g.key);
    expect(keys).not.toContain('loadavg-5.gauge');
  });

  it('draws Redis unsaved changes from whichever of the two metric names the server reports', () => {
    const redis = set.templates.get('redis')!;
    const keys = pluginGraphs('redis', redis, new Set(['rdb_changes_since_last_save.gauge']), new Map()).map(
      (g) => g.key,
    );
    expect(keys).toEqual(['unsaved']);
  });

  it('fills plugin arguments from the identifier, else the template default', () => {
    expect(pluginArgs('nginx:8080:/status', ['80'])).toEqual(['8080', '/status']);
    expect(pluginArgs('mysql', ['3306'])).toEqual(['3306']);
    const groups = groupGraphs(
      pluginGraphs('mysql', set.templates.get('mysql'), new Set(['slow_queries.derive']), new Map()),
    );
    expect(groups.map((g) => g.title)).toEqual(['MySQL (3306)']);
  });
});

describe('finding and drawing one graph', () => {
  const ctx = {
    dataDir: '/data',
    host: '10.0.0.1',
    exists: (file: string) => !file.includes('cpu-steal'),
    range: resolveRange('day', NOW),
    width: 500,
    height: 100,
  };

  it('finds per-item graphs by key and reports unknown keys with what exists', () => {
    const files = new Set(BASE_FILES);
    expect(findGraph('base', base, 'disk-io-byte-sda', files, META)).toMatchObject({
      item: 'sda',
      label: 'sda',
    });
    expect(findGraph('base', base, 'disk-usage-mapper_vg-root', files, META)).toMatchObject({ label: '/' });
    expect(findGraph('base', base, 'loadavg-5.gauge', files, META)).toMatchObject({ auto: true });
    expect(() => findGraph('base', base, 'nope', files, META)).toThrow(GraphNotFoundError);
    expect(() => findGraph('base', base, 'nope', files, META)).toThrow(
      /available: traffic-eth0, traffic-eth1, cpu/,
    );
  });

  it('turns a template into rrdtool arguments: escaped files, term, style, stand-ins for missing files', () => {
    const graph = findGraph('base', base, 'cpu', new Set(BASE_FILES), META);
    const args = graphArguments(graph, { ...ctx, hostLabel: 'web01' });
    expect(args.options).toEqual(
      expect.arrayContaining([
        '--start',
        String(NOW - 33 * 3600),
        '--x-grid',
        'HOUR:2:HOUR:4:HOUR:4:0:%H:%M',
      ]),
    );
    expect(args.options).toContain('CPU Usage[%] - Day - web01');
    expect(args.options).toEqual(expect.arrayContaining(['--color', 'BACK#f3f3f3', '--font', 'TITLE:8:']));
    expect(args.defs[0]).toBe('DEF:my1=/data/10.0.0.1/base/cpu-user.derive.rrd:n:AVERAGE');
    // The missing steal file becomes an unknown series instead of a broken image.
    expect(args.defs).toContain('CDEF:my9=my1,POP,UNKN');
    expect(args.drawing).toContain('GPRINT:my1r:LAST:Cur\\:%5.1lf[%%]');
    expect(args.drawing).toContain('GPRINT:my1r:MAX:Max\\:%5.1lf[%%]\\l');
    expect(args.series.map((s) => s.legend)).toEqual([
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
  });

  it('escapes the plugin identifier in the path and the colon for rrdtool', () => {
    const graph = findGraph(
      'nginx:8080',
      set.templates.get('nginx'),
      'reqs',
      new Set(['reqs.derive']),
      new Map(),
    );
    const args = graphArguments(graph, { ...ctx, exists: () => true, daemon: 'unix:/run/rrdcached.sock' });
    expect(args.defs[0]).toBe('DEF:my1a=/data/10.0.0.1/nginx%3A8080/reqs.derive.rrd:n:AVERAGE');
    expect(args.options).toEqual(expect.arrayContaining(['--daemon', 'unix:/run/rrdcached.sock']));
    const xport = xportArguments(args, { ...ctx, daemon: 'unix:/run/rrdcached.sock' });
    expect(xport.slice(0, 3)).toEqual(['xport', '--json', '--showtime']);
    expect(xport.at(-1)).toBe('XPORT:my1:0');
  });

  it("reads another plugin's or host's file through {rrd NAME.TYPE plugin=P host=H}, still inside data_dir", () => {
    const parsed = parseTemplate(
      '/site/app.toml',
      `[[graph]]
key = "vs-lb"
group = "App"
title = "App vs load balancer"
lines = '''
DEF:mine={rrd reqs.derive}:n:AVERAGE
DEF:nginx={rrd reqs.derive plugin=nginx:8080}:n:AVERAGE
DEF:lb={rrd reqs.derive plugin=nginx host=../../etc}:n:AVERAGE
LINE1:mine#ff0000:App
LINE1:nginx#00ff00:Nginx
LINE1:lb#0000ff:LB
'''
`,
      'app',
    );
    expect(parsed.errors).toEqual([]);
    const graph = findGraph('app', parsed.template, 'vs-lb', new Set(['reqs.derive']), new Map());
    const args = graphArguments(graph, { ...ctx, exists: () => true });
    expect(args.defs.slice(0, 3)).toEqual([
      'DEF:mine=/data/10.0.0.1/app/reqs.derive.rrd:n:AVERAGE',
      'DEF:nginx=/data/10.0.0.1/nginx%3A8080/reqs.derive.rrd:n:AVERAGE',
      'DEF:lb=/data/..%2F..%2Fetc/nginx/reqs.derive.rrd:n:AVERAGE',
    ]);
  });

  it('names files relative to the node and gives a DEF of a host on another node its daemon', () => {
    const parsed = parseTemplate(
      '/site/app.toml',
      `[[graph]]
key = "pair"
group = "App"
title = "Pair"
lines = '''
DEF:mine={rrd reqs.derive}:n:AVERAGE
DEF:theirs={rrd reqs.derive host=10.0.0.2}:n:AVERAGE
LINE1:mine#ff0000:Mine
LINE1:theirs#0000ff:Theirs
'''
`,
      'app',
    );
    const graph = findGraph('app', parsed.template, 'pair', new Set(['reqs.derive']), new Map());
    const args = graphArguments(graph, {
      ...ctx,
      exists: () => true,
      daemon: '10.0.0.11:42217',
      pathOf: (file) => path.relative('/data', file),
      daemonOfFile: (file) => (file.includes('10.0.0.2') ? '10.0.0.12:42217' : '10.0.0.11:42217'),
    });
    expect(args.defs.slice(0, 2)).toEqual([
      'DEF:mine=10.0.0.1/app/reqs.derive.rrd:n:AVERAGE',
      'DEF:theirs=10.0.0.2/app/reqs.derive.rrd:n:AVERAGE:daemon=10.0.0.12\\:42217',
    ]);
    expect(args.options).toEqual(expect.arrayContaining(['--daemon', '10.0.0.11:42217']));
  });

  it('reports a graph none of whose files exist as not found', () => {
    const graph = findGraph('base', base, 'traffic-eth9', new Set(BASE_FILES), META);
    expect(() => graphArguments(graph, { ...ctx, exists: () => false })).toThrow(
      /none of its RRD files exists/,
    );
  });

  it('never resolves a metric file outside data_dir, whatever the names', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string({ minLength: 1 }), (host, plugin, name) => {
        const file = metricPath('/data', host, plugin, { name, type: 'gauge' });
        expect(file.startsWith(`/data${path.sep}`)).toBe(true);
        expect(path.relative('/data', file).split(path.sep)).toHaveLength(3);
      }),
    );
  });
});

describe('terms', () => {
  it('uses the spans and x-grids of the upstream terms', () => {
    expect(resolveRange('1hour', NOW)).toEqual({
      start: NOW - 70 * 60,
      end: NOW,
      xgrid: 'MINUTE:10:MINUTE:20:MINUTE:10:0:%H:%M',
      title: 'Hour',
    });
    expect(resolveRange('week', NOW).start).toBe(NOW - 8 * 86400);
    expect(resolveRange('year', NOW).xgrid).toBe('MONTH:1:MONTH:1:MONTH:1:2592000:%b');
    expect(customXgrid(2 * 3600)).toBe('MINUTE:10:MINUTE:30:MINUTE:30:0:%H:%M');
    expect(customXgrid(10 * 86400)).toBe('DAY:1:DAY:7:DAY:2:0:%m/%d');
    expect(resolveRange('custom', NOW, NOW - 3600, NOW)).toMatchObject({ start: NOW - 3600, end: NOW });
  });

  it('refuses an unknown term, a custom range without bounds or with from after to', () => {
    expect(() => resolveRange('fortnight', NOW)).toThrow(GraphRequestError);
    expect(() => resolveRange('custom', NOW)).toThrow(/needs both from and to/);
    expect(() => resolveRange('custom', NOW, NOW, NOW - 60)).toThrow(/must be before/);
  });
});
