/**
 * Agents are processes on machines someone else administers. Each test here sends what a hostile
 * or broken agent sent once, through the real `kurado receive` (private Mosquitto, rrdcached,
 * SQLite store), asserts the bound that holds it, and that a good message from another host is
 * still stored within 2 s.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicForHost } from '../../src/core/protocol/host.js';
import { openStore } from '../../src/core/store/index.js';
import type { MetaStore } from '../../src/core/store/types.js';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';
import { type PrivateMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { eventually, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const HOSTS_TOML = `
[roles.web]
plugins = ["base"]

[roles.big]
plugins = ["base"]
max_files = 80

[roles.proxy]
plugins = ["base"]
relay = true

[[services.shop]]
role = "web"
hosts = ["192.0.2.50 h50", "192.0.2.51 victim01", { host = "192.0.2.52 relay52", relay = true }]

[[services.shop]]
role = "big"
hosts = ["192.0.2.60 big01", { host = "192.0.2.61 big02", max_files = 30 }]

[[services.shop]]
role = "proxy"
hosts = ["192.0.2.70 proxy01", { host = "192.0.2.71 proxy02", relay = false }]
`;

function kurado(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args],
      { cwd: ROOT, env: { ...process.env, TZ: 'UTC', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

async function publish(
  url: string,
  messages: { topic: string; payload: string | Buffer }[],
  auth: { username?: string; password?: string } = {},
): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `hostile-${randomUUID()}`, ...auth });
  for (const { topic, payload } of messages) await client.publishAsync(topic, payload, { qos: 1 });
  await client.endAsync();
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('hostile agents against kurado receive', { timeout: 300_000 }, () => {
  let rrdcached: PrivateRrdcached;
  let mosquitto: PrivateMosquitto;
  let reader: RrdReader;
  let dir: string;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let receiver: RunningKurado;
  let store: MetaStore;
  let goodCount = 0;

  /** A host with nothing to do with the attack sends one value: it is stored within 2 s. */
  async function goodHostStoredWithin2s(): Promise<void> {
    const host = `good${++goodCount}.example`;
    const started = Date.now();
    await publish(mosquitto.url, [
      { topic: topicForHost(host), payload: `base.metrics.load.gauge\t1\t${nowSeconds()}\n` },
    ]);
    await eventually(
      async () => (await store.lastReceived(host)).length > 0,
      () => `${host} not stored`,
      5000,
    );
    expect(Date.now() - started, `${host} stored after`).toBeLessThan(2000);
  }

  const filesOf = (host: string) => {
    const base = path.join(dataDir, host, 'base');
    return existsSync(base) ? readdirSync(base).length : 0;
  };

  beforeAll(async () => {
    rrdcached = await startRrdcached();
    mosquitto = await startMosquitto();
    reader = new RrdReader(rrdcached.address);
    dir = mkdtempSync(path.join(tmpdir(), 'kurado-hostile-'));
    dataDir = rrdcached.baseDir;
    const storeUrl = `sqlite:${path.join(dir, 'kurado.db')}`;
    writeFileSync(path.join(dir, 'kurado.toml'), '[limits]\nmax_files_per_host = 50\n');
    writeFileSync(path.join(dir, 'hosts.toml'), HOSTS_TOML);
    env = {
      KURADO_CONFIG: path.join(dir, 'kurado.toml'),
      KURADO_DATA_DIR: dataDir,
      KURADO_STORE_URL: storeUrl,
    };
    const imported = await kurado(['hosts', 'import', path.join(dir, 'hosts.toml')], env);
    expect(imported.code, imported.output).toBe(0);
    store = await openStore(storeUrl);
    receiver = spawnKurado(
      ['receive', '--mqtt', mosquitto.url, '--rrdcached', rrdcached.address, '--mqtt-connections', '4'],
      env,
    );
    await receiver.waitForLog(/subscribed to agent updates/);
  });

  afterAll(async () => {
    expect(await receiver?.stop()).toBe(0);
    await store?.close();
    await reader?.close();
    await rrdcached?.stop();
    await mosquitto?.stop();
  });

  it('registers no host from rejected lines: 20,000 junk addresses, a random 2 MB payload', async () => {
    const now = nowSeconds();
    const junk = Array.from(
      { length: 20_000 },
      (_, i) => `10.77.${i >> 8}.${i & 255}\tbase.metrics.x.gauge\t1\t${now}`,
    ).join('\n');
    await publish(mosquitto.url, [
      { topic: 'kurado/update/junk01.example', payload: junk },
      { topic: 'kurado/update/junk02.example', payload: randomBytes(2 * 1024 * 1024) },
    ]);
    await receiver.waitForLog(/junk02\.example.*rejected lines|rejected lines.*junk02\.example/);
    await receiver.waitForLog(/junk01\.example.*rejected lines|rejected lines.*junk01\.example/);
    await goodHostStoredWithin2s();
    const hosts = (await store.listHosts()).map((h) => h.address);
    expect(hosts.filter((h) => !h.startsWith('good') && !h.startsWith('192.0.2.'))).toEqual([]);
  });

  it('rejects control characters and lines over 4 KiB in bytes, and says why on the host', async () => {
    const now = nowSeconds();
    await publish(mosquitto.url, [
      {
        topic: 'kurado/update/ctl01.example',
        payload: `base.metrics.load.gauge\t1\t${now}\nbase.meta.kernel\tLinux\u0000evil\t${now}\nbase.meta.euro\t${'€'.repeat(4000)}\t${now}\n`,
      },
    ]);
    await eventually(
      async () => (await store.warnings('ctl01.example', nowSeconds())).length > 0,
      () => 'no warning on ctl01',
    );
    const [warning] = await store.warnings('ctl01.example', nowSeconds());
    expect(warning?.message).toBe('2 line(s) rejected; line 2: meta value has control characters');
    // Both refused lines are counted in the log (only the first reason is shown).
    expect(receiver.logs()).toMatch(/"host":"ctl01\.example","rejected":2,/);
    expect(await store.meta('ctl01.example', nowSeconds())).toEqual([]);
    await goodHostStoredWithin2s();
  });

  it('keeps 500 meta values and 100 warnings of one message, 1 KiB each at most', async () => {
    const now = nowSeconds();
    const lines = [`base.metrics.load.gauge\t1\t${now}`, `base.meta.long\t${'x'.repeat(2000)}\t${now}`];
    for (let i = 0; i < 2000; i++) lines.push(`junk.meta.m${i}\tv\t${now}`);
    for (let i = 0; i < 1000; i++) lines.push(`junk.warn.w${i}\tbad\t${now}`);
    await publish(mosquitto.url, [{ topic: 'kurado/update/meta01.example', payload: lines.join('\n') }]);
    await eventually(
      async () => (await store.meta('meta01.example', nowSeconds())).length > 0,
      () => 'no meta for meta01',
    );
    expect(await store.meta('meta01.example', nowSeconds())).toHaveLength(500);
    const warnings = await store.warnings('meta01.example', nowSeconds());
    expect(warnings.filter((w) => w.plugin === 'junk')).toHaveLength(100);
    expect(warnings.find((w) => w.name === 'meta-limit')?.message).toMatch(
      /^meta values refused: 1500 more than 500 in one message .*; 1 longer than 1024 bytes \(first: long\)/,
    );
    expect(warnings.find((w) => w.name === 'warnings-limit')?.message).toMatch(/900 more than 100/);
    await goodHostStoredWithin2s();
  });

  it('stops new metric files at the host limit (kurado.toml, max_files of the role or host entry); existing ones keep updating', async () => {
    const minute = nowSeconds() - (nowSeconds() % 60) - 120;
    const gauges = (count: number, timestamp: number, value: number) =>
      Array.from({ length: count }, (_, i) => `base.metrics.g${i}.gauge\t${value}\t${timestamp}`).join('\n');
    await publish(mosquitto.url, [
      { topic: 'kurado/update/files01.example', payload: gauges(200, minute, 1) },
      { topic: topicForHost('192.0.2.60'), payload: gauges(100, minute, 1) },
      { topic: topicForHost('192.0.2.61'), payload: gauges(100, minute, 1) },
    ]);
    await eventually(
      () => filesOf('files01.example') >= 50 && filesOf('192.0.2.60') >= 80 && filesOf('192.0.2.61') >= 30,
      () =>
        `files01: ${filesOf('files01.example')}, big01: ${filesOf('192.0.2.60')}, big02: ${filesOf('192.0.2.61')}`,
    );
    await publish(mosquitto.url, [
      { topic: 'kurado/update/files01.example', payload: gauges(200, minute + 60, 2) },
    ]);
    await eventually(
      async () =>
        (
          await reader.fetch(path.join(dataDir, 'files01.example/base/g0.gauge.rrd'), minute, minute + 60)
        ).get(minute + 60) === 2,
      () => 'g0 of files01 not updated',
    );
    expect(filesOf('files01.example')).toBe(50);
    expect(filesOf('192.0.2.60')).toBe(80);
    // The host entry's max_files beats its role's.
    expect(filesOf('192.0.2.61')).toBe(30);
    const warning = (await store.warnings('files01.example', nowSeconds())).find(
      (w) => w.name === 'files-limit',
    );
    expect(warning?.message).toMatch(/^150 new metric\(s\) refused .*has 50 metric files and may have 50/);
    const status = await kurado(['status'], env);
    expect(status.output).toMatch(/files01\.example.*files-limit/);
    await goodHostStoredWithin2s();
  });

  it("refuses a topic naming a listed host's hostname: the listed host keeps its name", async () => {
    await publish(mosquitto.url, [
      { topic: 'kurado/update/h50', payload: `base.metrics.load.gauge\t666\t${nowSeconds()}` },
      { topic: 'kurado/update/kurado.db', payload: `base.metrics.load.gauge\t1\t${nowSeconds()}` },
    ]);
    await receiver.waitForLog(/message refused: \\"h50\\" is the hostname of listed host 192\.0\.2\.50/);
    await receiver.waitForLog(/dropping message.*file Kurado keeps in data_dir/);
    await goodHostStoredWithin2s();
    expect((await store.findHost('h50'))?.address).toBe('192.0.2.50');
    const addresses = (await store.listHosts()).map((h) => h.address);
    expect(addresses).not.toContain('h50');
    expect(addresses).not.toContain('kurado.db');
    expect(existsSync(path.join(dataDir, 'h50'))).toBe(false);
    // A directory an impostor left before topics like this were refused does not win either.
    mkdirSync(path.join(dataDir, 'h50', 'impostor'), { recursive: true });
    const listed = await kurado(['graph', 'list', 'h50', '--json'], env);
    expect(listed.code, listed.output).toBe(0);
    expect(JSON.parse(listed.output.slice(listed.output.indexOf('{')))).toMatchObject({
      host: '192.0.2.50',
      hostname: 'h50',
    });
  });

  it('accepts relayed (4-field) lines only from a host allowed to relay', async () => {
    const now = nowSeconds();
    await publish(mosquitto.url, [
      {
        topic: 'kurado/update/evil01.example',
        payload: `base.metrics.load.gauge\t1\t${now}\n192.0.2.51\tbase.meta.kernel\tpwned\t${now}`,
      },
    ]);
    await eventually(
      async () => (await store.warnings('evil01.example', nowSeconds())).length > 0,
      () => 'no warning on evil01',
    );
    expect((await store.warnings('evil01.example', nowSeconds()))[0]?.message).toMatch(
      /relayed line for 192\.0\.2\.51 refused: evil01\.example may not write for other hosts/,
    );
    expect(await store.meta('192.0.2.51', nowSeconds())).toEqual([]);
    await publish(mosquitto.url, [
      { topic: topicForHost('192.0.2.70'), payload: `192.0.2.51\tbase.meta.kernel\t6.1\t${now}` },
    ]);
    await eventually(
      async () => (await store.meta('192.0.2.51', nowSeconds())).length === 1,
      () => 'relayed meta of victim01 not stored',
    );
    // relay on a host entry beats its role's: relay52 (a web host) may, proxy02 (a proxy) may not.
    await publish(mosquitto.url, [
      { topic: topicForHost('192.0.2.52'), payload: `192.0.2.51\tbase.meta.os\tdebian\t${now}` },
      {
        topic: topicForHost('192.0.2.71'),
        payload: `base.metrics.load.gauge\t1\t${now}\n192.0.2.51\tbase.meta.arch\tpwned\t${now}`,
      },
    ]);
    await eventually(
      async () => (await store.meta('192.0.2.51', nowSeconds())).some((m) => m.name === 'os'),
      () => 'meta relayed by relay52 not stored',
    );
    await eventually(
      async () => (await store.warnings('192.0.2.71', nowSeconds())).length > 0,
      () => 'no warning on proxy02',
    );
    expect((await store.warnings('192.0.2.71', nowSeconds()))[0]?.message).toMatch(
      /relayed line for 192\.0\.2\.51 refused: 192\.0\.2\.71 may not write for other hosts/,
    );
    expect((await store.meta('192.0.2.51', nowSeconds())).map((m) => m.name).sort()).toEqual([
      'kernel',
      'os',
    ]);
    await goodHostStoredWithin2s();
  });

  it('hosts remove deletes a host, its rows and with --files its directory; never a Kurado file', async () => {
    expect(filesOf('files01.example')).toBe(50);
    const removed = await kurado(['hosts', 'remove', 'files01.example', '--files'], env);
    expect(removed.output).toContain('Removed 1 host(s) and their files: files01.example');
    expect(existsSync(path.join(dataDir, 'files01.example'))).toBe(false);
    expect(await store.findHost('files01.example')).toBeUndefined();
    expect(await store.warnings('files01.example', nowSeconds())).toEqual([]);

    const refused = await kurado(['hosts', 'remove', 'kurado.db', '--files'], env);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/"kurado\.db" is the name of a file Kurado keeps in data_dir/);
    const dryRun = await kurado(['hosts', 'remove', '--unregistered-older-than', '1s', '--dry-run'], env);
    expect(dryRun.output).toMatch(/would remove \d+ host\(s\): .*ctl01\.example/);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const old = await kurado(['hosts', 'remove', '--unregistered-older-than', '1s'], env);
    expect(old.code, old.output).toBe(0);
    expect(new Set((await store.listHosts()).map((h) => h.origin))).toEqual(new Set(['import']));
  });
});

describe("two receivers sharing one host's messages keep its bounds together", { timeout: 300_000 }, () => {
  it('meta and warnings exactly, files at most 2 × the limit', async () => {
    const rrdcached = await startRrdcached();
    const mosquitto = await startMosquitto();
    const dir = mkdtempSync(path.join(tmpdir(), 'kurado-two-receivers-'));
    const storeUrl = `sqlite:${path.join(dir, 'kurado.db')}`;
    writeFileSync(
      path.join(dir, 'kurado.toml'),
      '[limits]\nmax_files_per_host = 20\nmax_meta_per_host = 20\nmax_warnings_per_host = 10\n',
    );
    const env = {
      KURADO_CONFIG: path.join(dir, 'kurado.toml'),
      KURADO_DATA_DIR: rrdcached.baseDir,
      KURADO_STORE_URL: storeUrl,
    };
    const receivers = ['kurado-a', 'kurado-b'].map((clientId) =>
      spawnKurado(
        [
          'receive',
          '--mqtt',
          mosquitto.url,
          '--rrdcached',
          rrdcached.address,
          '--mqtt-connections',
          '4',
          '--client-id',
          clientId,
        ],
        env,
      ),
    );
    const store = await openStore(storeUrl);
    try {
      for (const receiver of receivers) await receiver.waitForLog(/subscribed to agent updates/);
      // 30 messages, each with 10 new metrics, 10 new meta names and 5 new warnings: the shared
      // subscription hands about half to each receiver, each half far past every bound.
      const now = nowSeconds();
      const host = 'multi01.example';
      await publish(
        mosquitto.url,
        Array.from({ length: 30 }, (_, m) => ({
          topic: topicForHost(host),
          payload: [
            ...Array.from({ length: 10 }, (_, i) => `base.metrics.g${m}x${i}.gauge\t1\t${now}`),
            ...Array.from({ length: 10 }, (_, i) => `junk.meta.m${m}x${i}\tv\t${now}`),
            ...Array.from({ length: 5 }, (_, i) => `junk.warn.w${m}x${i}\tbad\t${now}`),
          ].join('\n'),
        })),
      );
      // Both have decided for the host past its bounds (each refused something)...
      for (const receiver of receivers) await receiver.waitForLog(/refused by per-host limits/, 60_000);
      // ...and each stored messages of its own (they say how many when they stop).
      const handled = await Promise.all(
        receivers.map(async (receiver) => {
          expect(await receiver.stop()).toBe(0);
          return Number(/stopped after (\d+) messages/.exec(receiver.logs())?.[1] ?? 0);
        }),
      );
      for (const count of handled)
        expect(count, `messages per receiver: ${handled}`).toBeGreaterThanOrEqual(3);
      const at = nowSeconds();
      expect(await store.meta(host, at)).toHaveLength(20);
      expect((await store.warnings(host, at)).filter((w) => w.plugin === 'junk')).toHaveLength(10);
      const files = readdirSync(path.join(rrdcached.baseDir, host, 'base')).length;
      expect(files).toBeGreaterThanOrEqual(20);
      expect(files).toBeLessThanOrEqual(40);
    } finally {
      for (const receiver of receivers) if (receiver.child.exitCode === null) await receiver.stop();
      await store.close();
      await rrdcached.stop();
      await mosquitto.stop();
    }
  });
});

describe('broker side of agent identity: the README Mosquitto ACL', { timeout: 120_000 }, () => {
  it("lets an agent's credentials write only its own topic", async () => {
    const mosquitto = await startMosquitto((dir) => {
      const passwords = path.join(dir, 'kurado.passwd');
      writeFileSync(passwords, '', { mode: 0o644 });
      for (const [user, password] of [
        ['kurado-receive', 'receive-secret'],
        ['10_0_0_1', 'agent1-secret'],
        ['web02.example.com', 'agent2-secret'],
      ])
        execFileSync('mosquitto_passwd', ['-b', passwords, user!, password!]);
      // The file as the README shows it.
      writeFileSync(
        path.join(dir, 'kurado.acl'),
        ['user kurado-receive', 'topic read kurado/update/#', '', 'pattern write kurado/update/%u', ''].join(
          '\n',
        ),
        { mode: 0o644 },
      );
      return [
        'allow_anonymous false',
        `password_file ${passwords}`,
        `acl_file ${path.join(dir, 'kurado.acl')}`,
      ];
    });
    const received: string[] = [];
    const receiverUrl = `mqtt://kurado-receive:receive-secret@127.0.0.1:${mosquitto.port}`;
    const subscriber = await mqtt.connectAsync(receiverUrl, {
      clientId: `acl-${randomUUID()}`,
      protocolVersion: 5,
    });
    try {
      subscriber.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
      // A shared subscription, as kurado receive makes it.
      await subscriber.subscribeAsync('$share/kurado/kurado/update/+', { qos: 1 });
      const agent = { username: '10_0_0_1', password: 'agent1-secret', protocolVersion: 5 as const };
      await publish(mosquitto.url, [{ topic: 'kurado/update/10_0_0_1', payload: 'own' }], agent);
      // MQTT 5 tells the publisher (3.1.1 clients get a PUBACK and the message is dropped).
      await expect(
        publish(mosquitto.url, [{ topic: 'kurado/update/web02.example.com', payload: 'forged' }], agent),
      ).rejects.toThrow(/Not authorized/);
      await publish(mosquitto.url, [{ topic: 'kurado/update/10_0_0_1', payload: 'own again' }], agent);
      await publish(mosquitto.url, [{ topic: 'kurado/update/web02.example.com', payload: 'forged 3.1.1' }], {
        username: '10_0_0_1',
        password: 'agent1-secret',
      });
      await expect(
        publish(mosquitto.url, [{ topic: 'kurado/update/10_0_0_1', payload: 'wrong password' }], {
          ...agent,
          password: 'guess',
        }),
      ).rejects.toThrow(/Bad User Name or Password|Not authorized/i);
      await publish(mosquitto.url, [{ topic: 'kurado/update/web02.example.com', payload: 'web02 own' }], {
        username: 'web02.example.com',
        password: 'agent2-secret',
      });
      await eventually(
        () => received.length >= 3,
        () => `received: ${received.join(', ')}`,
        10_000,
      );
      expect(received).toEqual([
        'kurado/update/10_0_0_1 own',
        'kurado/update/10_0_0_1 own again',
        'kurado/update/web02.example.com web02 own',
      ]);
    } finally {
      await subscriber.endAsync();
      await mosquitto.stop();
    }
  });
});
