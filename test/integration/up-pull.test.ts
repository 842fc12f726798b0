import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnKurado } from '../helpers/cli.js';
import { eventually, listRrdFiles } from '../helpers/rrd-assert.js';
import { freePort, type RunningServer, startNginx } from '../helpers/servers.js';

let nginx: RunningServer;
beforeAll(async () => {
  nginx = await startNginx();
});
afterAll(async () => {
  await nginx?.stop();
});

describe('kurado up pulls too', () => {
  it('imports --hosts at start and pulls its nginx with the in-process queue, no RabbitMQ', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kurado-up-pull-'));
    const hostsFile = path.join(dir, 'hosts.toml');
    const plugin = `nginx:${nginx.port}:/nginx_status`;
    writeFileSync(
      hostsFile,
      [
        '[roles.web]',
        `plugins = ["${plugin}"]`,
        '',
        '[[services.shop]]',
        'label = "front"',
        'role = "web"',
        'hosts = ["127.0.0.1 web-local local nginx"]',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const up = spawnKurado([
      'up',
      '--data-dir',
      path.join(dir, 'data'),
      '--listen',
      `127.0.0.1:${port}`,
      '--mqtt-listen',
      '127.0.0.1:0',
      '--no-agent',
      '--hosts',
      hostsFile,
      // A pull round every 3 s instead of every minute, so the test takes seconds.
      '--pull-period-seconds',
      '3',
    ]);
    try {
      await up.waitForLog(/Kurado is up/, 90_000);
      expect(up.logs()).toMatch(/imported 1 hosts/);
      const files = path.join(dir, 'data', '127.0.0.1', `nginx%3A${nginx.port}%3A%2Fnginx_status`);
      await eventually(
        () => listRrdFiles(files).includes('reqs.derive.rrd'),
        () => `no nginx data under ${files}; logs:\n${up.logs().slice(-2000)}`,
        60_000,
      );
      const host = (await (await fetch(`http://127.0.0.1:${port}/api/hosts/127.0.0.1`)).json()) as {
        hostname: string;
        service: string;
        lastReceived: { plugin: string }[];
      };
      expect(host).toMatchObject({ hostname: 'web-local', service: 'shop' });
      expect(host.lastReceived.map((r) => r.plugin)).toEqual([plugin]);
    } finally {
      expect(await up.stop('SIGTERM')).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
