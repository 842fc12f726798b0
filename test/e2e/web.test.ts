/**
 * The web UI in a real headless Chromium against a real `kurado serve` (SQLite store, rrdcached,
 * RRD files from the real writer, rrdtool pool): what a user clicks, they get.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import {
  NGINX_PLUGIN,
  startWebFixture,
  type WebFixture,
  XSS_COMMENT,
  XSS_META,
} from '../helpers/web-fixture.js';

// UPDATE_SCREENSHOTS=1 refreshes the README's screenshots in docs/; other runs write them to a
// temporary directory, so a test run leaves the work tree as it was.
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

interface Session {
  context: BrowserContext;
  page: Page;
  /** Every /graph/ response the page received. */
  graphResponses: Response[];
  dialogs: string[];
  errors: string[];
}

async function open(url = '/'): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, baseURL: fixture.url });
  const page = await context.newPage();
  const session: Session = { context, page, graphResponses: [], dialogs: [], errors: [] };
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/graph/')) session.graphResponses.push(response);
  });
  page.on('dialog', (dialog) => {
    session.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => session.errors.push(error.message));
  await page.goto(url);
  return session;
}

/** A locator's rendered text (Playwright's Locator.innerText, not the DOM property). */
function text(locator: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright Locator method; rendered text is the point
  return locator.innerText();
}

async function inViewport(locator: Locator): Promise<boolean> {
  return locator.evaluate((el) => {
    const rect = el.getBoundingClientRect();
    return rect.bottom > 0 && rect.top < window.innerHeight;
  });
}

/** Scroll every image into view (lazy ones too), wait for it, and check it is a drawn PNG. */
async function expectEveryImageIsAPng(session: Session, minimum: number): Promise<void> {
  const { page } = session;
  const images = page.locator('img');
  const count = await images.count();
  expect(count).toBeGreaterThanOrEqual(minimum);
  for (let i = 0; i < count; i++) await images.nth(i).scrollIntoViewIfNeeded();
  await page.waitForFunction(() => Array.from(document.images).every((img) => img.complete), undefined, {
    timeout: 30_000,
  });
  const broken = await page.evaluate(() =>
    Array.from(document.images)
      .filter((img) => img.naturalWidth === 0)
      .map((img) => img.getAttribute('src')),
  );
  expect(broken).toEqual([]);
  const srcs = await page.evaluate(() => Array.from(document.images).map((img) => img.currentSrc));
  for (const src of srcs) {
    const response = session.graphResponses.find((r) => r.url() === src);
    expect(response, `no response recorded for ${src}`).toBeDefined();
    expect([200, 304]).toContain(response!.status());
    if (response!.status() === 200) expect(response!.headers()['content-type']).toBe('image/png');
  }
}

async function visibleHostnames(page: Page): Promise<string[]> {
  return page.locator('tr.host:visible td.name').allInnerTexts();
}

describe('fleet page', () => {
  it('lists services with host counts, labels and hosts with their status icons', async () => {
    const session = await open('/');
    const { page } = session;
    await expect.poll(() => page.locator('.services li').count()).toBe(4);
    const sidebar = await page.locator('.services li').allInnerTexts();
    expect(sidebar.map((t) => t.replace(/\s+/g, ' ').trim())).toEqual([
      'All hosts 7',
      'Cache 1',
      'DB 2',
      'Web 4',
    ]);
    expect(await page.locator('section.service[data-service="Web"] h3 .label-name').allInnerTexts()).toEqual([
      'api',
      'frontend',
    ]);
    const statusOf = (hostname: string) =>
      page.locator('tr.host', { hasText: hostname }).locator('.status').getAttribute('class');
    expect(await statusOf('web-1')).toContain('status-ok');
    expect(await statusOf('web-2')).toContain('status-warn');
    expect(await statusOf('api-1')).toContain('status-critical');
    expect(await statusOf('db-master')).toContain('status-unknown');
    // Hovering an icon tells why.
    expect(await page.locator('tr.host', { hasText: 'api-1' }).locator('.status').getAttribute('title')).toBe(
      'Critical: base not received for 15 min',
    );
    // A hostile comment is shown as text.
    expect(await text(page.locator('tr.host', { hasText: 'web-2' }).locator('td.comments'))).toBe(
      XSS_COMMENT,
    );
    expect(session.dialogs).toEqual([]);
    expect(session.errors).toEqual([]);
    await page.screenshot({ path: path.join(DOCS, 'screenshot-fleet.png') });
    await session.context.close();
  });

  it('filters hosts by address, hostname, comment or service as you type', async () => {
    const { page, context } = await open('/');
    await page.locator('#search').pressSequentially('replica');
    await expect.poll(() => visibleHostnames(page)).toEqual(['db-replica']);
    await page.locator('#search').fill('10.1.0');
    await expect.poll(() => visibleHostnames(page)).toEqual(['web-1', 'web-2', 'web-3']);
    await page.locator('#search').fill('cache');
    await expect.poll(() => visibleHostnames(page)).toEqual(['cache-1']);
    await expect.poll(() => page.locator('section.service[data-service="Web"]').isHidden()).toBe(true);
    // A comment, and several words (every one must match).
    await page.locator('#search').fill('Primary');
    await expect.poll(() => visibleHostnames(page)).toEqual(['db-master']);
    await page.locator('#search').fill('api 10.1');
    await expect.poll(() => visibleHostnames(page)).toEqual(['api-1']);
    expect(new URL(page.url()).searchParams.get('q')).toBe('api 10.1');
    await page.locator('#search').fill('no such host');
    await expect.poll(() => page.locator('#no-match').isVisible()).toBe(true);
    await expect.poll(() => text(page.locator('#match-count'))).toBe('0 of 7 hosts');
    await page.locator('#search').fill('');
    await expect.poll(() => visibleHostnames(page)).toHaveLength(7);
    // Enter searches the whole fleet on the server (a fleet larger than one page).
    await page.locator('#search').fill('replica');
    await page.locator('#search').press('Enter');
    await page.waitForURL(/\?q=replica$/);
    expect(await page.locator('tr.host td.name').allInnerTexts()).toEqual(['db-replica']);
    expect(await text(page.locator('nav.pager').first())).toContain('hosts 1–1 of 1 matching "replica"');
    await context.close();
  });

  it('pages a fleet with previous/next links', async () => {
    const { page, context } = await open('/?limit=3');
    expect(await page.locator('tr.host').count()).toBe(3);
    await page.locator('a[rel="next"]').first().click();
    await page.waitForURL(/offset=3/);
    expect(await page.locator('tr.host').count()).toBe(3);
    await page.locator('a[rel="next"]').first().click();
    await page.waitForURL(/offset=6/);
    expect(await page.locator('tr.host').count()).toBe(1);
    expect(await page.locator('a[rel="next"]').count()).toBe(0);
    await page.locator('a[rel="prev"]').first().click();
    await page.waitForURL(/offset=3/);
    expect(await page.locator('tr.host').count()).toBe(3);
    await context.close();
  });

  it('refreshes the status icons every minute', async () => {
    const context = await browser.newContext({ baseURL: fixture.url });
    const page = await context.newPage();
    await page.clock.install();
    await page.goto('/');
    const icon = page.locator('tr.host', { hasText: 'web-3' }).locator('.status');
    expect(await icon.getAttribute('class')).toMatch(/status-ok/);
    // web-3 starts reporting a warning: the icon turns yellow on the next refresh.
    const now = Math.floor(Date.now() / 1000);
    await fixture.store.writeBatch({
      meta: [],
      warnings: [
        {
          host: '10.1.0.3',
          plugin: 'base',
          name: 'memory',
          message: 'cannot read /proc/meminfo',
          timestamp: now,
        },
      ],
      received: [],
      receivedAt: now,
    });
    await page.clock.fastForward(61_000);
    await expect.poll(() => icon.getAttribute('class')).toMatch(/status-warn/);
    expect(await page.locator('tr.host', { hasText: 'web-3' }).getAttribute('class')).toContain('row-warn');
    await context.close();
  });

  it('shift-click selects a range of three hosts and "compare selected" shows them side by side', async () => {
    const session = await open('/?service=Web');
    const { page } = session;
    const compare = page.locator('#compare-selected');
    expect(await compare.isDisabled()).toBe(true);
    const boxes = page.locator('tr.host input.pick');
    // Rows in order: api-1 (label api), web-1, web-2, web-3 (label frontend).
    await boxes.nth(1).click();
    await boxes.nth(3).click({ modifiers: ['Shift'] });
    expect(await page.locator('input.pick:checked').count()).toBe(3);
    expect(await page.locator('tr.picked td.name').allInnerTexts()).toEqual(['web-1', 'web-2', 'web-3']);
    expect(await text(compare)).toBe('Compare selected (3)');
    await compare.click();
    await page.waitForURL(/\/compare\?/);
    const url = new URL(page.url());
    expect(url.searchParams.getAll('host')).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3']);
    expect(await text(page.locator('h1'))).toContain('Compare 3 hosts');
    const cpuRow = page.locator('section.compare-row[data-graph="cpu"]');
    expect(await cpuRow.locator('figcaption').count()).toBe(3);
    expect((await cpuRow.locator('figcaption a').allInnerTexts()).sort()).toEqual([
      'web-1',
      'web-2',
      'web-3',
    ]);
    await expectEveryImageIsAPng(session, 3 * 6);
    // Another term for all of them.
    await page.getByRole('link', { name: 'Week', exact: true }).click();
    await page.waitForURL(/term=week/);
    expect(new URL(page.url()).searchParams.getAll('host')).toHaveLength(3);
    await expectEveryImageIsAPng(session, 3 * 6);
    // Per-plugin navigation: nginx runs on web-1 only.
    await page.locator('.plugin-nav a', { hasText: NGINX_PLUGIN }).click();
    await page.waitForURL(/plugin=nginx/);
    expect(new URL(page.url()).searchParams.get('plugin')).toBe(NGINX_PLUGIN);
    expect(await page.locator('section.compare-row').count()).toBe(2);
    expect(await page.locator('figcaption a').allInnerTexts()).toEqual(['web-1', 'web-1']);
    await expectEveryImageIsAPng(session, 2);
    expect(session.errors).toEqual([]);
    await session.context.close();
  });

  it('collapses a service, remembers it on the next visit, and still finds its hosts by search', async () => {
    const { page, context } = await open('/');
    const db = page.locator('section.service[data-service="DB"]');
    await db.getByRole('button', { name: 'DB' }).click();
    await expect.poll(() => visibleHostnames(page)).toEqual(['cache-1', 'api-1', 'web-1', 'web-2', 'web-3']);
    await page.reload();
    await expect.poll(() => visibleHostnames(page)).toEqual(['cache-1', 'api-1', 'web-1', 'web-2', 'web-3']);
    // A shift-range over the collapsed service leaves its hosts alone.
    const boxes = page.locator('tr.host:visible input.pick');
    await boxes.nth(0).click();
    await boxes.nth(1).click({ modifiers: ['Shift'] });
    expect(await page.locator('tr.picked td.name').allInnerTexts()).toEqual(['cache-1', 'api-1']);
    await page.locator('#search').fill('replica');
    await expect.poll(() => visibleHostnames(page)).toEqual(['db-replica']);
    await page.locator('#search').fill('');
    await db.getByRole('button', { name: 'DB' }).click();
    await expect.poll(() => visibleHostnames(page)).toHaveLength(7);
    await context.close();
  });

  it('"uncheck all" clears the selection', async () => {
    const { page, context } = await open('/');
    const boxes = page.locator('tr.host input.pick');
    await boxes.nth(0).click();
    await boxes.nth(4).click({ modifiers: ['Shift'] });
    expect(await page.locator('input.pick:checked').count()).toBe(5);
    await page.locator('#uncheck-all').click();
    expect(await page.locator('input.pick:checked').count()).toBe(0);
    expect(await page.locator('#compare-selected').isDisabled()).toBe(true);
    await context.close();
  });
});

describe('host page', () => {
  it('opens from the fleet and shows facts, meta badges, plugins and every graph as a PNG', async () => {
    const session = await open('/');
    const { page } = session;
    await page.locator('tr.host', { hasText: 'web-1' }).getByRole('link', { name: 'web-1' }).click();
    await page.waitForURL(/\/host\/10\.1\.0\.1/);
    expect(await text(page.locator('#hostname'))).toBe('web-1');
    expect(await text(page.locator('.host-facts .address'))).toBe('10.1.0.1');
    expect(await text(page.locator('.host-facts .comments'))).toBe('nginx front, rack A');
    const base = page.locator('section[data-plugin="base"]');
    const badge = (name: string) => base.locator('.badge', { hasText: name }).locator('.badge-value');
    expect(await text(badge('uptime'))).toMatch(/^up 3 days, 4:0\d$/);
    expect(await text(badge('version'))).toContain('Linux version 6.1.0');
    // Per-plugin navigation, including an identifier with ":" and "/".
    const nav = page.locator('.plugin-nav a');
    expect(await nav.allInnerTexts()).toEqual(['all plugins', 'base', NGINX_PLUGIN]);
    const nginx = page.locator(`section[data-plugin="${NGINX_PLUGIN}"]`);
    expect(await text(nginx.locator('.badge'))).toContain('nginx/1.22.1');
    expect(await nginx.locator('img').count()).toBe(2);
    expect(await nginx.locator('img').first().getAttribute('src')).toContain(
      '/graph/10.1.0.1/nginx%3A8080%3A%2Fnginx_status/',
    );
    // Base graph groups: traffic per interface, CPU Memory, disk usage per mount, disk io per device.
    expect(await base.locator('h3').allInnerTexts()).toEqual(
      expect.arrayContaining(['Traffic(eth0)', 'CPU Memory', 'Disk Usage(/)', 'Disk IO(sda)']),
    );
    expect(await base.locator('img').count()).toBeGreaterThanOrEqual(8);
    await expectEveryImageIsAPng(session, 10);
    // The nav jumps to a plugin's section.
    await nav.filter({ hasText: NGINX_PLUGIN }).click();
    expect(new URL(page.url()).hash).toBe(`#${await nginx.getAttribute('id')}`);
    await expect.poll(() => inViewport(nginx.locator('h2'))).toBe(true);
    // The screenshot for the README: 8 hours (the fixture has 6 hours of data), top of the page.
    await page.goto('/host/web-1?term=8hours');
    await expectEveryImageIsAPng(session, 10);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(DOCS, 'screenshot-host.png') });
    expect(session.errors).toEqual([]);
    await session.context.close();
  });

  it('switches terms, widths and a custom range, and every graph follows', async () => {
    const session = await open('/host/web-1');
    const { page } = session;
    expect(await text(page.locator('.terms a.active'))).toBe('Day');
    await page.getByRole('link', { name: '4 hours', exact: true }).click();
    await page.waitForURL(/term=4hours/);
    expect(await text(page.locator('.terms a.active'))).toBe('4 hours');
    for (const src of await page
      .locator('img')
      .evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src') ?? ''))) {
      expect(src).toContain('term=4hours');
    }
    await expectEveryImageIsAPng(session, 10);

    const cpuWidth = () =>
      page.locator('figure[data-graph="cpu"] img').evaluate((img: HTMLImageElement) => img.naturalWidth);
    await page.locator('.widths a', { hasText: '400' }).click();
    await page.waitForURL(/width=400/);
    await expectEveryImageIsAPng(session, 10);
    const narrow = await cpuWidth();
    await page.locator('.widths a', { hasText: '1100' }).click();
    await page.waitForURL(/width=1100/);
    await expectEveryImageIsAPng(session, 10);
    expect(await cpuWidth()).toBeGreaterThan(narrow + 600);
    expect(new URL(page.url()).searchParams.get('term')).toBe('4hours');

    // Custom range: the last three hours, picked in the date-time inputs.
    const pad = (n: number) => String(n).padStart(2, '0');
    const local = (d: Date) =>
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    const to = new Date(Math.floor(Date.now() / 900_000) * 900_000);
    const from = new Date(to.getTime() - 3 * 3600_000);
    await page.locator('#range-from').fill(local(from));
    await page.locator('#range-to').fill(local(to));
    await page.getByRole('button', { name: 'Show range' }).click();
    await page.waitForURL(/term=custom/);
    const params = new URL(page.url()).searchParams;
    expect(Number(params.get('from'))).toBe(from.getTime() / 1000);
    expect(Number(params.get('to'))).toBe(to.getTime() / 1000);
    expect(params.get('width')).toBe('1100');
    expect(await page.locator('.custom-range button').getAttribute('class')).toMatch(/active/);
    expect(await page.locator('#range-from').inputValue()).toBe(local(from));
    await expectEveryImageIsAPng(session, 10);
    expect(session.errors).toEqual([]);
    await session.context.close();
  });

  it('a click on a graph shows it over 8 hours, a day, a week, a month and a year', async () => {
    const session = await open('/host/web-1?term=4hours');
    const { page } = session;
    await page.locator(`section[data-plugin="${NGINX_PLUGIN}"] figure[data-graph="reqs"] a`).click();
    await page.waitForURL(/\/host\/10\.1\.0\.1\/graph\/nginx%3A8080%3A%2Fnginx_status\/reqs$/);
    expect(await text(page.locator('h1'))).toContain('Request per sec');
    expect(await page.locator('section.term-graph h2').allInnerTexts()).toEqual([
      '8 hours data (JSON)',
      'Day data (JSON)',
      'Week data (JSON)',
      'Month data (JSON)',
      'Year data (JSON)',
    ]);
    await expectEveryImageIsAPng(session, 5);
    // Back to the host through the breadcrumb.
    await page.locator('.breadcrumb a', { hasText: 'web-1' }).click();
    await page.waitForURL(/\/host\/10\.1\.0\.1$/);
    expect(session.errors).toEqual([]);
    await session.context.close();
  });

  it('copies the page link and hostname to the clipboard', async () => {
    const session = await open('/host/10.1.0.3?term=week');
    const { page } = session;
    await session.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: fixture.url });
    await page.getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(() => page.locator('.copy-done').isVisible()).toBe(true);
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(`${fixture.url}/host/10.1.0.3?term=week web-3`);
    await session.context.close();
  });

  it('shows a meta value "<script>alert(1)</script>" as text and runs nothing', async () => {
    const session = await open('/host/10.1.0.2');
    const { page } = session;
    const version = page
      .locator('section[data-plugin="base"] .badge', { hasText: 'version' })
      .locator('.badge-value');
    expect(await text(version)).toBe(XSS_META);
    expect(await text(page.locator('.host-facts .comments'))).toBe(XSS_COMMENT);
    expect(await text(page.locator('section[data-plugin="base"] .alert.warn'))).toContain(
      'Stale file handle',
    );
    await expectEveryImageIsAPng(session, 8);
    expect(await page.locator('script').count()).toBe(1);
    expect(session.dialogs).toEqual([]);
    await session.context.close();
  });

  it('warns that a host whose agent stopped is stale', async () => {
    const { page, context } = await open('/host/api-1');
    expect(await text(page.locator('.alert.critical'))).toContain(
      'Metrics are not updated in the last 5 minutes',
    );
    expect(await page.locator('h1 .status').getAttribute('class')).toMatch(/status-critical/);
    // The fixture stored api-1's last base 900 s before it started; the suite has run since.
    const minutes = Math.floor((Math.floor(Date.now() / 1000) - (fixture.now - 900)) / 60);
    expect(await text(page.locator('h1 .status-reason'))).toMatch(
      new RegExp(`^base not received for (${minutes - 1}|${minutes}) min$`),
    );
    await context.close();
  });
});
