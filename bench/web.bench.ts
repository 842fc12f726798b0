/**
 * `kurado serve` speed, on the real parts (SQLite store, rrdcached, RRD files from the real
 * writer, rrdtool pool), with 3,000+ listed hosts:
 * - fleet page: server time to build one page (up to 500 hosts) with the statuses and gzip it
 *   (fastify inject, so no network or browser is counted); target ≤ 300 ms; and the page load
 *   in Chromium (HTML, CSS, JS, first layout of its rows);
 * - host page: Chromium loads the page and every base graph PNG (fresh browser context each run,
 *   so nothing comes from a cache); target ≤ 1.5 s;
 * - one PNG: server time per graph, as a baseline for the host page figure.
 *
 *   npm run bench -- web          (HOSTS=3000 RUNS=15 to change the size)
 */
import { performance } from 'node:perf_hooks';
import { launchChromium } from '../test/helpers/browser.js';
import { startWebFixture } from '../test/helpers/web-fixture.js';

const HOSTS = Number(process.env.HOSTS ?? 3000);
const RUNS = Number(process.env.RUNS ?? 15);

function stats(samples: number[]): { median: number; p95: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { median: at(0.5), p95: at(0.95), min: sorted[0] ?? Number.NaN };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

const fixture = await startWebFixture({ listen: true, extraHosts: HOSTS });
const browser = await launchChromium();
let failed = false;
try {
  const total = fixture.hosts.length;

  // Fleet page, server side.
  // As a browser asks for it: gzip included in the server time.
  const fleetRequest = { url: '/', headers: { 'accept-encoding': 'gzip, deflate, br' } };
  for (let i = 0; i < 3; i++) await fixture.app.inject(fleetRequest);
  const fleet: number[] = [];
  let fleetBytes = 0;
  let fleetGzipBytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const response = await fixture.app.inject(fleetRequest);
    fleet.push(performance.now() - start);
    if (response.statusCode !== 200) throw new Error(`fleet page answered ${response.statusCode}`);
    fleetGzipBytes = response.rawPayload.length;
  }
  fleetBytes = (await fixture.app.inject({ url: '/' })).rawPayload.length;
  const fleetStats = stats(fleet);

  // One PNG, server side (the unit the host page is made of).
  const png: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const response = await fixture.app.inject({
      url: `/graph/10.1.0.1/base/cpu.png?term=day&width=500&r=${i}`,
    });
    png.push(performance.now() - start);
    if (response.statusCode !== 200) throw new Error(`PNG answered ${response.statusCode}: ${response.body}`);
  }
  const pngStats = stats(png);

  // Host page in Chromium with every graph loaded.
  const hostPage: number[] = [];
  let images = 0;
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const start = performance.now();
    await page.goto(`${fixture.url}/host/10.1.0.1?term=day`);
    await page.waitForFunction(
      () => Array.from(document.images).every((img) => img.complete && img.naturalWidth > 0),
      undefined,
      { timeout: 30_000 },
    );
    hostPage.push(performance.now() - start);
    images = await page.locator('img').count();
    await context.close();
  }
  const hostStats = stats(hostPage);

  // Fleet page in Chromium (HTML + CSS + JS, first paint of 3,000 rows).
  const fleetBrowser: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 5); i++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const start = performance.now();
    await page.goto(`${fixture.url}/`, { waitUntil: 'load' });
    fleetBrowser.push(performance.now() - start);
    await context.close();
  }
  const fleetBrowserStats = stats(fleetBrowser);

  const fleetOk = fleetStats.median <= 300;
  const hostOk = hostStats.median <= 1500;
  failed = !fleetOk || !hostOk;
  console.log(`kurado serve, ${total} hosts listed, 4 hosts with ${images} graphs each (rrdtool pool of 4)`);
  console.log(
    `fleet page, server time   median ${ms(fleetStats.median)}  p95 ${ms(fleetStats.p95)}  (${(fleetBytes / 1024).toFixed(0)} KiB HTML, ${(fleetGzipBytes / 1024).toFixed(0)} KiB gzipped)  target ≤ 300 ms  ${fleetOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `fleet page, Chromium load median ${ms(fleetBrowserStats.median)}  p95 ${ms(fleetBrowserStats.p95)}`,
  );
  console.log(
    `host page, ${images} PNGs loaded  median ${ms(hostStats.median)}  p95 ${ms(hostStats.p95)}  min ${ms(hostStats.min)}  target ≤ 1500 ms  ${hostOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `one PNG (cpu, day, 500 px), server time  median ${ms(pngStats.median)}  p95 ${ms(pngStats.p95)}`,
  );
} finally {
  await browser.close();
  await fixture.close();
}
process.exit(failed ? 1 : 0);
