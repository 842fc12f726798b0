import { describe, expect, it } from 'vitest';
import { metaBadges, parseRange, QueryError, shortPlugin, uptimeText } from './format.js';

const meta = (name: string, value: string) => ({ host: 'h', plugin: 'base', name, value, timestamp: 0 });

describe('host page badges', () => {
  it('shows uptime seconds as "up N days, H:MM" (upstream uptime2str)', () => {
    expect(uptimeText(0)).toBe('up 0 days, 0:00');
    expect(uptimeText(86400 + 3 * 3600 + 7 * 60 + 59)).toBe('up 1 day, 3:07');
    expect(uptimeText(40 * 86400 + 23 * 3600 + 59 * 60)).toBe('up 40 days, 23:59');
  });

  it('puts version and uptime first, hides device lists, keeps other values as sent', () => {
    const badges = metaBadges([
      meta('traffic-interfaces', 'eth0,eth1'),
      meta('disk-usage-sda1-mount', '/'),
      meta('maxconns', '1024'),
      meta('uptime', '93784'),
      meta('version', '1.6.21'),
      meta('server', '<b>nginx</b>'),
    ]);
    expect(badges.map((b) => [b.name, b.value])).toEqual([
      ['version', '1.6.21'],
      ['uptime', 'up 1 day, 2:03'],
      ['maxconns', '1024'],
      ['server', '<b>nginx</b>'],
    ]);
  });

  it('shortens long values and plugin identifiers, keeping the whole text for the tooltip', () => {
    const [badge] = metaBadges([meta('args', 'x'.repeat(200))]);
    expect(badge?.value).toHaveLength(80);
    expect(badge?.title).toHaveLength(200);
    expect(shortPlugin('nginx:8080:/nginx_status')).toBe('nginx:8080:/nginx_status');
    expect(shortPlugin('http:8080:/server-status?auto:www.example.com')).toBe('http:8080:/server-status?..');
  });
});

describe('graph query parameters', () => {
  it('defaults to a day at the given width and 100 px high', () => {
    expect(parseRange({}, 500)).toEqual({ term: 'day', width: 500, height: 100 });
  });

  it('reads a custom range from epoch seconds or a datetime-local value', () => {
    // The clock is pinned: a range must lie within what the RRD files hold at `now`.
    const now = 1714600000; // 2024-05-01
    expect(parseRange({ from: '1700000000', to: '1700003600' }, 500, 'day', now)).toMatchObject({
      term: 'custom',
      from: 1700000000,
      to: 1700003600,
    });
    const local = parseRange(
      { term: 'custom', from: '2024-05-01T10:15', to: '2024-05-01 12:00' },
      500,
      'day',
      now,
    );
    expect(local.to! - local.from!).toBe(105 * 60);
  });

  it('explains what is wrong', () => {
    expect(() => parseRange({ term: 'decade' }, 500)).toThrow(QueryError);
    expect(() => parseRange({ width: '99999' }, 500)).toThrow('width=99999 must be between 100 and 3000');
    expect(() => parseRange({ height: '-1' }, 500)).toThrow('height="-1" must be a whole number');
  });
});
