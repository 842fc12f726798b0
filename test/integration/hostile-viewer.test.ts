/**
 * A hostile viewer (or a script) against a real `kurado serve`: the web fixture's SQLite store,
 * private rrdcached and rrdtool pool. Every bound is asserted together with what a good user
 * sees while the attack runs: their pages and PNGs answer as before (compared with a baseline
 * measured in the same test, generously) and no answer names a server path.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphService } from '../../src/core/graphs/service.js';
import { GRAPH_STYLE } from '../../src/core/graphs/style.js';
import { RANGE_MAX_PAST_SECONDS } from '../../src/core/graphs/terms.js';
import { Ingestor } from '../../src/core/ingest/ingestor.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { rrdFilePath } from '../../src/core/rrd/layout.js';
import { createRrdWriter } from '../../src/core/rrd/writer.js';
import { openStore } from '../../src/core/store/index.js';
import { hashPasswordLine } from '../../src/web/access.js';
import { DEFAULT_WEB_LIMITS } from '../../src/web/limits.js';
import { createWebServer } from '../../src/web/server.js';
import { startWebFixture, type WebFixture } from '../helpers/web-fixture.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PNG = '/graph/10.1.0.1/base/cpu.png?term=day';

let fixture: WebFixture;
let tmp: string;

beforeAll(async () => {
  fixture = await startWebFixture({ hours: 3 });
  tmp = mkdtempSync(path.join(tmpdir(), 'kurado-hostile-viewer-'));
}, 120_000);

afterAll(async () => {
  await fixture?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Milliseconds one request takes, asserting it succeeded. */
async function timed(
  app: FastifyInstance,
  url: string,
  headers: Record<string, string> = {},
  remoteAddress = '127.0.0.1',
): Promise<number> {
  const started = performance.now();
  const response = await app.inject({ url, headers, remoteAddress });
  const elapsed = performance.now() - started;
  expect(response.statusCode, `${url}: ${response.body.slice(0, 200)}`).toBe(200);
  return elapsed;
}

/** The median of `n` sequential timings of the good user's requests (a page and a PNG). */
async function baseline(app: FastifyInstance, headers: Record<string, string> = {}, n = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    times.push(
      (await timed(app, '/', { 'accept-encoding': 'gzip', ...headers })) + (await timed(app, PNG, headers)),
    );
  }
  return times.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

/** Generous: an attack may slow a good user down a little, never by seconds. */
function allowed(base: number): number {
  return base * 10 + 2000;
}

function expectNoServerPath(body: string): void {
  expect(body).not.toContain(fixture.dataDir);
  expect(body).not.toContain(fixture.rrdcached.address.replace(/^unix:/, ''));
  expect(body).not.toMatch(/\bpid\b/);
  expect(body).not.toMatch(/(^|[\s'"=:(])\/(tmp|var|run|home|usr|etc)\//);
}

describe('ranges', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it.each([
    ['custom&from=946684800&to=9000-01-01', 'to="9000-01-01" is not a time'],
    ['custom&from=1&to=2', 'from=1 is before 2000-01-01'],
    ['custom&from=2024-02-30T10:00&to=2024-03-01T10:00', 'is not a valid date and time'],
    ['custom&from=yesterday&to=now', 'from="yesterday" is not a time'],
    ['custom&from=946684800&to=NOW', 'is older than the data kept'],
    ['custom&from=NOW&to=NOW+7200', 'is more than 1 hour in the future'],
  ])('term=%s is a 400 saying why, on PNGs, graph data and pages', async (query, reason) => {
    const t = now();
    const q = `term=${query}`
      .replace('NOW+7200', String(t + 7200))
      .replace('NOW+86400', String(t + 86400))
      .replaceAll('NOW', String(t));
    for (const url of [
      `/graph/10.1.0.1/base/cpu.png?${q}`,
      `/api/graph/10.1.0.1/base/cpu?${q}`,
      `/host/10.1.0.1?${q}`,
    ]) {
      const response = await fixture.app.inject({ url, headers: { accept: 'text/html' } });
      expect(response.statusCode, url).toBe(400);
      expect(response.body.replaceAll('&quot;', '"'), url).toContain(reason);
    }
  });

  it('draws the oldest range the RRD files hold and one ending an hour ahead', async () => {
    const t = now();
    const oldest = await fixture.app.inject({
      url: `/graph/10.1.0.1/base/cpu.png?term=custom&from=${t - RANGE_MAX_PAST_SECONDS + 60}&to=${t}`,
    });
    expect(oldest.statusCode).toBe(200);
    const ahead = await fixture.app.inject({
      url: `/graph/10.1.0.1/base/cpu.png?term=custom&from=${t - 3600}&to=${t + 3500}`,
    });
    expect(ahead.statusCode).toBe(200);
    expect(RANGE_MAX_PAST_SECONDS).toBe(1100 * 86400);
  });

  it('a flood of out-of-range graphs and of the widest allowed ones: a normal PNG answers about as fast as before', async () => {
    const base = await baseline(fixture.app);
    const t = now();
    const widest = `width=${GRAPH_STYLE.maxWidth}&height=${GRAPH_STYLE.maxHeight}`;
    const heavy = Array.from({ length: 4 }, (_, i) =>
      fixture.app.inject({
        url: `/graph/10.1.0.${1 + (i % 3)}/base/cpu.png?term=custom&from=${t - RANGE_MAX_PAST_SECONDS + 60}&to=${t + 3600}&${widest}`,
      }),
    );
    const flood = Array.from({ length: 40 }, () =>
      fixture.app.inject({ url: `/graph/10.1.0.1/base/cpu.png?term=custom&from=946684800&to=${t}` }),
    );
    const during = await Promise.all([timed(fixture.app, PNG), timed(fixture.app, '/')]);
    const answers = await Promise.all(flood);
    expect(answers.every((r) => r.statusCode === 400)).toBe(true);
    expect((await Promise.all(heavy)).map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    expect(during[0] + during[1]).toBeLessThan(allowed(base));
  });

  it('kurado graph render applies the same rules', async () => {
    const env = {
      KURADO_CONFIG: '',
      KURADO_DATA_DIR: fixture.dataDir,
      KURADO_STORE_URL: `sqlite:${path.join(tmp, 'cli.db')}`,
      KURADO_GRAPHS_DIR: '',
    };
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args], {
          cwd: ROOT,
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stderr }));
      });
    const out = path.join(tmp, 'cli.png');
    const early = await run([
      'graph',
      'render',
      '10.1.0.1',
      'cpu',
      '--term',
      'custom',
      '--from',
      '1',
      '--to',
      '2',
      '--out',
      out,
    ]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('--from=1 is before 2000-01-01');
    const old = await run([
      'graph',
      'render',
      '10.1.0.1',
      'cpu',
      '--term',
      'custom',
      '--from',
      '946684800',
      '--to',
      String(now()),
      '--out',
      out,
    ]);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain('is older than the data kept');
    const big = await run([
      'graph',
      'render',
      '10.1.0.1',
      'cpu',
      '--width',
      String(GRAPH_STYLE.maxWidth + 1),
    ]);
    expect(big.code).toBe(2);
    expect(big.stderr).toContain(String(GRAPH_STYLE.maxWidth));
  }, 60_000);
});

describe('render queue', () => {
  it('a script queueing graphs gets 429 past its share; another viewer is drawn about as fast as before', async () => {
    const app = await createWebServer({
      store: fixture.store,
      graphs: fixture.graphs,
      config: { web: { listen: '127.0.0.1:0', auth: 'none', allowFrom: [] } },
      limits: { rendersPerClient: 4 },
    });
    try {
      const base = await baseline(app);
      const t = Math.floor(Date.now() / 1000);
      const heavy = `term=custom&from=${t - RANGE_MAX_PAST_SECONDS + 60}&to=${t}&width=${GRAPH_STYLE.maxWidth}&height=${GRAPH_STYLE.maxHeight}`;
      const script = Array.from({ length: 30 }, (_, i) =>
        app.inject({
          url: `/${i % 2 ? 'api/graph' : 'graph'}/10.1.0.${1 + (i % 3)}/base/cpu${i % 2 ? '' : '.png'}?${heavy}`,
          remoteAddress: '192.0.2.77',
        }),
      );
      const during = (await timed(app, PNG)) + (await timed(app, '/'));
      const answers = await Promise.all(script);
      const codes = answers.map((r) => r.statusCode);
      expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(4);
      expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
      expect(codes.every((c) => c === 200 || c === 429)).toBe(true);
      const refused = answers.find((r) => r.statusCode === 429)!;
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toContain('4 graphs of this client are being drawn already');
      expect(during).toBeLessThan(allowed(base));
      // Once its graphs are done, the script may draw again.
      expect((await app.inject({ url: PNG, remoteAddress: '192.0.2.77' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  }, 60_000);
});

describe('sizes', () => {
  it('one width and height limit for the URL check and the renderer', async () => {
    const { maxWidth, maxHeight } = GRAPH_STYLE;
    const widest = await fixture.app.inject({
      url: `/graph/10.1.0.1/base/cpu.png?width=${maxWidth}&height=${maxHeight}`,
    });
    expect(widest.statusCode).toBe(200);
    for (const [name, value, max] of [
      ['width', maxWidth + 1, maxWidth],
      ['height', maxHeight + 1, maxHeight],
    ] as const) {
      const response = await fixture.app.inject({ url: `/graph/10.1.0.1/base/cpu.png?${name}=${value}` });
      expect(response.statusCode).toBe(400);
      expect(response.body).toContain(`${name}=${value} must be between`);
      expect(response.body).toContain(`and ${max}`);
    }
  });
});

describe('password floods', () => {
  let app: FastifyInstance;
  let usersFile: string;

  beforeAll(async () => {
    usersFile = path.join(tmp, 'users');
    writeFileSync(
      usersFile,
      `${await hashPasswordLine('alice', 'right')}\n${await hashPasswordLine('bob', 'b0b')}\n`,
    );
    app = await fixture.serverWith({ auth: 'basic', usersFile }, { usersFileCheckMs: 50 });
  });

  it('64 wrong passwords from one client: a few 401s, then 429 with Retry-After, counted; alice is unaffected', async () => {
    const alice = { authorization: basic('alice', 'right') };
    const base = await baseline(app, alice);
    const flood = Array.from({ length: 64 }, (_, i) =>
      app.inject({
        url: '/',
        headers: { authorization: basic('alice', `guess-${i}`) },
        remoteAddress: '192.0.2.66',
      }),
    );
    const during: number[] = [];
    for (let i = 0; i < 3; i++) {
      during.push(
        (await timed(app, '/', { 'accept-encoding': 'gzip', ...alice })) + (await timed(app, PNG, alice)),
      );
    }
    const answers = await Promise.all(flood);
    const codes = answers.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(10);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(54);
    const limited = answers.find((r) => r.statusCode === 429)!;
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Math.max(...during)).toBeLessThan(allowed(base));

    // A login remembered from before still works from that address (no scrypt needed) ...
    expect((await app.inject({ url: '/', headers: alice, remoteAddress: '192.0.2.66' })).statusCode).toBe(
      200,
    );
    // ... but a new one waits: the client is refused before any scrypt runs.
    const bobThere = await app.inject({
      url: '/',
      headers: { authorization: basic('bob', 'b0b') },
      remoteAddress: '192.0.2.66',
    });
    expect(bobThere.statusCode).toBe(429);
    // Another client logs in as usual (bob has never logged in: this one pays scrypt).
    const bob = await app.inject({ url: '/', headers: { authorization: basic('bob', 'b0b') } });
    expect(bob.statusCode).toBe(200);

    const metrics = (await app.inject({ url: '/metrics', headers: alice })).body;
    const count = /kurado_web_access_denied_total\{reason="rate_limited"\} (\d+)/.exec(metrics);
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(54);
  }, 60_000);

  it('a flood from many addresses queues at most a few checks; the rest get 503 at once, alice is unaffected', async () => {
    const alice = { authorization: basic('alice', 'right') };
    const base = await baseline(app, alice);
    const flood = Array.from({ length: 120 }, (_, i) =>
      app.inject({
        url: '/',
        headers: { authorization: basic('mallory', `guess-${i}`) },
        remoteAddress: `198.51.100.${i + 1}`,
      }),
    );
    const during: number[] = [];
    for (let i = 0; i < 3; i++) {
      during.push(
        (await timed(app, '/', { 'accept-encoding': 'gzip', ...alice })) + (await timed(app, PNG, alice)),
      );
    }
    const codes = (await Promise.all(flood)).map((r) => r.statusCode);
    expect(codes.every((c) => c === 401 || c === 503)).toBe(true);
    expect(codes.filter((c) => c === 503).length).toBeGreaterThan(0);
    expect(Math.max(...during)).toBeLessThan(allowed(base));
  }, 60_000);

  it('a remembered login ends when the users file changes the password', async () => {
    const old = { authorization: basic('bob', 'b0b') };
    expect((await app.inject({ url: '/healthz', headers: old })).statusCode).toBe(200);
    writeFileSync(
      usersFile,
      `${await hashPasswordLine('alice', 'right')}\n${await hashPasswordLine('bob', 'new')}\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(
      (await app.inject({ url: '/healthz', headers: old, remoteAddress: '203.0.113.9' })).statusCode,
    ).toBe(401);
    const now = { authorization: basic('bob', 'new') };
    expect(
      (await app.inject({ url: '/healthz', headers: now, remoteAddress: '203.0.113.9' })).statusCode,
    ).toBe(200);
  });
});

describe('odd JSON and bounded answers', () => {
  it.each([
    ['{"hosts":[{"toString":1}]}', 400, 'body/hosts/0 must be string'],
    ['{"hosts":"10.1.0.1","host":{"a":1}}', 400, 'body/host'],
    ['[1,2,3]', 400, 'body must be object'],
    ['{"hosts":', 400, 'JSON'],
    [
      JSON.stringify({ hosts: Array.from({ length: 501 }, (_, i) => `10.9.${i >> 8}.${i & 255}`) }),
      400,
      '500',
    ],
    [JSON.stringify({ hosts: ['x'.repeat(300)] }), 400, 'must NOT have more than 255 characters'],
    [JSON.stringify({ hosts: Array.from({ length: 100_000 }, (_, i) => `host-${i}`) }), 413, 'too large'],
  ])('POST /api/status %#: %i', async (payload, code, reason) => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/api/status',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(response.statusCode).toBe(code);
    expect(response.body).toContain(reason);
  });

  it('hosts named in the query or as comma lists count against the same bound', async () => {
    const names = Array.from({ length: 501 }, (_, i) => `h${i.toString(36)}`);
    const query = await fixture.app.inject({ url: `/api/status?${names.map((n) => `host=${n}`).join('&')}` });
    expect(query.statusCode).toBe(400);
    expect(query.body).toContain('at most 500 hosts per request, not 501');
    const lists: string[] = [];
    for (let i = 0; i < names.length; i += 60) lists.push(names.slice(i, i + 60).join(','));
    const body = await fixture.app.inject({ method: 'POST', url: '/api/status', payload: { hosts: lists } });
    expect(body.statusCode).toBe(400);
    expect(body.body).toContain('at most 500 hosts per request, not 501');
  });

  it('a flood of oversized and malformed bodies: a normal page and PNG answer about as fast as before', async () => {
    const base = await baseline(fixture.app);
    const big = JSON.stringify({ hosts: Array.from({ length: 100_000 }, (_, i) => `host-${i}`) });
    const many = JSON.stringify({
      hosts: Array.from({ length: 501 }, (_, i) => `10.9.${i >> 8}.${i & 255}`),
    });
    const flood = Array.from({ length: 30 }, (_, i) =>
      fixture.app.inject({
        method: 'POST',
        url: '/api/status',
        headers: { 'content-type': 'application/json' },
        payload: [big, many, '{"hosts":[{"toString":1}]}'][i % 3],
      }),
    );
    const during =
      (await timed(fixture.app, '/', { 'accept-encoding': 'gzip' })) + (await timed(fixture.app, PNG));
    const codes = (await Promise.all(flood)).map((r) => r.statusCode);
    expect(new Set(codes)).toEqual(new Set([413, 400]));
    expect(during).toBeLessThan(allowed(base));
  });

  it('a good status request still answers', async () => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/api/status',
      payload: { hosts: ['10.1.0.1', 'web-2'] },
    });
    expect(response.statusCode).toBe(200);
    expect(Object.keys(response.json().statuses)).toEqual(['10.1.0.1', 'web-2']);
  });

  it('/api/hosts and /api/status come in pages that `next` walks to the end', async () => {
    for (const route of ['/api/hosts', '/api/status']) {
      const seen: string[] = [];
      let next: string | null = `${route}?limit=3`;
      let pages = 0;
      while (next) {
        const page = (await fixture.app.inject({ url: next })).json() as {
          total: number;
          next: string | null;
          hosts?: { address: string }[];
          statuses?: Record<string, string>;
        };
        expect(page.total).toBe(fixture.hosts.length);
        const addresses = page.hosts ? page.hosts.map((h) => h.address) : Object.keys(page.statuses ?? {});
        expect(addresses.length).toBeLessThanOrEqual(3);
        seen.push(...addresses);
        next = page.next;
        pages++;
      }
      expect(pages).toBe(Math.ceil(fixture.hosts.length / 3));
      expect(seen.sort()).toEqual(fixture.hosts.map((h) => h.address).sort());
    }
    for (const bad of ['limit=0', `limit=${DEFAULT_WEB_LIMITS.pageSize + 1}`, 'offset=-1', 'limit=x']) {
      const response = await fixture.app.inject({ url: `/api/hosts?${bad}` });
      expect(response.statusCode, bad).toBe(400);
    }
  });

  // 60 page loads over 20,000 hosts: about 15 s on a quiet machine, over a minute on a loaded one.
  it('a fleet of 20,000 hosts: the fleet page and /api/servers answer one bounded page each, and their links reach every host once', {
    timeout: 240_000,
  }, async () => {
    const store = await openStore(`sqlite:${path.join(tmp, 'fleet.db')}`);
    await store.migrate();
    const fleet = Array.from({ length: 20_000 }, (_, i) => ({
      address: `10.9.${Math.floor(i / 250)}.${i % 250}`,
      hostname: `junk-${i}`,
      comments: 'registered by a flood',
      service: i < 15_000 ? 'unregistered' : 'shop',
      label: '',
      role: 'web',
      plugins: ['base'],
      origin: 'import' as const,
    }));
    await store.upsertHosts(fleet);
    // Counts how often the whole fleet is read.
    let fleetReads = 0;
    const counted = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'listHosts') fleetReads++;
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const app = await createWebServer({
      store: counted,
      graphs: fixture.graphs,
      config: { web: { listen: '127.0.0.1:0', auth: 'none', allowFrom: [] } },
    });
    try {
      const { fleetPageSize, pageSize } = DEFAULT_WEB_LIMITS;
      const rowsOf = (html: string) =>
        [...html.matchAll(/<input type="checkbox" class="pick" value="([^"]+)"/g)].map((m) => m[1]!);
      const nextOf = (html: string) =>
        /<a href="([^"]+)" rel="next">/.exec(html)?.[1]?.replaceAll('&amp;', '&');
      const seen: string[] = [];
      let url: string | undefined = '/';
      let pages = 0;
      while (url) {
        const response = await app.inject({ url });
        expect(response.statusCode, url).toBe(200);
        const rows = rowsOf(response.body);
        expect(rows.length).toBeLessThanOrEqual(fleetPageSize);
        // About 400 bytes per host row: a page stays a few hundred KB however big the fleet.
        expect(response.body.length).toBeLessThan(fleetPageSize * 600);
        if (pages === 0) expect(response.body).toContain(`hosts 1–${fleetPageSize} of 20000`);
        seen.push(...rows);
        url = nextOf(response.body);
        pages++;
      }
      expect(pages).toBe(20_000 / fleetPageSize);
      // Walking 40 pages reads the fleet about once per fleetSnapshotMs, not once per page.
      expect(fleetReads).toBeLessThan(pages / 2);
      expect(seen).toHaveLength(20_000);
      expect(new Set(seen).size).toBe(20_000);
      // A previous link goes back; a search finds a host on any page, served as one small page.
      const second = await app.inject({ url: `/?offset=${fleetPageSize}` });
      expect(/<a href="([^"]+)" rel="prev">/.exec(second.body)?.[1]).toBe(
        `/?offset=0&amp;limit=${fleetPageSize}`,
      );
      const found = await app.inject({ url: '/?q=junk-19999' });
      expect(rowsOf(found.body)).toEqual(['10.9.79.249']);
      expect(found.body).toContain('hosts 1–1 of 1 matching');
      expect((await app.inject({ url: '/?limit=0' })).statusCode).toBe(400);

      const lines: string[] = [];
      let servers: string | undefined = '/api/servers';
      let serverPages = 0;
      while (servers) {
        const response: { statusCode: number; headers: Record<string, unknown>; body: string } =
          await app.inject({ url: servers });
        expect(response.statusCode).toBe(200);
        expect(response.headers['x-total-count']).toBe('20000');
        const page = response.body.split('\n').filter(Boolean);
        expect(page.length).toBeLessThanOrEqual(pageSize);
        lines.push(...page);
        servers = /^<([^>]+)>; rel="next"$/.exec(String(response.headers.link ?? ''))?.[1];
        serverPages++;
      }
      expect(serverPages).toBe(20_000 / pageSize);
      expect(lines).toHaveLength(20_000);
      expect(lines).toContain('10.9.0.0 junk-0 registered by a flood');
      expect((await app.inject({ url: '/api/servers?service=shop&limit=2' })).body).toBe(
        '10.9.60.0 junk-15000 registered by a flood\n10.9.60.1 junk-15001 registered by a flood\n',
      );
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('/api/hosts/<host> and the host page cap meta and warnings and say so; other hosts are unaffected', async () => {
    // The store keeps its own (agent-side) caps, which are lower than the web's defaults: a
    // server with small web caps shows what a store filled past them (older data, a raised
    // [limits]) still answers with.
    const limits = { metaPerHost: 50, warningsPerHost: 20, valueLength: 100 };
    const app = await createWebServer({
      store: fixture.store,
      graphs: fixture.graphs,
      config: { web: { listen: '127.0.0.1:0', auth: 'none', allowFrom: [] } },
      limits,
    });
    const address = '10.3.0.1';
    const now = Math.floor(Date.now() / 1000);
    await fixture.store.writeBatch({
      meta: Array.from({ length: 80 }, (_, i) => ({
        host: address,
        plugin: 'base',
        name: `junk-${String(i).padStart(5, '0')}`,
        value: i === 0 ? 'v'.repeat(500) : `value ${i}`,
        timestamp: now,
      })),
      warnings: Array.from({ length: 30 }, (_, i) => ({
        host: address,
        plugin: 'base',
        name: `w${i}`,
        message: `warning ${i}`,
        timestamp: now,
      })),
      received: [],
      receivedAt: now,
    });
    try {
      const body = (await app.inject({ url: `/api/hosts/${address}` })).json() as {
        meta: { value: string }[];
        warnings: unknown[];
        truncated: { meta: boolean; warnings: boolean };
        counts: { meta: number; warnings: number };
      };
      expect(body.meta).toHaveLength(limits.metaPerHost);
      expect(body.warnings).toHaveLength(limits.warningsPerHost);
      expect(body.truncated).toEqual({ meta: true, warnings: true });
      expect(body.counts).toEqual({ meta: 80, warnings: 30 });
      expect(Math.max(...body.meta.map((m) => m.value.length))).toBeLessThanOrEqual(limits.valueLength);
      const page = await app.inject({ url: `/host/${address}` });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain(`Showing ${limits.metaPerHost} of 80 meta values`);
      const other = (await app.inject({ url: '/api/hosts/web-2' })).json() as {
        truncated: { meta: boolean; warnings: boolean };
      };
      expect(other.truncated).toEqual({ meta: false, warnings: false });
      // The default caps are at least what the store keeps, so a normal host is never cut.
      expect(DEFAULT_WEB_LIMITS.metaPerHost).toBeGreaterThanOrEqual(DEFAULT_LIMITS.maxMetaPerHost);
      expect(DEFAULT_WEB_LIMITS.warningsPerHost).toBeGreaterThanOrEqual(DEFAULT_LIMITS.maxWarningsPerHost);
    } finally {
      await app.close();
    }
  });

  it.each([
    [`/host/${'h'.repeat(300)}`, 'host in the URL is longer than 255 characters'],
    [`/api/hosts/${'h'.repeat(300)}`, 'host in the URL is longer than 255 characters'],
    [`/graph/10.1.0.1/${'p'.repeat(300)}/cpu.png`, 'plugin in the URL is longer than 255 characters'],
    [`/graph/10.1.0.1/base/${'g'.repeat(300)}.png`, 'file in the URL is longer than 255 characters'],
    [`/?q=${'q'.repeat(2000)}`, 'query parameter "q" is longer than 1024 characters'],
    [`/api/status?host=${'h'.repeat(300)}`, 'longer than 255 characters'],
  ])('%s is a 400', async (url, reason) => {
    const response = await fixture.app.inject({ url });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain(reason);
  });
});

describe('no server paths in answers', () => {
  it('a listed host without data: 404 naming the host, not data_dir', async () => {
    for (const url of ['/graph/10.2.0.1/base/cpu.png', '/api/graph/10.2.0.1/base/cpu']) {
      const response = await fixture.app.inject({ url });
      expect(response.statusCode).toBe(404);
      expect(response.body).toContain('no data for host "10.2.0.1"');
      expectNoServerPath(response.body);
    }
  });

  it('rrdtool refusing a broken file through rrdcached: 500 with the reason, no paths, socket or pid', async () => {
    const file = rrdFilePath(fixture.dataDir, '10.2.0.2', 'junk', 'broken', 'gauge');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'this is not an RRD file\n'.repeat(100));
    for (const url of ['/graph/10.2.0.2/junk/broken.gauge.png', '/api/graph/10.2.0.2/junk/broken.gauge']) {
      const response = await fixture.app.inject({ url });
      expect(response.statusCode, response.body).toBe(500);
      expect(response.body).toMatch(/rrdtool (graphv|xport) failed: /);
      expectNoServerPath(response.body);
    }
    // The good user's graphs are untouched.
    expect((await fixture.app.inject({ url: PNG })).statusCode).toBe(200);
  });

  it('a render killed by the timeout: 500 saying so, without pid or command line', async () => {
    const graphs = createGraphService({
      dataDir: fixture.dataDir,
      rrdcached: fixture.rrdcached.address,
      poolSize: 1,
      timeoutMs: 1,
    });
    const logged: string[] = [];
    const app = await createWebServer({
      store: fixture.store,
      graphs,
      config: { web: { listen: '127.0.0.1:0', auth: 'none', allowFrom: [] } },
      logger: pino({ level: 'info' }, { write: (line: string) => logged.push(line) }),
    });
    try {
      const response = await app.inject({ url: '/graph/10.1.0.1/base/cpu.png?term=year' });
      expect(response.statusCode).toBe(500);
      expect(response.body).toContain('drawing took longer than 0.001 s and was stopped');
      expectNoServerPath(response.body);
      // The operator gets the whole story in the log: the pid and the command line.
      const line = logged.find((l) => l.includes('graph request failed')) ?? '';
      expect(line).toMatch(/did not answer within 1 ms; killed pid \d+/);
      expect(line).toContain(fixture.rrdcached.address);
    } finally {
      await app.close();
      await graphs.close();
    }
  });

  it('a value rrdcached refuses becomes a host warning naming plugin/metric, not the file path', async () => {
    const host = '10.2.0.2';
    const file = rrdFilePath(fixture.dataDir, host, 'junk', 'refused', 'gauge');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'not an RRD file either\n'.repeat(100));
    const writer = createRrdWriter({ dataDir: fixture.dataDir, rrdcached: fixture.rrdcached.address });
    const ingestor = new Ingestor({ dataDir: fixture.dataDir, writer, store: fixture.store });
    try {
      const now = Math.floor(Date.now() / 1000);
      const report = await ingestor.ingest([{ host, payload: `junk.metrics.refused.gauge\t1\t${now}\n` }]);
      expect(report.failed).toBe(1);
    } finally {
      await writer.close();
    }
    const body = (await fixture.app.inject({ url: `/api/hosts/${host}` })).json() as {
      warnings: { message: string }[];
    };
    const warning = body.warnings.find((w) => /not stored/.test(w.message));
    expect(warning?.message).toContain('junk/refused.gauge.rrd');
    expectNoServerPath(warning?.message ?? '');
    const page = await fixture.app.inject({ url: `/host/${host}` });
    expectNoServerPath(page.body);
  });
});
