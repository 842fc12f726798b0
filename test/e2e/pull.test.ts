/**
 * The pull path end to end: `kurado schedule` → RabbitMQ → two `kurado pull-worker` processes →
 * rrdcached and MariaDB → `kurado serve`, looked at in Chromium: the host page's nginx, Redis
 * and memcached graphs draw and their data holds values. The scheduling "minute" is 10 s (hidden
 * --period-seconds) so a counter gets its two readings across an RRD step within ~70 s.
 */
import { connect } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { spawnKurado } from '../helpers/cli.js';
import { hostRecord, type PullSetup, pullSetup, storedJobs } from '../helpers/pull-run.js';
import { eventually, listRrdFiles } from '../helpers/rrd-assert.js';
import { freePort, type RunningServer, startMemcached, startNginx, startRedis } from '../helpers/servers.js';

const ADDRESS = '127.0.0.1';
const servers: RunningServer[] = [];
let setup: PullSetup;
let browser: Browser;

beforeAll(async () => {
  servers.push(await startNginx(), await startRedis(), await startMemcached());
  setup = await pullSetup();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await setup?.close();
  await Promise.all(servers.map((server) => server.stop()));
});

describe('pull end to end', () => {
  it('fills the nginx, Redis and memcached graphs of a host page', { timeout: 240_000 }, async () => {
    const [nginx, redis, memcached] = servers as [RunningServer, RunningServer, RunningServer];
    const plugins = [`nginx:${nginx.port}`, `redis:${redis.port}`, `memcached:${memcached.port}`];
    await setup.store.upsertHosts([hostRecord(ADDRESS, plugins)]);
    // Cache traffic, so memcached's hit-rate graph (hits / (hits + misses)) has something to divide.
    const traffic = setInterval(() => {
      const socket = connect(memcached.port, '127.0.0.1', () =>
        socket.end('set kurado 0 0 2\r\nok\r\nget kurado\r\nget missing\r\nquit\r\n'),
      );
      socket.on('error', () => undefined);
      socket.resume();
    }, 1000);
    try {
      const workers = [setup.worker(), setup.worker()];
      setup.schedule(['--period-seconds', '10']);
      const port = await freePort();
      const serve = spawnKurado([
        'serve',
        '--store',
        setup.database.url,
        '--data-dir',
        setup.rrdcached.baseDir,
        '--rrdcached',
        setup.rrdcached.address,
        '--listen',
        `127.0.0.1:${port}`,
      ]);
      setup.processes.push(serve);
      await serve.waitForLog(/kurado serve listening/, 120_000);
      const web = `http://127.0.0.1:${port}`;

      // Every graph of the three plugins has values once a step with two readings is closed.
      const emptyGraphs = async (): Promise<string[]> => {
        const listing = (await (await fetch(`${web}/api/hosts/${ADDRESS}/graphs?term=1hour`)).json()) as {
          plugins: { plugin: string; groups: { graphs: { key: string; data: string }[] }[] }[];
        };
        const empty: string[] = [];
        for (const plugin of plugins) {
          const entry = listing.plugins.find((p) => p.plugin === plugin);
          if (!entry) {
            empty.push(`${plugin} (no graphs listed)`);
            continue;
          }
          for (const graph of entry.groups.flatMap((group) => group.graphs)) {
            const data = (await (await fetch(`${web}${graph.data}`)).json()) as {
              rows?: { values: (number | null)[] }[];
            };
            const values = (data.rows ?? []).flatMap((row) => row.values).filter((v) => v !== null);
            if (values.length === 0) empty.push(`${plugin} ${graph.key}`);
          }
        }
        return empty;
      };
      let lastEmpty: string[] = [];
      await eventually(
        async () => {
          lastEmpty = await emptyGraphs();
          return lastEmpty.length === 0;
        },
        () =>
          `graphs without data: ${lastEmpty.join(', ')}; files: ${listRrdFiles(setup.rrdcached.baseDir).join(' ')}; worker log:\n${workers[0]!.logs().slice(-2000)}`,
        180_000,
      );
      // Both workers took jobs from the queue.
      for (const worker of workers) expect(storedJobs(worker).length).toBeGreaterThan(0);

      const page = await browser.newPage();
      try {
        // 1 hour: the default day view reads 5-minute averages, which need 5 minutes of data.
        await page.goto(`${web}/host/${ADDRESS}?term=1hour`);
        for (const plugin of plugins) {
          const section = page.locator(`section[data-plugin="${plugin}"]`);
          expect(await section.count(), plugin).toBe(1);
          expect(await section.locator('img').count(), plugin).toBeGreaterThan(0);
        }
        await page.waitForFunction(
          () => Array.from(document.images).every((img) => img.complete),
          undefined,
          {
            timeout: 30_000,
          },
        );
        const broken = await page.evaluate(() =>
          Array.from(document.images)
            .filter((img) => img.naturalWidth === 0)
            .map((img) => img.getAttribute('src')),
        );
        expect(broken).toEqual([]);
        // The data behind each drawn graph, as the page links it, holds values.
        const emptyFigures = await page.evaluate(async () => {
          const empty: string[] = [];
          for (const figure of Array.from(document.querySelectorAll<HTMLElement>('figure[data-json]'))) {
            const data = (await (await fetch(figure.dataset.json ?? '')).json()) as {
              rows: { values: (number | null)[] }[];
            };
            if (!data.rows.some((row) => row.values.some((v) => v !== null)))
              empty.push(figure.dataset.graph ?? '');
          }
          return empty;
        });
        expect(emptyFigures).toEqual([]);
      } finally {
        await page.close();
      }
    } finally {
      clearInterval(traffic);
    }
  });
});
