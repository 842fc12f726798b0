import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnKurado } from '../helpers/cli.js';
import { freePort } from '../helpers/mosquitto.js';
import { eventually, listRrdFiles } from '../helpers/rrd-assert.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('kurado up (the README quick start)', () => {
  it("runs broker, rrdcached, store, receiver, this machine's agent and the web UI in one process", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'kurado-up-'));
    const port = await freePort();
    const up = spawnKurado([
      'up',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--mqtt-listen',
      '127.0.0.1:0',
      '--agent-interval-seconds',
      '2',
    ]);
    try {
      await up.waitForLog(/Kurado is up/);
      const self = hostname().toLowerCase();
      const base = path.join(dataDir, self, 'base');
      await eventually(
        () => listRrdFiles(base).some((file) => file === 'cpu-user.derive.rrd'),
        () => `no agent data under ${base}; logs:\n${up.logs().slice(-2000)}`,
      );

      const hosts = (await (await fetch(`http://127.0.0.1:${port}/api/hosts`)).json()) as {
        hosts: { address: string; status: string; service: string }[];
      };
      expect(hosts.hosts).toContainEqual(expect.objectContaining({ address: self, service: 'unregistered' }));

      const page = await fetch(`http://127.0.0.1:${port}/host/${encodeURIComponent(self)}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('CPU Usage');

      const png = await fetch(
        `http://127.0.0.1:${port}/graph/${encodeURIComponent(self)}/base/cpu.png?term=1hour`,
      );
      expect(png.status).toBe(200);
      expect(png.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await png.arrayBuffer()).subarray(0, 8)).toEqual(PNG_SIGNATURE);
    } finally {
      expect(await up.stop('SIGTERM')).toBe(0);
    }
  }, 120_000);
});
