import { describe, expect, it } from 'vitest';
import { loadTemplates } from '../graphs/loader.js';
import type { LatestValuesRow } from '../store/types.js';
import { aggregateSpecs, metricRate, summarize } from './summary.js';

const NOW = 1_800_000_030;

describe('metricRate: a value as its graph shows it', () => {
  it('takes gauges as they are and turns counters into per-second rates', () => {
    expect(metricRate('load.gauge', [1.5, NOW], undefined)).toBe(1.5);
    expect(metricRate('x.derive', [1600, NOW], { 'x.derive': [1000, NOW - 60] })).toBe(10);
    expect(metricRate('x.counter', [1600, NOW], { 'x.counter': [1000, NOW - 60] })).toBe(10);
    expect(metricRate('x.absolute', [600, NOW], { 'x.absolute': [5, NOW - 60] })).toBe(10);
  });

  it('has no rate without a sample before, after a reset, or across a gap longer than the heartbeat', () => {
    expect(metricRate('x.derive', [1600, NOW], undefined)).toBeUndefined();
    expect(metricRate('x.derive', [5, NOW], { 'x.derive': [1000, NOW - 60] })).toBeUndefined();
    expect(metricRate('x.derive', [1600, NOW], { 'x.derive': [1000, NOW - 600] })).toBeUndefined();
    expect(metricRate('x.derive', [1600, NOW], { 'x.derive': [1000, NOW] })).toBeUndefined();
  });
});

describe('aggregateSpecs: what the shipped templates sum', () => {
  it('reads every own metric of aggregated graphs, items as *', () => {
    const specs = aggregateSpecs(loadTemplates());
    expect(specs.get('base')).toEqual(
      expect.arrayContaining([
        'cpu-user.derive',
        'loadavg-1.gauge',
        'processors.gauge',
        'memory-used.gauge',
        'traffic-*-rxbytes.derive',
        'disk-io-*-read-sectors.derive',
      ]),
    );
    expect(specs.get('nginx')).toEqual(expect.arrayContaining(['reqs.derive']));
  });
});

describe('summarize: sums per service and label', () => {
  const hosts = [
    { address: 'a', service: 'shop', label: 'web' },
    { address: 'b', service: 'shop', label: 'db' },
    { address: 'c', service: 'shop', label: '' },
  ];
  const row = (host: string, plugin: string, values: Record<string, [number, number]>): LatestValuesRow => ({
    host,
    plugin,
    at: Math.max(...Object.values(values).map((v) => v[1])),
    values,
  });
  const specs = new Map([
    ['base', ['load.gauge', 'if-*-rx.derive']],
    ['mysql', ['q.gauge']],
  ]);

  it('sums fresh values, counts hosts once per plugin, and leaves silent and removed hosts out', () => {
    const scopes = summarize(
      hosts,
      [
        row('a', 'base', { 'load.gauge': [1, NOW - 20] }),
        row('b', 'base', { 'load.gauge': [2, NOW - 20] }),
        row('c', 'base', { 'load.gauge': [4, NOW - 200] }), // silent for longer than the heartbeat
        row('gone', 'base', { 'load.gauge': [8, NOW - 20] }), // no longer in the store
        row('b', 'mysql:3306', { 'q.gauge': [10, NOW - 20] }),
        row('b', 'mysql:3307', { 'q.gauge': [5, NOW - 20] }),
      ],
      specs,
      NOW,
    );
    const find = (label: string) => scopes.find((s) => s.service === 'shop' && s.label === label)!;
    expect(find('').plugins.get('base')).toEqual({
      hosts: 2,
      patterns: new Map([
        ['load.gauge', { sum: 3, count: 2 }],
        ['if-*-rx.derive', { sum: 0, count: 0 }],
      ]),
    });
    expect(find('web').plugins.get('base')?.patterns.get('load.gauge')).toEqual({ sum: 1, count: 1 });
    // Two MySQL instances of one host: one host, two instances summed.
    expect(find('db').plugins.get('mysql')).toEqual({
      hosts: 1,
      patterns: new Map([['q.gauge', { sum: 15, count: 2 }]]),
    });
    expect(scopes.map((s) => `${s.service}/${s.label}`).sort()).toEqual(['shop/', 'shop/db', 'shop/web']);
  });

  it('sums a per-item pattern over the items of a host, as rates', () => {
    const scopes = summarize(
      hosts,
      [
        {
          ...row('a', 'base', {
            'if-eth0-rx.derive': [600, NOW - 10],
            'if-eth1-rx.derive': [1200, NOW - 10],
          }),
          previous: {
            at: NOW - 70,
            values: { 'if-eth0-rx.derive': [0, NOW - 70], 'if-eth1-rx.derive': [0, NOW - 70] },
          },
        },
      ],
      specs,
      NOW,
    );
    expect(scopes[0]?.plugins.get('base')?.patterns.get('if-*-rx.derive')).toEqual({ sum: 30, count: 1 });
  });
});
