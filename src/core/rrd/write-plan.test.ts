import { describe, expect, it } from 'vitest';
import { emptyReport, formatValue, groupByFile } from './write-plan.js';

describe('formatValue', () => {
  it('writes gauges as they are and unknowns as U', () => {
    expect(formatValue(1.5, 'gauge')).toBe('1.5');
    expect(formatValue(-2, 'absolute')).toBe('-2');
    expect(formatValue(null, 'gauge')).toBe('U');
    expect(formatValue(Number.NaN, 'derive')).toBe('U');
    expect(formatValue(Number.POSITIVE_INFINITY, 'gauge')).toBe('U');
  });

  it('rounds counters and derives to plain integers rrdtool accepts', () => {
    expect(formatValue(1.5, 'derive')).toBe('2');
    expect(formatValue(-3.4, 'derive')).toBe('-3');
    expect(formatValue(1e21, 'counter')).toBe('1000000000000000000000');
    expect(formatValue(-1, 'counter')).toBe('U');
  });
});

describe('groupByFile', () => {
  it('groups values per file in timestamp order, keeping the first of a repeated timestamp', () => {
    const report = emptyReport();
    const files = groupByFile(
      [
        { path: '/d/a.rrd', type: 'gauge', timestamp: 180, value: 3 },
        { path: '/d/b.rrd', type: 'derive', timestamp: 60, value: 1 },
        { path: '/d/a.rrd', type: 'gauge', timestamp: 60, value: 1 },
        { path: '/d/a.rrd', type: 'gauge', timestamp: 180, value: 9 },
        { path: '/d/a.rrd', type: 'gauge', timestamp: 120, value: null },
      ],
      report,
    );
    expect(files.map(({ path, type, timestamps, values }) => ({ path, type, timestamps, values }))).toEqual([
      { path: '/d/a.rrd', type: 'gauge', timestamps: [60, 120, 180], values: [1, null, 3] },
      { path: '/d/b.rrd', type: 'derive', timestamps: [60], values: [1] },
    ]);
    expect(report.duplicates).toBe(1);
  });
});
