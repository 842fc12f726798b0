/**
 * Service pages in a real headless Chromium against a real `kurado serve` (the web fixture: SQLite
 * store, rrdcached, host RRD files and the service summaries written from the same values).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { startWebFixture, type WebFixture } from '../helpers/web-fixture.js';

// UPDATE_SCREENSHOTS=1 refreshes the README's screenshot in docs/.
const DOCS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(import.meta.dirname, '../../docs')
  : mkdtempSync(path.join(tmpdir(), 'kurado-screenshots-'));

let fixture: WebFixture;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(DOCS, { recursive: true });
  fixture = await startWebFixture({ listen: true });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await fixture?.close();
});

/** Every image on the page loaded and is a drawn PNG (none broken). */
async function expectImagesDrawn(page: Page, minimum: number): Promise<void> {
  const images = page.locator('img');
  expect(await images.count()).toBeGreaterThanOrEqual(minimum);
  for (let i = 0; i < (await images.count()); i++) await images.nth(i).scrollIntoViewIfNeeded();
  await page.waitForFunction(() => Array.from(document.images).every((img) => img.complete), undefined, {
    timeout: 30_000,
  });
  const broken = await page.evaluate(() =>
    Array.from(document.images)
      .filter((img) => img.naturalWidth === 0)
      .map((img) => img.getAttribute('src')),
  );
  expect(broken).toEqual([]);
}

describe('service page', () => {
  it('opens from the fleet page, draws every service graph, switches label, term and ranking', async () => {
    const context = await browser.newContext({
      viewport: { width: 1400, height: 1000 },
      baseURL: fixture.url,
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto('/');
    // The fleet page ranks the whole fleet; its "graphs" link opens the service page.
    expect(await page.locator('section.ranking tr.ranked').count()).toBe(3);
    await page.locator('section.service[data-service="Web"] h2 a.service-graphs').click();
    await page.waitForURL(/\/service\/Web$/);
    expect((await page.locator('#service-name').textContent())?.trim()).toBe('Web');
    expect((await page.locator('#host-count').textContent())?.trim()).toBe('4');
    const graphs = page.locator('figure.graph img');
    expect(await graphs.count()).toBeGreaterThanOrEqual(8);
    await expectImagesDrawn(page, 12);
    // A label narrows the graphs and the ranking to its hosts.
    await page.locator('.label-nav a', { hasText: 'frontend' }).click();
    await page.waitForURL(/label=frontend/);
    expect((await page.locator('#host-count').textContent())?.trim()).toBe('3');
    expect(await page.locator('section.ranking tr.ranked').count()).toBe(3);
    expect(await graphs.first().getAttribute('src')).toContain('label=frontend');
    // Terms and widths as on a host page; the label stays.
    await page.locator('.terms a', { hasText: 'Week' }).click();
    await page.waitForURL(/term=week/);
    expect(await graphs.first().getAttribute('src')).toMatch(/term=week.*label=frontend/);
    await page.locator('.widths a', { hasText: '700' }).click();
    await page.waitForURL(/width=700/);
    expect(await graphs.first().getAttribute('src')).toMatch(/width=700/);
    await expectImagesDrawn(page, 12);
    // Another ranking: CPU busy, values in %.
    await page.locator('.ranking-by a', { hasText: 'CPU busy' }).click();
    await page.waitForURL(/by=cpu/);
    expect((await page.locator('section.ranking h2').textContent())?.trim()).toBe('Top hosts by CPU busy');
    const cpu = await page.locator('section.ranking td.value').allInnerTexts();
    expect(cpu).toHaveLength(3);
    for (const value of cpu) expect(value).toMatch(/^\d+(\.\d+)?%$/);
    // The screenshot for the README: the whole service, one day, default width.
    await page.goto('/service/Web?term=8hours');
    await expectImagesDrawn(page, 12);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(DOCS, 'screenshot-service.png') });
    // A ranked host's link opens its host page.
    await page.locator('section.ranking td.name a').first().click();
    await page.waitForURL(/\/host\//);
    expect((await page.locator('#hostname').textContent())?.trim()).toMatch(/^web-\d$/);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
