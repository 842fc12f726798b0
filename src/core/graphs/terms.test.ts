import { describe, expect, it } from 'vitest';
import { RRD_RETENTION_SECONDS, withoutServerPaths } from '../rrd/layout.js';
import { EARLIEST_EPOCH, parseTimeText, RANGE_MAX_FUTURE_SECONDS, resolveRange } from './terms.js';
import { GraphRequestError } from './types.js';

const NOW = 1_800_000_000;

describe('parseTimeText', () => {
  it('reads epoch seconds from 2000-01-01 and YYYY-MM-DDTHH:MM[:SS] in local time', () => {
    expect(parseTimeText('1700000000', 'from')).toBe(1_700_000_000);
    expect(parseTimeText(String(EARLIEST_EPOCH), 'from')).toBe(EARLIEST_EPOCH);
    const local = new Date(2024, 4, 1, 10, 15).getTime() / 1000;
    expect(parseTimeText('2024-05-01T10:15', 'from')).toBe(local);
    expect(parseTimeText('2024-05-01 10:15', 'from')).toBe(local);
    expect(parseTimeText('2024-05-01T10:15:30', 'from')).toBe(local + 30);
  });

  it.each([
    ['1', 'is before 2000-01-01'],
    ['2', 'is before 2000-01-01'],
    ['946684799', 'is before 2000-01-01'],
    ['9000-01-01', 'is not a time'],
    ['2024-05-01', 'is not a time'],
    ['yesterday', 'is not a time'],
    ['1e10', 'is not a time'],
    ['-1', 'is not a time'],
    ['2024-02-30T10:00', 'is not a valid date and time'],
    ['2024-13-01T10:00', 'is not a valid date and time'],
    ['2024-05-01T24:00', 'is not a valid date and time'],
    ['1999-12-31T10:00', 'is before 2000-01-01'],
    ['9'.repeat(5000), 'is not a time'],
    ['', 'is not a time'],
  ])('refuses %j (%s)', (text, reason) => {
    expect(() => parseTimeText(text, 'from')).toThrow(GraphRequestError);
    expect(() => parseTimeText(text, 'from')).toThrow(reason);
  });
});

describe('resolveRange bounds', () => {
  it('takes a custom range within the retention of the RRD files and up to an hour ahead', () => {
    expect(RRD_RETENTION_SECONDS).toBe(1440 * 1100 * 60);
    const range = resolveRange('custom', NOW, NOW - RRD_RETENTION_SECONDS, NOW + RANGE_MAX_FUTURE_SECONDS);
    expect(range.end - range.start).toBe(RRD_RETENTION_SECONDS + RANGE_MAX_FUTURE_SECONDS);
  });

  it('refuses what the files do not hold or what lies in the future', () => {
    expect(() => resolveRange('custom', NOW, NOW - RRD_RETENTION_SECONDS - 1, NOW)).toThrow(
      /from .* is older than the data kept: RRD files hold 1100 days/,
    );
    expect(() => resolveRange('custom', NOW, NOW, NOW + RANGE_MAX_FUTURE_SECONDS + 1)).toThrow(
      /to .* is more than 1 hour in the future/,
    );
    expect(() => resolveRange('custom', NOW, 946684800, 253402300800)).toThrow(GraphRequestError);
    expect(() => resolveRange('day', NOW, undefined, NOW + 86400)).toThrow(/in the future/);
    expect(() => resolveRange('year', NOW, undefined, NOW - RRD_RETENTION_SECONDS - 86400)).toThrow(
      /older than the data kept/,
    );
  });
});

describe('withoutServerPaths', () => {
  it('makes paths under data_dir relative and hides every other absolute path', () => {
    const text =
      "opening '/var/lib/kurado/10.0.0.1/base/cpu-user.derive.rrd': No such file; rrdcached@unix:/run/rrdcached.sock said /tmp/x";
    expect(withoutServerPaths(text, '/var/lib/kurado')).toBe(
      "opening '10.0.0.1/base/cpu-user.derive.rrd': No such file; rrdcached@unix:… said …",
    );
    expect(withoutServerPaths(text, '/var/lib/kurado', '/var/lib/kurado/10.0.0.1')).toContain(
      "opening 'base/cpu-user.derive.rrd'",
    );
  });
});
