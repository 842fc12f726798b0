import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeRrdWriter } from '../../../test/helpers/ingest-fakes.js';
import { AGGREGATES_DIRECTORY } from '../protocol/host.js';
import { aggregateFilePath } from '../rrd/layout.js';
import type { HostRecord, LatestValuesRow } from '../store/types.js';
import { Aggregator } from './aggregator.js';

const DATA = path.join('/nonexistent', 'kurado-aggregator-unit');
const MINUTE = 1_800_000_000 - (1_800_000_000 % 60);

function host(address: string, label: string): HostRecord {
  return {
    address,
    hostname: address,
    comments: '',
    service: 'shop',
    label,
    role: 'web',
    plugins: ['base'],
    origin: 'import',
  };
}

describe('Aggregator (fake store and writer)', () => {
  it('writes sums, counts and hosts stamped with the minute, unknown sums where no host reported, and places the summaries first', async () => {
    const writer = new FakeRrdWriter();
    const resolved: string[][] = [];
    const rows: LatestValuesRow[] = [
      { host: 'a', plugin: 'base', at: MINUTE + 5, values: { 'load.gauge': [1.5, MINUTE + 5] } },
      { host: 'b', plugin: 'base', at: MINUTE + 5, values: { 'other.gauge': [7, MINUTE + 5] } },
    ];
    const asked: (string[] | undefined)[] = [];
    const aggregator = new Aggregator({
      dataDir: DATA,
      store: {
        listHosts: async () => [host('a', 'web'), host('b', '')],
        latestValues: async (names?: string[]) => {
          asked.push(names);
          return rows;
        },
      },
      writer,
      storage: { resolve: async (hosts) => void resolved.push([...hosts]) },
      specs: new Map([['base', ['load.gauge', 'idle.gauge']]]),
      now: () => (MINUTE + 30) * 1000,
    });
    const report = await aggregator.runOnce();
    expect(report).toMatchObject({ minute: MINUTE, scopes: 2 });
    expect(asked).toEqual([['base']]);
    expect(resolved).toEqual([[AGGREGATES_DIRECTORY]]);
    const file = (label: string, name: string) => aggregateFilePath(DATA, 'shop', label, 'base', name);
    const written = new Map(writer.writes.flat().map((u) => [u.path, [u.timestamp, u.value]]));
    expect(written.get(file('', 'hosts'))).toEqual([MINUTE, 2]);
    expect(written.get(file('', 'load.gauge.sum'))).toEqual([MINUTE, 1.5]);
    expect(written.get(file('', 'load.gauge.count'))).toEqual([MINUTE, 1]);
    expect(written.get(file('', 'idle.gauge.sum'))).toEqual([MINUTE, null]);
    expect(written.get(file('', 'idle.gauge.count'))).toEqual([MINUTE, 0]);
    expect(written.get(file('web', 'hosts'))).toEqual([MINUTE, 1]);
    expect(written.has(file('', 'other.gauge.sum'))).toBe(false);
  });
});
