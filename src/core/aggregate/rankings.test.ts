import { describe, expect, it } from 'vitest';
import type { HostRecord, LatestValuesRow } from '../store/types.js';
import { formatRankingValue } from './ranking-format.js';
import { RankingError, rankHosts, rankingMetric } from './rankings.js';

const NOW = 1_800_000_030;

function host(address: string, hostname = address): HostRecord {
  return {
    address,
    hostname,
    comments: '',
    service: 'shop',
    label: '',
    role: 'web',
    plugins: ['base'],
    origin: 'import',
  };
}

function row(
  address: string,
  plugin: string,
  values: Record<string, number>,
  at = NOW - 20,
): LatestValuesRow {
  return {
    host: address,
    plugin,
    at,
    values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [v, at] as [number, number]])),
  };
}

describe('rankHosts', () => {
  const hosts = [
    host('10.0.0.1', 'b-web'),
    host('10.0.0.2', 'a-web'),
    host('10.0.0.3', 'c-db'),
    host('10.0.0.4'),
  ];

  it('ranks highest first, equal values by hostname, and counts hosts without fresh data', () => {
    const ranking = rankHosts(
      hosts,
      [
        row('10.0.0.1', 'base', { 'loadavg-1.gauge': 2 }),
        row('10.0.0.2', 'base', { 'loadavg-1.gauge': 2 }),
        row('10.0.0.3', 'base', { 'loadavg-1.gauge': 9 }, NOW - 300), // silent for 5 minutes
        row('10.9.9.9', 'base', { 'loadavg-1.gauge': 99 }), // not in the list
      ],
      rankingMetric('load'),
      NOW,
      10,
    );
    expect(ranking.top.map((r) => [r.host.hostname, r.value])).toEqual([
      ['a-web', 2],
      ['b-web', 2],
    ]);
    expect(ranking).toMatchObject({ hosts: 4, missing: 2 });
  });

  it('keeps only the first `limit` hosts', () => {
    const rows = hosts.map((h, i) => row(h.address, 'base', { 'loadavg-1.gauge': i }));
    expect(rankHosts(hosts, rows, rankingMetric('load'), NOW, 2).top.map((r) => r.value)).toEqual([3, 2]);
  });

  it('computes CPU busy and traffic from counter rates, memory as a share of the total', () => {
    const latest = row('10.0.0.1', 'base', {
      'cpu-user.derive': 6000 + 600,
      'cpu-system.derive': 1000 + 600,
      'cpu-idle.derive': 9000 + 4800,
      'traffic-eth0-rxbytes.derive': 60_000,
      'traffic-eth0-txbytes.derive': 6_000,
      'traffic-eth1-rxbytes.derive': 60_000,
      'memory-used.gauge': 3,
      'memory-total.gauge': 12,
    });
    latest.previous = {
      at: NOW - 80,
      values: {
        'cpu-user.derive': [6000, NOW - 80],
        'cpu-system.derive': [1000, NOW - 80],
        'cpu-idle.derive': [9000, NOW - 80],
        'traffic-eth0-rxbytes.derive': [0, NOW - 80],
        'traffic-eth0-txbytes.derive': [0, NOW - 80],
        'traffic-eth1-rxbytes.derive': [0, NOW - 80],
      },
    };
    const value = (by: string) => rankHosts(hosts, [latest], rankingMetric(by), NOW, 1).top[0]?.value;
    expect(value('cpu')).toBeCloseTo(20, 6); // (600 + 600) of 6000 ticks
    expect(value('traffic')).toBeCloseTo(((60_000 + 6_000 + 60_000) / 60) * 8, 6);
    expect(value('memory')).toBeCloseTo(25, 6);
    // Counters without a sample before have no rate yet: the host has no data.
    expect(rankHosts(hosts, [{ ...latest, previous: undefined }], rankingMetric('cpu'), NOW, 1).missing).toBe(
      4,
    );
  });

  it('ranks by any plugin metric, summing the instances of a host', () => {
    const ranking = rankHosts(
      hosts,
      [
        row('10.0.0.1', 'mysql:3306', { 'threads.gauge': 10 }),
        row('10.0.0.1', 'mysql:3307', { 'threads.gauge': 5 }),
        row('10.0.0.2', 'mysql', { 'threads.gauge': 12 }),
        row('10.0.0.3', 'base', { 'threads.gauge': 100 }),
      ],
      rankingMetric('mysql:threads.gauge'),
      NOW,
      10,
    );
    expect(ranking.top.map((r) => [r.host.address, r.value])).toEqual([
      ['10.0.0.1', 15],
      ['10.0.0.2', 12],
    ]);
    expect(() => rankingMetric('heat')).toThrow(RankingError);
    expect(() => rankingMetric('nginx:reqs')).toThrow(/<plugin>:<name.type>/);
  });
});

describe('formatRankingValue', () => {
  it('shortens big numbers and keeps units', () => {
    expect(formatRankingValue(1.234, '')).toBe('1.23');
    expect(formatRankingValue(45.678, '%')).toBe('45.7%');
    expect(formatRankingValue(12_345_678, 'bit/s')).toBe('12.3 Mbit/s');
  });
});
