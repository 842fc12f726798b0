/**
 * `kurado serve` at the HTTP level (fastify inject) against real parts: SQLite store, rrdcached,
 * RRD files from the real writer, the rrdtool render pool.
 */
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPasswordLine, parseUsersFile } from '../../src/web/access.js';
import { NGINX_PLUGIN, startWebFixture, type WebFixture } from '../helpers/web-fixture.js';

let fixture: WebFixture;

beforeAll(async () => {
  fixture = await startWebFixture();
}, 120_000);

afterAll(async () => {
  await fixture?.close();
});

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const nginx = encodeURIComponent(NGINX_PLUGIN);

describe('GET /graph/<host>/<plugin>/<graph>.png', () => {
  it('answers image/png with Cache-Control until the next minute and an ETag', async () => {
    const response = await fixture.app.inject({ url: '/graph/10.1.0.1/base/cpu.png?term=day&width=500' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/png');
    expect(response.rawPayload.subarray(0, 8)).toEqual(PNG_MAGIC);
    // A PNG's width is at bytes 16..19 of the IHDR chunk; rrdtool adds axes and legend to -w.
    expect(response.rawPayload.readUInt32BE(16)).toBeGreaterThan(500);
    const cacheControl = String(response.headers['cache-control']);
    const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)?.[1]);
    expect(cacheControl).toMatch(/^public, max-age=\d+/);
    expect(maxAge).toBeGreaterThanOrEqual(1);
    expect(maxAge).toBeLessThanOrEqual(60);
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
  });

  it('answers 304 without a body to If-None-Match with the current ETag', async () => {
    const first = await fixture.app.inject({ url: '/graph/10.1.0.1/base/memory-usage.png' });
    expect(first.statusCode).toBe(200);
    const etag = String(first.headers.etag);
    const second = await fixture.app.inject({
      url: '/graph/10.1.0.1/base/memory-usage.png',
      headers: { 'if-none-match': etag },
    });
    // The ETag names the minute: right at a minute boundary the graph is redrawn instead.
    if (second.headers.etag === etag) {
      expect(second.statusCode).toBe(304);
      expect(second.body).toBe('');
      expect(second.headers['cache-control']).toMatch(/max-age=/);
    } else {
      expect(second.statusCode).toBe(200);
    }
    const other = await fixture.app.inject({
      url: '/graph/10.1.0.1/base/memory-usage.png?term=week',
      headers: { 'if-none-match': etag },
    });
    expect(other.statusCode).toBe(200);
    expect(other.headers.etag).not.toBe(etag);
  });

  it('draws a plugin whose identifier has ":" and "/" (URL-encoded segment)', async () => {
    const response = await fixture.app.inject({ url: `/graph/10.1.0.1/${nginx}/reqs.png?term=4hours` });
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload.subarray(0, 8)).toEqual(PNG_MAGIC);
  });

  it('finds a host by hostname as well as by address', async () => {
    const response = await fixture.app.inject({ url: '/graph/web-3/base/tcp-established.png' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/png');
  });

  it('draws a custom range given as epoch seconds or local date-times', async () => {
    const to = fixture.now - 600;
    const from = to - 3 * 3600;
    const epoch = await fixture.app.inject({
      url: `/graph/10.1.0.1/base/cpu.png?term=custom&from=${from}&to=${to}`,
    });
    expect(epoch.statusCode).toBe(200);
    const implied = await fixture.app.inject({
      url: '/graph/10.1.0.1/base/cpu.png?from=2024-05-01T10:00&to=2024-05-01T13:00',
    });
    expect(implied.statusCode).toBe(200);
    expect(implied.headers['content-type']).toBe('image/png');
  });

  it.each([
    ['/graph/10.9.9.9/base/cpu.png', 404, 'unknown host "10.9.9.9"'],
    ['/graph/10.1.0.1/base/no-such-graph.png', 404, 'no-such-graph'],
    ['/graph/10.1.0.1/mysql%3A3306/rate.png', 404, 'mysql:3306'],
    ['/graph/10.2.0.1/base/cpu.png', 404, '10.2.0.1'],
    ['/graph/10.1.0.1/base/cpu.gif', 404, 'end in .png'],
    ['/graph/10.1.0.1/base/cpu.png?term=fortnight', 400, 'term="fortnight" must be one of'],
    ['/graph/10.1.0.1/base/cpu.png?width=wide', 400, 'width="wide" must be a whole number'],
    ['/graph/10.1.0.1/base/cpu.png?width=20', 400, 'width=20 must be between'],
    ['/graph/10.1.0.1/base/cpu.png?term=custom&from=1700000000', 400, 'needs both from and to'],
    ['/graph/10.1.0.1/base/cpu.png?term=custom&from=1700003600&to=1700000000', 400, 'from must be before to'],
    [
      '/graph/10.1.0.1/base/cpu.png?term=custom&from=yesterday&to=1700000000',
      400,
      'from="yesterday" is not a time',
    ],
  ])('%s answers %i with a text reason', async (url, status, reason) => {
    const response = await fixture.app.inject({ url });
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body).toContain(reason);
    expect(response.headers.etag).toBeUndefined();
  });
});

describe('JSON API', () => {
  it('GET /api/hosts lists every host with service, label, plugins and status', async () => {
    const response = await fixture.app.inject({ url: '/api/hosts' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const { hosts } = response.json() as { hosts: Record<string, unknown>[] };
    expect(hosts).toHaveLength(fixture.hosts.length);
    expect(hosts.find((h) => h.address === '10.1.0.1')).toEqual({
      address: '10.1.0.1',
      hostname: 'web-1',
      comments: 'nginx front, rack A',
      service: 'Web',
      label: 'frontend',
      role: 'web',
      plugins: ['base', NGINX_PLUGIN],
      origin: 'import',
      status: 'ok',
      url: '/host/10.1.0.1',
    });
    const db = (await fixture.app.inject({ url: '/api/hosts?service=DB' })).json() as {
      hosts: { hostname: string }[];
    };
    expect(db.hosts.map((h) => h.hostname).sort()).toEqual(['db-master', 'db-replica']);
  });

  it('GET /api/status gives ok / warn / critical / unknown per host', async () => {
    const all = (await fixture.app.inject({ url: '/api/status' })).json() as {
      at: number;
      statuses: Record<string, string>;
      reasons: Record<string, string>;
    };
    expect(all.at).toBeGreaterThanOrEqual(fixture.now);
    expect(all.statuses['10.1.0.1']).toBe('ok');
    expect(all.statuses['10.1.0.2']).toBe('warn');
    expect(all.statuses['10.1.1.1']).toBe('critical');
    expect(all.statuses['10.2.0.1']).toBe('unknown');
    // With the reason a human can act on.
    expect(all.reasons['10.1.1.1']).toBe('base not received for 15 min');
    expect(all.reasons['10.1.0.2']).toContain('Stale file handle');
    expect(all.reasons['10.1.0.1']).toBeUndefined();
    const some = (await fixture.app.inject({ url: '/api/status?host=10.1.0.1&host=10.1.1.1' })).json() as {
      statuses: Record<string, string>;
    };
    expect(some.statuses).toEqual({ '10.1.0.1': 'ok', '10.1.1.1': 'critical' });
    const posted = await fixture.app.inject({
      method: 'POST',
      url: '/api/status',
      payload: { hosts: ['10.1.0.2'] },
    });
    expect(posted.json()).toMatchObject({ statuses: { '10.1.0.2': 'warn' } });
  });

  it('GET /api/hosts/<host> gives meta, warnings and last-received times', async () => {
    const body = (await fixture.app.inject({ url: '/api/hosts/web-2' })).json() as {
      address: string;
      meta: { plugin: string; name: string; value: string }[];
      warnings: { name: string; message: string }[];
      lastReceived: { plugin: string; at: number }[];
    };
    expect(body.address).toBe('10.1.0.2');
    expect(body.meta).toContainEqual(
      expect.objectContaining({ plugin: 'base', name: 'traffic-interfaces', value: 'eth0' }),
    );
    expect(body.warnings).toEqual([
      expect.objectContaining({ name: 'disk_usage', message: 'df: /mnt/nfs: Stale file handle' }),
    ]);
    expect(body.lastReceived).toContainEqual({ plugin: 'base', at: expect.any(Number) });
    expect((await fixture.app.inject({ url: '/api/hosts/nope' })).statusCode).toBe(404);
  });

  it('GET /api/hosts/<host>/graphs lists every graph with its PNG and data URLs', async () => {
    const response = await fixture.app.inject({ url: '/api/hosts/10.1.0.1/graphs?term=week' });
    expect(response.statusCode).toBe(200);
    const body = response.json() as {
      host: string;
      plugins: {
        plugin: string;
        groups: { title: string; graphs: { key: string; title: string; png: string; data: string }[] }[];
      }[];
    };
    expect(body.host).toBe('10.1.0.1');
    expect(body.plugins.map((p) => p.plugin)).toEqual(['base', NGINX_PLUGIN]);
    const graphs = body.plugins.flatMap((p) => p.groups.flatMap((g) => g.graphs));
    const cpu = graphs.find((g) => g.key === 'cpu');
    expect(cpu).toEqual({
      plugin: 'base',
      key: 'cpu',
      title: expect.stringContaining('CPU'),
      png: '/graph/10.1.0.1/base/cpu.png?term=week&width=460',
      data: '/api/graph/10.1.0.1/base/cpu?term=week',
    });
    expect(graphs.find((g) => g.key === 'reqs')?.png).toBe(
      `/graph/10.1.0.1/${nginx}/reqs.png?term=week&width=460`,
    );
    // Every listed PNG URL draws.
    const png = await fixture.app.inject({ url: graphs.find((g) => g.key === 'reqs')!.png });
    expect(png.headers['content-type']).toBe('image/png');
  });

  it('GET /api/graph/<host>/<plugin>/<graph> exports the numbers behind a graph', async () => {
    const response = await fixture.app.inject({ url: '/api/graph/10.1.0.1/base/loadavg-1.json?term=4hours' });
    expect(response.statusCode).toBe(200);
    const body = response.json() as {
      host: string;
      graph: string;
      term: string;
      start: number;
      end: number;
      step: number;
      legends: string[];
      rows: { timestamp: number; values: (number | null)[] }[];
    };
    expect(body).toMatchObject({ host: '10.1.0.1', plugin: 'base', graph: 'loadavg-1', term: '4hours' });
    expect(body.step).toBe(60);
    expect(body.end - body.start).toBeGreaterThanOrEqual(4 * 3600 - 120);
    // Two series, as on the PNG: the 1-minute load and the CPU core count as a reference line.
    expect(body.legends).toHaveLength(2);
    const column = (i: number) =>
      body.rows.map((r) => r.values[i]).filter((v): v is number => typeof v === 'number');
    const load = column(0);
    expect(load.length).toBeGreaterThan(200);
    // loadavg-1 of the fixture is 4 × a wave between 0.05 and 0.95; the fixture hosts have 8 cores.
    expect(Math.max(...load)).toBeLessThanOrEqual(4);
    expect(Math.max(...load)).toBeGreaterThan(1);
    expect(new Set(column(1))).toEqual(new Set([8]));
    const bad = await fixture.app.inject({ url: '/api/graph/10.1.0.1/base/loadavg-1?term=never' });
    expect(bad.statusCode).toBe(400);
  });

  it('GET /api/servers lists "address hostname comments" lines for scripts', async () => {
    const response = await fixture.app.inject({ url: '/api/servers?service=DB' });
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body.split('\n').filter(Boolean).sort()).toEqual([
      '10.2.0.1 db-master MySQL primary',
      '10.2.0.2 db-replica MySQL replica',
    ]);
  });
});

describe('pages', () => {
  it('answers 404 for an unknown host or service and 400 for a bad term, as HTML', async () => {
    const host = await fixture.app.inject({ url: '/host/10.9.9.9' });
    expect(host.statusCode).toBe(404);
    expect(host.body).toContain('There is no host &quot;10.9.9.9&quot;');
    expect((await fixture.app.inject({ url: '/?service=Nope' })).statusCode).toBe(404);
    const term = await fixture.app.inject({ url: '/host/10.1.0.1?term=<b>' });
    expect(term.statusCode).toBe(400);
    expect(term.body).toContain('term=&quot;&lt;b&gt;&quot;');
    expect((await fixture.app.inject({ url: '/compare' })).statusCode).toBe(400);
    const graph = await fixture.app.inject({ url: '/host/10.1.0.1/graph/base/no-such-graph' });
    expect(graph.statusCode).toBe(404);
    expect(graph.body).toContain('no graph &quot;no-such-graph&quot;');
  });

  it('compare refuses more than 500 hosts', async () => {
    const hosts = Array.from({ length: 501 }, (_, i) => `host=10.0.${Math.floor(i / 250)}.${i % 250}`).join(
      '&',
    );
    const response = await fixture.app.inject({ url: `/compare?${hosts}` });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('At most 500 hosts');
  });

  it('gzips pages and JSON for clients that accept it', async () => {
    const response = await fixture.app.inject({
      url: '/',
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    });
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(response.headers.vary).toContain('Accept-Encoding');
    const html = gunzipSync(response.rawPayload).toString('utf8');
    expect(html).toContain('db-replica');
    expect(response.rawPayload.length).toBeLessThan(html.length);
    const plain = await fixture.app.inject({ url: '/' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(html);
  });

  it('sends pages with a Content-Security-Policy that forbids inline scripts', async () => {
    const response = await fixture.app.inject({ url: '/' });
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
  });
});

describe('access control', () => {
  it('--auth basic accepts a users-file password and refuses a wrong one or none', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kurado-users-'));
    const usersFile = path.join(dir, 'users');
    writeFileSync(usersFile, `# kurado users\n${await hashPasswordLine('alice', 's3cret pass')}\n`);
    expect(parseUsersFile(`${await hashPasswordLine('bob', 'x')}\n`).has('bob')).toBe(true);
    const app = await fixture.serverWith({ auth: 'basic', usersFile });
    const basic = (user: string, password: string) =>
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const none = await app.inject({ url: '/' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="Kurado"/);
    expect(
      (await app.inject({ url: '/', headers: { authorization: basic('alice', 'wrong') } })).statusCode,
    ).toBe(401);
    expect(
      (await app.inject({ url: '/', headers: { authorization: basic('mallory', 's3cret pass') } }))
        .statusCode,
    ).toBe(401);
    const ok = await app.inject({ url: '/', headers: { authorization: basic('alice', 's3cret pass') } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('web-1');
    const png = await app.inject({
      url: '/graph/10.1.0.1/base/cpu.png',
      headers: { authorization: basic('alice', 's3cret pass') },
    });
    expect(png.statusCode).toBe(200);
    // Behind a password, graphs may be cached by the browser only.
    expect(png.headers['cache-control']).toMatch(/^private/);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
  });

  it('--auth basic picks up a changed users file without a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kurado-users-'));
    const usersFile = path.join(dir, 'users');
    writeFileSync(usersFile, `${await hashPasswordLine('alice', 'one')}\n`);
    const app = await fixture.serverWith({ auth: 'basic', usersFile }, { usersFileCheckMs: 0 });
    const basic = (user: string, password: string) =>
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    expect(
      (await app.inject({ url: '/', headers: { authorization: basic('alice', 'one') } })).statusCode,
    ).toBe(200);
    // alice leaves, bob arrives (a different size and modification time).
    writeFileSync(usersFile, `# team\n${await hashPasswordLine('bob', 'two')}\n`);
    utimesSync(usersFile, new Date(), new Date(Date.now() + 5000));
    expect((await app.inject({ url: '/', headers: { authorization: basic('bob', 'two') } })).statusCode).toBe(
      200,
    );
    expect(
      (await app.inject({ url: '/', headers: { authorization: basic('alice', 'one') } })).statusCode,
    ).toBe(401);
    // A broken file keeps the last good users.
    writeFileSync(usersFile, 'bob:plaintext\n');
    utimesSync(usersFile, new Date(), new Date(Date.now() + 10000));
    expect((await app.inject({ url: '/', headers: { authorization: basic('bob', 'two') } })).statusCode).toBe(
      200,
    );
  });

  it('--auth basic without a users file, or with a plain-text password line, refuses to start', async () => {
    await expect(fixture.serverWith({ auth: 'basic' })).rejects.toThrow(/--users-file/);
    const dir = mkdtempSync(path.join(tmpdir(), 'kurado-users-'));
    const usersFile = path.join(dir, 'users');
    writeFileSync(usersFile, 'alice:plaintext\n');
    await expect(fixture.serverWith({ auth: 'basic', usersFile })).rejects.toThrow(`${usersFile}:1`);
  });

  it('--allow-from refuses other peers with 403 and lets listed ones in', async () => {
    const app = await fixture.serverWith({ allowFrom: ['192.168.10.0/24', '::1'] });
    const outside = await app.inject({ url: '/', remoteAddress: '10.20.30.40' });
    expect(outside.statusCode).toBe(403);
    expect(outside.body).toContain('10.20.30.40 is not in --allow-from');
    expect((await app.inject({ url: '/api/hosts', remoteAddress: '192.168.11.1' })).statusCode).toBe(403);
    expect((await app.inject({ url: '/', remoteAddress: '192.168.10.77' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/', remoteAddress: '::ffff:192.168.10.5' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/', remoteAddress: '::1' })).statusCode).toBe(200);
    // X-Forwarded-For does not get anyone in.
    const forged = await app.inject({
      url: '/',
      remoteAddress: '10.20.30.40',
      headers: { 'x-forwarded-for': '192.168.10.1' },
    });
    expect(forged.statusCode).toBe(403);
  });

  it('--trusted-proxy-header lets in only requests the proxy marked', async () => {
    const app = await fixture.serverWith({
      trustedProxyHeader: 'X-Forwarded-User',
      allowFrom: ['127.0.0.1'],
    });
    expect((await app.inject({ url: '/', remoteAddress: '127.0.0.1' })).statusCode).toBe(401);
    expect(
      (await app.inject({ url: '/', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-user': 'alice' } }))
        .statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ url: '/', remoteAddress: '10.0.0.9', headers: { 'x-forwarded-user': 'alice' } }))
        .statusCode,
    ).toBe(403);
  });
});

describe('/metrics', () => {
  it('exposes request counts, render durations, render errors and process info in Prometheus text', async () => {
    await fixture.app.inject({ url: '/graph/10.1.0.1/base/cpu.png?term=week' });
    await fixture.app.inject({ url: '/graph/10.1.0.1/base/nothing.png' });
    await fixture.app.inject({ url: '/' });
    const response = await fixture.app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    expect(text).toMatch(
      /^kurado_web_requests_total\{route="\/graph\/:host\/:plugin\/:file",method="GET",status="200"\} [1-9]/m,
    );
    expect(text).toMatch(/^kurado_web_requests_total\{route="\/",method="GET",status="200"\} [1-9]/m);
    expect(text).toMatch(/^kurado_graph_render_duration_seconds_count\{kind="png"\} [1-9]/m);
    expect(text).toMatch(/^kurado_graph_render_errors_total\{kind="png",reason="not_found"\} [1-9]/m);
    expect(text).toMatch(/^kurado_graph_pool_processes\{state="total"\} 4$/m);
    expect(text).toMatch(/^kurado_process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^kurado_nodejs_eventloop_lag_seconds /m);
  });
});
