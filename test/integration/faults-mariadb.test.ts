import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { minuteMessage, minutesAgo, missingMinutes, publishMqtt } from '../helpers/fault-stream.js';
import { freePort, type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { PrivateMariadb } from '../helpers/private-mariadb.js';
import { eventually, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const HOSTS = ['db-fault-a.example.com', 'db-fault-b.example.com', 'db-fault-c.example.com'];
const MINUTES = 40;
/** Minute index after which the database is restarted. */
const RESTART_AT = 12;

async function hostsOf(webPort: number): Promise<{ status: number; addresses: string[] }> {
  const response = await fetch(`http://127.0.0.1:${webPort}/api/hosts`);
  if (response.status !== 200) return { status: response.status, addresses: [] };
  const body = (await response.json()) as { hosts: { address: string }[] };
  return { status: 200, addresses: body.hosts.map((host) => host.address) };
}

/**
 * MariaDB restarts in the middle of a stream of agent messages: `receive` must lose no message
 * and write no meta twice, and `receive` and `serve` must both work again afterwards without
 * being restarted themselves. The database is a private `mariadbd` on its own port.
 */
describe('fault: MariaDB restarts under receive and serve', () => {
  let root: string;
  let mariadb: PrivateMariadb;
  let broker: PrivateMosquitto;
  let rrdcached: PrivateRrdcached;
  let reader: RrdReader;
  let receive: RunningKurado;
  let serve: RunningKurado;
  let webPort: number;
  const database = 'kurado_faults';

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'kurado-dbfault-'));
    [mariadb, broker, rrdcached] = await Promise.all([
      PrivateMariadb.create(),
      startMosquitto(),
      startRrdcached(),
    ]);
    await mariadb.createDatabase(database);
    reader = new RrdReader(rrdcached.address);
    const common = [
      '--data-dir',
      rrdcached.baseDir,
      '--rrdcached',
      rrdcached.address,
      '--store',
      mariadb.url(database),
    ];
    receive = spawnKurado([
      'receive',
      ...['--mqtt', broker.url, '--client-id', `faults-db-${process.pid}`, '--mqtt-connections', '4'],
      ...common,
    ]);
    await receive.waitForLog(/subscribed to agent updates/, 60_000);
    webPort = await freePort();
    serve = spawnKurado(['serve', '--listen', `127.0.0.1:${webPort}`, ...common]);
    await serve.waitForLog(/kurado serve listening/, 60_000);
  }, 120_000);

  afterAll(async () => {
    const codes = await Promise.all([receive?.stop('SIGTERM'), serve?.stop('SIGTERM')]);
    await reader?.close();
    await Promise.all([rrdcached?.stop(), broker?.stop(), mariadb?.destroy()]);
    rmSync(root, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  }, 60_000);

  it('loses no message, writes no meta twice, and both processes recover on their own', async () => {
    const start = minutesAgo(MINUTES + 60);
    const receivePid = receive.child.pid;
    const servePid = serve.child.pid;
    await eventually(
      async () => (await hostsOf(webPort)).status === 200,
      () => `serve does not answer /api/hosts; logs:\n${serve.logs().slice(-2000)}`,
      20_000,
    );

    // The stream: every host's next minute every 150 ms; the database is stopped at minute
    // RESTART_AT for 3 s (about 20 minutes of the stream) and started again.
    let restart: Promise<void> | undefined;
    let statusWhileDown = 0;
    for (let minute = 0; minute < MINUTES; minute++) {
      await publishMqtt(
        broker.url,
        HOSTS.map((host) => minuteMessage(host, start, minute)),
      );
      if (minute === RESTART_AT) {
        restart = (async () => {
          await mariadb.stop('SIGTERM');
          await new Promise((resolve) => setTimeout(resolve, 3000));
          statusWhileDown = (await fetch(`http://127.0.0.1:${webPort}/api/hosts`)).status;
          await mariadb.start();
        })();
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await restart;
    expect(statusWhileDown).toBeGreaterThanOrEqual(500);

    // Every minute of every host is in its RRD file.
    let missing: Record<string, number[]> = {};
    await eventually(
      async () => {
        missing = {};
        for (const host of HOSTS) {
          const list = await missingMinutes(reader, rrdcached.baseDir, host, start, MINUTES);
          if (list.length > 0) missing[host] = list;
        }
        return Object.keys(missing).length === 0;
      },
      () => `missing minutes ${JSON.stringify(missing)}; logs:\n${receive.logs().slice(-3000)}`,
      40_000,
    );
    // The store has each host's meta once, with the last minute's value.
    await eventually(
      async () => {
        const rows = await mariadb.query<{ value: string }>(
          database,
          "SELECT value FROM meta WHERE plugin = 'test' AND name = 'last-minute'",
        );
        return rows.length === HOSTS.length && rows.every((row) => row.value === String(MINUTES - 1));
      },
      () => `meta not current; logs:\n${receive.logs().slice(-3000)}`,
      20_000,
    );
    const counts = await mariadb.query<{ host: string; copies: number }>(
      database,
      'SELECT host, COUNT(*) AS copies FROM meta GROUP BY host, plugin, name HAVING COUNT(*) > 1',
    );
    expect(counts).toEqual([]);
    // Receive went through failed commits and recovered; it was never restarted.
    expect(receive.logs()).toMatch(/cannot store batch/);
    expect(receive.logs()).toMatch(/write path is back; batch stored/);
    expect([receive.child.pid, receive.child.exitCode]).toEqual([receivePid, null]);
    // Serve answers from the restarted database, same process.
    await eventually(
      async () => {
        const { status, addresses } = await hostsOf(webPort);
        return status === 200 && HOSTS.every((host) => addresses.includes(host));
      },
      () => `serve did not recover; logs:\n${serve.logs().slice(-3000)}`,
      20_000,
    );
    const page = await fetch(`http://127.0.0.1:${webPort}/host/${HOSTS[0]}`);
    expect(page.status).toBe(200);
    expect([serve.child.pid, serve.child.exitCode]).toEqual([servePid, null]);
  }, 120_000);
});
