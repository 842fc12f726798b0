import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { spawnKurado } from '../helpers/cli.js';
import { freePort } from '../helpers/mosquitto.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

const tempDir = useTempDirs();

describe('kurado up stops while agents stay connected', () => {
  it('disconnects MQTT 3.1.1 and MQTT 5 agents on SIGTERM and exits 0', async () => {
    const dataDir = tempDir('kurado-up-stop-');
    const up = spawnKurado([
      'up',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${await freePort()}`,
      '--mqtt-listen',
      '127.0.0.1:0',
      '--no-agent',
    ]);
    const agents: mqtt.MqttClient[] = [];
    try {
      const { mqttPort } = JSON.parse(await up.waitForLog(/"mqttPort":/, 90_000)) as { mqttPort: number };
      for (const protocolVersion of [4, 5] as const) {
        agents.push(
          await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
            clientId: `stay-connected-v${protocolVersion}-${process.pid}`,
            protocolVersion,
            reconnectPeriod: 0,
          }),
        );
      }
      const disconnected = agents.map(
        (agent) => new Promise<void>((resolve) => agent.once('close', resolve)),
      );
      const exit = up.stop('SIGTERM');
      const timeout = new Promise<string>((resolve) =>
        setTimeout(() => resolve('still running after 30 s'), 30_000),
      );
      expect(await Promise.race([exit, timeout])).toBe(0);
      await Promise.all(disconnected);
    } finally {
      for (const agent of agents) agent.end(true);
      await up.stop('SIGKILL');
    }
  }, 120_000);
});
