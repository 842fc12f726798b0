import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { freePort } from '../helpers/mosquitto.js';
import { eventually, RrdReader } from '../helpers/rrd-assert.js';

const run = promisify(execFile);

/**
 * Agents in the field connect to `kurado up`'s embedded broker the way Mosquitto lets them:
 * MQTT 3.1 (`MQIsdp`) with a client id longer than 3.1's 23 characters (the 2014 Perl agent's
 * `Net::MQTT::Message[22650]`), MQTT 3.1.1 and MQTT 5. Each publishes with Mosquitto's own
 * client, and its value must land in the RRD file.
 */
describe('kurado up: the embedded broker accepts the MQTT clients Mosquitto accepts', () => {
  let dataDir: string;
  let mqttPort: number;
  let up: RunningKurado;
  let reader: RrdReader;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'kurado-up-mqtt-'));
    mqttPort = await freePort();
    up = spawnKurado([
      'up',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${await freePort()}`,
      '--mqtt-listen',
      `127.0.0.1:${mqttPort}`,
      '--no-agent',
    ]);
    const line = await up.waitForLog(/"mqttPort":/);
    expect(JSON.parse(line).mqttPort).toBe(mqttPort);
    reader = new RrdReader(`unix:${path.join(dataDir, '.kurado-state', 'rrdcached.sock')}`);
  }, 60_000);

  afterAll(async () => {
    await reader?.close();
    expect(await up?.stop('SIGTERM')).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const clients = [
    { version: 'mqttv31', clientId: 'Net::MQTT::Message[22650]-abcd', host: 'perl-agent-31' },
    { version: 'mqttv311', clientId: 'kurado-agent-a-rather-long-hostname.example.com', host: 'agent-311' },
    { version: 'mqttv5', clientId: 'kurado-agent-mqtt5-with-a-long-client-id-0123', host: 'agent-5' },
  ];

  for (const { version, clientId, host } of clients) {
    it(`stores a value published with ${version} and a ${clientId.length}-character client id`, async () => {
      expect(clientId.length).toBeGreaterThan(23);
      const minute = Math.floor(Date.now() / 60_000) * 60 - 120;
      const lines = [
        `base.metrics.load-1.gauge\t1.5\t${minute}`,
        `base.metrics.load-1.gauge\t2.5\t${minute + 60}`,
      ];
      await run('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(mqttPort), '-V', version, '-q', '1', '-i', clientId],
        ...['-t', `kurado/update/${host}`, '-m', lines.join('\n')],
      ]);
      const file = path.join(dataDir, host, 'base', 'load-1.gauge.rrd');
      let rows = new Map<number, number | null>();
      await eventually(
        async () => {
          rows = await reader.fetch(file, minute - 60, minute + 60);
          return rows.get(minute + 60) === 2.5;
        },
        () => `${file}: ${JSON.stringify([...rows])}; logs:\n${up.logs().slice(-2000)}`,
        20_000,
      );
    }, 30_000);
  }
});
