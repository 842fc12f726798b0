import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHttpFixture } from '../../../test/helpers/http-fixture.js';
import { FetchError } from '../types.js';
import { parseApacheStatus, statusPath } from './http.js';

const fixture = (name: string) => readHttpFixture(path.join(import.meta.dirname, 'fixtures', name));
const NOW = 1_795_985_000;

describe('parseApacheStatus', () => {
  it('reads workers, the access counter and meta of a recorded Apache 2.4 ?auto page', () => {
    const reply = fixture('server-status-auto.http');
    expect(parseApacheStatus(reply.body, reply.headers.server, NOW, 'x')).toEqual([
      'metrics.busy.gauge\t1',
      'metrics.idle.gauge\t4',
      'metrics.reqs.derive\t5',
      'meta.server\tApache/2.4.71 (Debian)',
      'meta.uptime\t0',
      'meta.has-reqs\t1',
    ]);
  });

  it('without ExtendedStatus (no Total Accesses) there is no reqs metric and has-reqs is 0', () => {
    const body = fixture('server-status-auto.http')
      .body.split('\n')
      .filter((l) => !l.startsWith('Total Accesses'))
      .join('\n');
    const lines = parseApacheStatus(body, undefined, NOW, 'x');
    expect(lines.some((l) => l.startsWith('metrics.reqs.'))).toBe(false);
    expect(lines).toContain('meta.has-reqs\t0');
  });

  it('reads the old BusyServers/IdleServers names and an Uptime given as a start epoch', () => {
    const body = 'Total Accesses: 10\nUptime: 1795984000\nBusyServers: 3\nIdleServers: 7\n';
    expect(parseApacheStatus(body, 'Apache/1.3', NOW, 'x')).toEqual([
      'metrics.busy.gauge\t3',
      'metrics.idle.gauge\t7',
      'metrics.reqs.derive\t10',
      'meta.server\tApache/1.3',
      'meta.uptime\t1000',
      'meta.has-reqs\t1',
    ]);
  });

  it('an HTML error page is a garbage reply naming the URL', () => {
    const reply = fixture('404.http');
    expect(() => parseApacheStatus(reply.body, undefined, NOW, 'http://192.0.2.1:80/')).toThrow(
      new FetchError(
        'http://192.0.2.1:80/ did not answer an Apache mod_status "?auto" page (is "SetHandler server-status" set there?): "<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://ww…"',
      ),
    );
  });

  it('adds ?auto to a path without a query', () => {
    expect(statusPath(undefined)).toBe('/server-status?auto');
    expect(statusPath('/status')).toBe('/status?auto');
    expect(statusPath('/status?auto&x=1')).toBe('/status?auto&x=1');
  });
});
