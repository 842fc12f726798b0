/**
 * Service pages of `kurado serve` at the HTTP level (fastify inject) against real parts: the web
 * fixture's RRD files and the service summaries written from the same values, rrdcached, the
 * rrdtool pool. The service graph's numbers are checked against the hosts' own graphs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebFixture, type WebFixture } from '../helpers/web-fixture.js';

let fixture: WebFixture;

beforeAll(async () => {
  fixture = await startWebFixture({ hours: 2 });
}, 120_000);

afterAll(async () => {
  await fixture?.close();
});

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Data {
  legends: string[];
  rows: { timestamp: number; values: (number | null)[] }[];
}

async function json<T>(url: string): Promise<T> {
  const response = await fixture.app.inject({ url });
  expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
  return response.json() as T;
}

function series(data: Data, legend: string): Map<number, number | null> {
  const index = data.legends.indexOf(legend);
  expect(index, `${legend} in ${data.legends.join(', ')}`).toBeGreaterThanOrEqual(0);
  return new Map(data.rows.map((row) => [row.timestamp, row.values[index] ?? null]));
}

describe('service pages', () => {
  it('shows the service graphs with labels, terms and widths, and links from the fleet page', async () => {
    const page = await fixture.app.inject({ url: '/service/Web' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<span id="service-name">Web</span>');
    expect(page.body).toContain('src="/service-graph/Web/base/cpu.png?term=day&amp;width=500"');
    expect(page.body).toContain('src="/service-graph/Web/nginx/reqs.png?term=day&amp;width=500"');
    expect(page.body).toMatch(/href="\/service\/Web\?term=day&amp;label=frontend"[^>]*>frontend</);
    expect(page.body).toMatch(/href="\/service\/Web\?term=day&amp;label=api"[^>]*>api</);
    const week = await fixture.app.inject({ url: '/service/Web?label=frontend&term=week&width=700' });
    expect(week.statusCode).toBe(200);
    expect(week.body).toContain(
      'src="/service-graph/Web/base/loadavg-1.png?term=week&amp;width=700&amp;label=frontend"',
    );
    expect(week.body).toContain('<input type="hidden" name="label" value="frontend">');
    const fleet = await fixture.app.inject({ url: '/' });
    expect(fleet.body).toContain('href="/service/Web"');
    expect(fleet.body).toContain('href="/service/Web?label=frontend"');
    const host = await fixture.app.inject({ url: '/host/10.1.0.2' });
    expect(host.body).toContain('href="/service/Web?label=frontend"');
  });

  it('answers 404 for an unknown service or label, and says when there are no summaries yet', async () => {
    expect((await fixture.app.inject({ url: '/service/Nope' })).statusCode).toBe(404);
    expect((await fixture.app.inject({ url: '/service/Web?label=nope' })).statusCode).toBe(404);
    // DB's hosts never reported: no summaries, a page that says so.
    const db = await fixture.app.inject({ url: '/service/DB' });
    expect(db.statusCode).toBe(200);
    expect(db.body).toContain('id="no-service-graphs"');
    const png = await fixture.app.inject({ url: '/service-graph/DB/base/cpu.png' });
    expect(png.statusCode).toBe(404);
    expect(png.body).toMatch(/no service graphs for "DB"/);
    expect((await fixture.app.inject({ url: '/service-graph/Web/base/cpu.png?term=never' })).statusCode).toBe(
      400,
    );
  });

  it('draws service graphs as PNG with the same width rules as host graphs', async () => {
    const response = await fixture.app.inject({
      url: '/service-graph/Web/base/traffic.png?width=700&label=frontend',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/png');
    expect(response.rawPayload.subarray(0, 8)).toEqual(PNG_MAGIC);
    expect(response.rawPayload.readUInt32BE(16)).toBeGreaterThan(700);
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
  });

  it('gives the numbers: the label sum is the sum of its hosts’ own graphs at every minute', async () => {
    const range = 'term=4hours';
    const service = await json<Data>(`/api/service-graph/Web/base/loadavg-1?label=frontend&${range}`);
    const sum = series(service, 'Load Average');
    const average = series(service, 'Average per host');
    const hosts = await Promise.all(
      ['10.1.0.1', '10.1.0.2', '10.1.0.3'].map(async (h) =>
        series(await json<Data>(`/api/graph/${h}/base/loadavg-1?${range}`), 'Load Average'),
      ),
    );
    let compared = 0;
    for (const [timestamp, total] of sum) {
      const own = hosts.map((h) => h.get(timestamp));
      if (total === null || own.some((v) => v === null || v === undefined)) continue;
      const expected = own.reduce((a, b) => (a ?? 0) + (b ?? 0), 0) ?? 0;
      expect(total, `at ${timestamp}`).toBeCloseTo(expected, 6);
      expect(average.get(timestamp), `at ${timestamp}`).toBeCloseTo(expected / 3, 6);
      compared++;
    }
    expect(compared).toBeGreaterThan(60);
  });

  it('lists the service graphs in JSON with PNG and data URLs', async () => {
    const listed = await json<{
      service: string;
      hosts: number;
      plugins: { plugin: string; groups: { graphs: { key: string; png: string; data: string }[] }[] }[];
    }>('/api/services/Web/graphs?label=frontend&width=700');
    expect(listed.service).toBe('Web');
    expect(listed.hosts).toBe(3);
    expect(listed.plugins.map((p) => p.plugin)).toEqual(['base', 'nginx']);
    const cpu = listed.plugins[0]?.groups.flatMap((g) => g.graphs).find((g) => g.key === 'cpu');
    expect(cpu?.png).toBe('/service-graph/Web/base/cpu.png?term=day&width=700&label=frontend');
    expect(cpu?.data).toBe('/api/service-graph/Web/base/cpu?term=day&label=frontend');
    expect((await fixture.app.inject({ url: '/api/services/Nope/graphs' })).statusCode).toBe(404);
  });

  it('ranks hosts by load, CPU and any plugin metric from the latest values, with sparklines', async () => {
    interface Top {
      by: string;
      hosts: number;
      missing: number;
      top: { rank: number; address: string; value: number; text: string; url: string; sparkline: string }[];
    }
    const load = await json<Top>('/api/top?service=Web&by=load');
    expect(load.hosts).toBe(4);
    // api-1's agent stopped (critical): no value of the last 2 minutes.
    expect(load.missing).toBe(1);
    expect(load.top.map((r) => r.rank)).toEqual([1, 2, 3]);
    expect(load.top.map((r) => r.address)).not.toContain('10.1.1.1');
    const values = load.top.map((r) => r.value);
    expect([...values].sort((a, b) => b - a)).toEqual(values);
    // The fixture's load is 4 × a wave per host: the latest values it wrote, read back.
    for (const r of load.top) expect(r.value).toBeGreaterThanOrEqual(0);
    const sparkline = await fixture.app.inject({ url: load.top[0]!.sparkline });
    expect(sparkline.statusCode).toBe(200);
    expect(sparkline.rawPayload.subarray(0, 8)).toEqual(PNG_MAGIC);
    // --only-graph: the image is the plot's size, no title or legend around it.
    expect(sparkline.rawPayload.readUInt32BE(16)).toBe(120);
    const cpu = await json<Top>('/api/top?by=cpu&limit=2');
    expect(cpu.top).toHaveLength(2);
    expect(cpu.top[0]!.value).toBeGreaterThan(0);
    expect(cpu.top[0]!.value).toBeLessThan(100);
    const nginx = await json<Top>('/api/top?by=nginx:reqs.derive');
    expect(nginx.top.map((r) => r.address)).toEqual(['10.1.0.1']);
    expect(nginx.missing).toBe(6);
    const db = await json<Top>('/api/top?service=DB');
    expect(db).toMatchObject({ hosts: 2, missing: 2, top: [] });
    expect((await fixture.app.inject({ url: '/api/top?by=heat' })).statusCode).toBe(400);
    expect((await fixture.app.inject({ url: '/api/top?limit=0' })).statusCode).toBe(400);
    const fleet = await fixture.app.inject({ url: '/?by=memory' });
    expect(fleet.statusCode).toBe(200);
    expect(fleet.body).toContain('Top hosts by Memory used');
    expect(fleet.body.match(/<tr class="ranked">/g)).toHaveLength(3);
    const service = await fixture.app.inject({ url: '/service/Web?label=frontend' });
    expect(service.body.match(/<tr class="ranked">/g)).toHaveLength(3);
    expect((await fixture.app.inject({ url: '/service/Web?by=heat' })).statusCode).toBe(400);
  });
});
