import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linesToMap, pullTarget, runFetch, timed } from '../../../test/helpers/pull.js';
import {
  APACHE_STATUS_PATH,
  type RunningServer,
  refusingPort,
  startApache,
  startBlackHole,
} from '../../../test/helpers/servers.js';
import { FetchError } from '../types.js';
import { httpFetcher } from './http.js';

describe('http fetcher against a private Apache', () => {
  let apache: RunningServer;
  beforeAll(async () => {
    apache = await startApache();
  });
  afterAll(async () => {
    await apache?.stop();
  });

  it('reads mod_status ?auto, and the access counter grows with the requests made', async () => {
    const target = pullTarget('http', [String(apache.port), APACHE_STATUS_PATH]);
    const before = linesToMap(await runFetch(httpFetcher, target));
    expect(before.get('meta.server')).toMatch(/^Apache\/2\.4/);
    expect(before.get('meta.has-reqs')).toBe('1');
    expect(Number(before.get('metrics.busy.gauge'))).toBeGreaterThanOrEqual(1);
    expect(Number(before.get('metrics.idle.gauge'))).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 5; i++)
      expect((await fetch(`http://127.0.0.1:${apache.port}/index.html`)).status).toBe(200);
    const after = linesToMap(await runFetch(httpFetcher, target));
    expect(Number(after.get('metrics.reqs.derive'))).toBeGreaterThanOrEqual(
      Number(before.get('metrics.reqs.derive')) + 6,
    );
  });

  it('a page that is not mod_status is a garbage reply; a missing one an HTTP error', async () => {
    await expect(
      runFetch(httpFetcher, pullTarget('http', [String(apache.port), '/index.html'])),
    ).rejects.toThrow(
      `http://127.0.0.1:${apache.port}/index.html?auto did not answer an Apache mod_status "?auto" page`,
    );
    await expect(runFetch(httpFetcher, pullTarget('http', [String(apache.port)]))).resolves.toBeDefined();
    await expect(runFetch(httpFetcher, pullTarget('http', [String(apache.port), '/nope']))).rejects.toThrow(
      `HTTP 404 from http://127.0.0.1:${apache.port}/nope?auto (Host: 127.0.0.1)`,
    );
  });
});

describe('http fetcher against bad targets', () => {
  it('refused and black-hole targets fail with the address and cost at most the timeout', async () => {
    const port = await refusingPort();
    await expect(runFetch(httpFetcher, pullTarget('http', [String(port)]))).rejects.toThrow(
      `connection refused by 127.0.0.1:${port}`,
    );
    const hole = await startBlackHole();
    try {
      const { ms, error } = await timed(runFetch(httpFetcher, pullTarget('http', [String(hole.port)]), 400));
      expect(error).toEqual(new FetchError(`no answer from 127.0.0.1:${hole.port} within 400 ms`));
      expect(ms).toBeLessThan(3000);
    } finally {
      await hole.stop();
    }
  });
});
