/**
 * The behaviour every MetaStore must show, run against SQLite (sqlite.test.ts) and MariaDB
 * (mysql.test.ts). Time is always passed in (`now`, `receivedAt`), never slept for.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreOptions } from '../../src/core/store/common.js';
import { LATEST_SCHEMA_VERSION } from '../../src/core/store/migrations.js';
import {
  type HostRecord,
  META_TTL_SECONDS,
  type MetaStore,
  STALE_AFTER_SECONDS,
  type StoreBatch,
  UNREGISTERED_SERVICE,
  WARNING_TTL_SECONDS,
} from '../../src/core/store/types.js';

export interface StoreUnderTest {
  store: MetaStore;
  /** A second store on the same database, as another process would open it. */
  another(options?: StoreOptions): Promise<MetaStore>;
  /** Close every store opened and delete the database. */
  cleanup(): Promise<void>;
}

const T = 1_800_000_000; // a fixed "now": 2027-01-15T08:00:00Z

export function host(address: string, overrides: Partial<HostRecord> = {}): HostRecord {
  return {
    address,
    hostname: `${address.replaceAll('.', '-')}.example`,
    comments: '',
    service: 'shop',
    label: 'web',
    role: 'web',
    plugins: ['base'],
    origin: 'import',
    ...overrides,
  };
}

function batch(receivedAt: number, parts: Partial<Omit<StoreBatch, 'receivedAt'>>): StoreBatch {
  return { meta: [], warnings: [], received: [], receivedAt, ...parts };
}

const HOSTILE = [
  `Robert'); DROP TABLE hosts;--`,
  `"double" and 'single' quotes`,
  'back\\slash \\\' \\" \\0 %_ wildcards',
  '<script>alert("x")</script>',
  '日本語のコメント',
  'emoji 🚀 outside the BMP',
  'trailing spaces   ',
  'tab\tand\nnewline',
];

export function metaStoreContract(dialect: string, open: () => Promise<StoreUnderTest>): void {
  describe(`MetaStore contract: ${dialect}`, () => {
    let subject: StoreUnderTest;
    let store: MetaStore;

    beforeEach(async () => {
      subject = await open();
      store = subject.store;
      await store.migrate();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    describe('migrations', () => {
      it('reaches the latest schema version, and migrating again keeps every row', async () => {
        expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        await store.upsertHosts([host('10.0.0.1')]);
        await store.writeBatch(batch(T, { received: [{ host: '10.0.0.1', plugin: 'base' }] }));
        await store.migrate();
        await store.migrate();
        expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect((await store.listHosts()).map((h) => h.address)).toEqual(['10.0.0.1']);
        expect(await store.lastReceived('10.0.0.1')).toEqual([{ host: '10.0.0.1', plugin: 'base', at: T }]);
      });

      it('lets two processes migrate at the same time', async () => {
        const second = await subject.another();
        const third = await subject.another();
        await Promise.all([second.migrate(), third.migrate(), store.migrate()]);
        expect(await second.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(await third.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
      });
    });

    describe('hosts', () => {
      it('lists imported hosts by service (case-insensitively), then in server-list order', async () => {
        await store.upsertHosts([
          host('10.0.0.3', { service: 'shop', label: 'db', role: 'db', plugins: ['base', 'mysql:3306'] }),
          host('10.0.0.1', { service: 'shop' }),
          host('10.0.1.1', { service: 'Admin', label: '', comments: 'bastion host' }),
        ]);
        const hosts = await store.listHosts();
        expect(hosts.map((h) => h.address)).toEqual(['10.0.1.1', '10.0.0.3', '10.0.0.1']);
        expect(hosts[1]).toEqual(
          host('10.0.0.3', { service: 'shop', label: 'db', role: 'db', plugins: ['base', 'mysql:3306'] }),
        );
        expect(hosts[0]?.comments).toBe('bastion host');
      });

      it('finds a host by address or by hostname, and nothing for a stranger', async () => {
        await store.upsertHosts([
          host('10.0.0.1', { hostname: 'web01' }),
          host('10.0.0.2', { hostname: 'web02' }),
        ]);
        expect((await store.findHost('10.0.0.2'))?.hostname).toBe('web02');
        expect((await store.findHost('web01'))?.address).toBe('10.0.0.1');
        expect(await store.findHost('web03')).toBeUndefined();
        expect(await store.findHost('WEB01')).toBeUndefined();
      });

      it('says when each auto-registered host was last heard of', async () => {
        await store.upsertHosts([host('10.0.0.1')]);
        await store.registerUnknownHosts(['10.0.0.8', '10.0.0.9']);
        await store.writeBatch(batch(T, { received: [{ host: '10.0.0.8', plugin: 'base' }] }));
        const seen = await store.autoHostsLastSeen();
        expect([...seen.keys()].sort()).toEqual(['10.0.0.8', '10.0.0.9']);
        expect(seen.get('10.0.0.8')).toBe(T);
        // Never delivered anything: when it was registered.
        expect(Math.abs((seen.get('10.0.0.9') ?? 0) - Date.now() / 1000)).toBeLessThan(60);
      });

      it('lets an imported host win over an auto-registered one named like its hostname', async () => {
        await store.upsertHosts([host('192.0.2.50', { hostname: 'h50' })]);
        // An impostor that pushed on kurado/update/h50 before the receiver refused such topics.
        await store.registerUnknownHosts(['h50']);
        expect((await store.findHost('h50'))?.address).toBe('192.0.2.50');
        expect((await store.findHost('192.0.2.50'))?.address).toBe('192.0.2.50');
      });

      it('keeps max_files and relay from the server list', async () => {
        await store.upsertHosts([
          host('10.0.0.1', { options: { maxFiles: 20_000, relay: true } }),
          host('10.0.0.2'),
        ]);
        expect((await store.findHost('10.0.0.1'))?.options).toEqual({ maxFiles: 20_000, relay: true });
        expect((await store.findHost('10.0.0.2'))?.options).toBeUndefined();
      });

      it('updates a host imported again and keeps per-plugin settings', async () => {
        await store.upsertHosts([host('10.0.0.1', { comments: 'old' })]);
        const settings = { 'mysql:3306': { user: 'kurado', password: 's3cret', port: 3306, tls: true } };
        await store.upsertHosts([
          host('10.0.0.1', { comments: 'new', role: 'db', plugins: ['base', 'mysql:3306'], settings }),
        ]);
        const [only] = await store.listHosts();
        expect(only).toEqual(
          host('10.0.0.1', { comments: 'new', role: 'db', plugins: ['base', 'mysql:3306'], settings }),
        );
      });

      it('removes hosts with their meta, warnings and last-received', async () => {
        await store.upsertHosts([host('10.0.0.1'), host('10.0.0.2')]);
        await store.writeBatch(
          batch(T, {
            meta: [{ host: '10.0.0.1', plugin: 'base', name: 'kernel', value: '6.1', timestamp: T }],
            warnings: [{ host: '10.0.0.1', plugin: 'base', name: 'disk', message: 'full', timestamp: T }],
            received: [{ host: '10.0.0.1', plugin: 'base' }],
          }),
        );
        await store.removeHosts(['10.0.0.1']);
        expect((await store.listHosts()).map((h) => h.address)).toEqual(['10.0.0.2']);
        expect(await store.meta('10.0.0.1', T)).toEqual([]);
        expect(await store.warnings('10.0.0.1', T)).toEqual([]);
        expect(await store.lastReceived('10.0.0.1')).toEqual([]);
        // The same meta sent again after the removal is stored again (no stale write cache).
        await store.writeBatch(
          batch(T + 60, {
            meta: [{ host: '10.0.0.1', plugin: 'base', name: 'kernel', value: '6.1', timestamp: T + 60 }],
          }),
        );
        expect((await store.meta('10.0.0.1', T + 60)).map((m) => m.value)).toEqual(['6.1']);
      });

      it('handles imports larger than one multi-row statement', async () => {
        const many = Array.from({ length: 1234 }, (_, i) => host(`10.1.${Math.floor(i / 250)}.${i % 250}`));
        await store.upsertHosts(many);
        const listed = await store.listHosts();
        expect(listed).toHaveLength(1234);
        expect(listed.map((h) => h.address)).toEqual(many.map((h) => h.address));
      });
    });

    describe('auto-registration', () => {
      it('registers hosts that push without being listed under "unregistered", once', async () => {
        await store.upsertHosts([host('10.0.0.1')]);
        const added = await store.registerUnknownHosts(['10.0.0.1', '10.9.9.9', 'db-7.example', '10.9.9.9']);
        expect(added.sort()).toEqual(['10.9.9.9', 'db-7.example']);
        expect(await store.registerUnknownHosts(['10.9.9.9', '10.0.0.1'])).toEqual([]);
        expect(await store.findHost('10.9.9.9')).toEqual({
          address: '10.9.9.9',
          hostname: '10.9.9.9',
          comments: '',
          service: UNREGISTERED_SERVICE,
          label: '',
          role: '',
          plugins: [],
          origin: 'auto',
        });
        expect((await store.findHost('10.0.0.1'))?.service).toBe('shop');
        // Unregistered hosts are listed after every named service.
        expect((await store.listHosts()).map((h) => h.address)).toEqual([
          '10.0.0.1',
          '10.9.9.9',
          'db-7.example',
        ]);
      });

      it('does not register twice when another process registered the host first', async () => {
        const other = await subject.another();
        expect(await other.registerUnknownHosts(['10.9.9.9'])).toEqual(['10.9.9.9']);
        expect(await store.registerUnknownHosts(['10.9.9.9'])).toEqual([]);
        expect(await store.listHosts()).toHaveLength(1);
      });

      it('turns an auto-registered host into an imported one when the server list names it', async () => {
        await store.registerUnknownHosts(['10.0.0.5']);
        await store.upsertHosts([host('10.0.0.5', { hostname: 'web05' })]);
        const found = await store.findHost('web05');
        expect(found?.origin).toBe('import');
        expect(found?.service).toBe('shop');
      });
    });

    describe('storage assignment', () => {
      const unpinned = { pinOf: () => undefined };

      it('spreads new hosts over the nodes with the fewest hosts and never moves one', async () => {
        const first = await store.assignStorage(['h1', 'h2', 'h3', 'h4'], { nodes: ['a', 'b'], ...unpinned });
        expect(first.nodes).toEqual(
          new Map([
            ['h1', 'a'],
            ['h2', 'b'],
            ['h3', 'a'],
            ['h4', 'b'],
          ]),
        );
        expect(first.placed.sort()).toEqual(['h1', 'h2', 'h3', 'h4']);
        // A third node joins: the old hosts stay where they are, new ones fill the new node first.
        const later = await store.assignStorage(['h1', 'h5', 'h6', 'h2'], {
          nodes: ['a', 'b', 'c'],
          ...unpinned,
        });
        expect(later.nodes).toEqual(
          new Map([
            ['h1', 'a'],
            ['h5', 'c'],
            ['h6', 'c'],
            ['h2', 'b'],
          ]),
        );
        expect(later.placed.sort()).toEqual(['h5', 'h6']);
        expect(await store.storageCounts()).toEqual(
          new Map([
            ['a', 2],
            ['b', 2],
            ['c', 2],
          ]),
        );
        expect((await store.storageAssignments()).get('h6')).toBe('c');
      });

      it('places a pinned host on its node and reports a pin naming no configured node', async () => {
        const pins: Record<string, string> = { h1: 'b', h2: 'gone' };
        const result = await store.assignStorage(['h1', 'h2'], {
          nodes: ['a', 'b'],
          pinOf: (h) => pins[h],
        });
        expect(result.nodes).toEqual(
          new Map([
            ['h1', 'b'],
            ['h2', 'a'],
          ]),
        );
        expect(result.badPins).toEqual([{ host: 'h2', node: 'gone' }]);
      });

      it('gives two processes placing the same new hosts at once the same answer', async () => {
        const other = await subject.another();
        const hosts = Array.from({ length: 40 }, (_, i) => `10.1.0.${i}`);
        const [mine, theirs] = await Promise.all([
          store.assignStorage(hosts, { nodes: ['a', 'b', 'c'], ...unpinned }),
          other.assignStorage([...hosts].reverse(), { nodes: ['c', 'b', 'a'], ...unpinned }),
        ]);
        expect(mine.nodes).toEqual(theirs.nodes);
        expect(await store.storageAssignments()).toEqual(mine.nodes);
        const total = [...(await store.storageCounts()).values()].reduce((a, b) => a + b, 0);
        expect(total).toBe(40);
      });

      it('keeps the assignment of a removed host (its files stay on the node)', async () => {
        await store.upsertHosts([host('10.0.0.1')]);
        await store.assignStorage(['10.0.0.1'], { nodes: ['a', 'b'], pinOf: () => 'b' });
        await store.removeHosts(['10.0.0.1']);
        const again = await store.assignStorage(['10.0.0.1'], { nodes: ['a', 'b'], ...unpinned });
        expect(again.nodes.get('10.0.0.1')).toBe('b');
      });
    });

    describe('meta', () => {
      const kernel = (value: string, timestamp: number) => ({
        host: '10.0.0.1',
        plugin: 'base',
        name: 'kernel',
        value,
        timestamp,
      });

      it('keeps a value for one hour after it was received', async () => {
        await store.writeBatch(batch(T, { meta: [kernel('6.1.0', T - 2)] }));
        expect(await store.meta('10.0.0.1', T + META_TTL_SECONDS - 1)).toEqual([kernel('6.1.0', T - 2)]);
        expect(await store.meta('10.0.0.1', T + META_TTL_SECONDS)).toEqual([]);
      });

      it('filters by plugin and sorts by plugin, then name', async () => {
        await store.writeBatch(
          batch(T, {
            meta: [
              { host: '10.0.0.1', plugin: 'nginx:80', name: 'server', value: 'nginx/1.25', timestamp: T },
              kernel('6.1.0', T),
              { host: '10.0.0.1', plugin: 'base', name: 'cpu', value: 'Xeon', timestamp: T },
              { host: '10.0.0.2', plugin: 'base', name: 'cpu', value: 'EPYC', timestamp: T },
            ],
          }),
        );
        expect((await store.meta('10.0.0.1', T)).map((m) => `${m.plugin}/${m.name}`)).toEqual([
          'base/cpu',
          'base/kernel',
          'nginx:80/server',
        ]);
        expect((await store.meta('10.0.0.1', T, 'nginx:80')).map((m) => m.value)).toEqual(['nginx/1.25']);
      });

      it('does not rewrite an unchanged value (its timestamp stays), but stores a changed one', async () => {
        await store.writeBatch(batch(T, { meta: [kernel('6.1.0', T)] }));
        await store.writeBatch(batch(T + 60, { meta: [kernel('6.1.0', T + 60)] }));
        expect((await store.meta('10.0.0.1', T + 60))[0]?.timestamp).toBe(T);
        // A process with a cold write cache (a restarted receiver) does not move it either.
        const restarted = await subject.another();
        await restarted.writeBatch(batch(T + 120, { meta: [kernel('6.1.0', T + 120)] }));
        expect((await store.meta('10.0.0.1', T + 120))[0]?.timestamp).toBe(T);
        await store.writeBatch(batch(T + 180, { meta: [kernel('6.2.0', T + 180)] }));
        expect(await store.meta('10.0.0.1', T + 180)).toEqual([kernel('6.2.0', T + 180)]);
      });

      it('keeps a value re-sent unchanged alive: its expiry moves with the re-sends', async () => {
        await store.writeBatch(batch(T, { meta: [kernel('6.1.0', T)] }));
        for (let minute = 1; minute <= 90; minute++) {
          await store.writeBatch(batch(T + minute * 60, { meta: [kernel('6.1.0', T + minute * 60)] }));
        }
        const lastSent = T + 90 * 60;
        // Visible at least 50 minutes after the last send, and gone one hour after it.
        expect((await store.meta('10.0.0.1', lastSent + 50 * 60)).map((m) => m.value)).toEqual(['6.1.0']);
        expect(await store.meta('10.0.0.1', lastSent + META_TTL_SECONDS)).toEqual([]);
        expect((await store.meta('10.0.0.1', lastSent))[0]?.timestamp).toBe(T);
      });

      it('keeps the latest of several reports of one key in a batch', async () => {
        await store.writeBatch(batch(T, { meta: [kernel('new', T), kernel('old', T - 60)] }));
        expect((await store.meta('10.0.0.1', T)).map((m) => m.value)).toEqual(['new']);
      });

      it('treats a value that returns after expiring as new', async () => {
        await store.writeBatch(batch(T, { meta: [kernel('6.1.0', T)] }));
        const later = T + 2 * META_TTL_SECONDS;
        const restarted = await subject.another();
        await restarted.writeBatch(batch(later, { meta: [kernel('6.1.0', later)] }));
        expect((await store.meta('10.0.0.1', later))[0]?.timestamp).toBe(later);
      });
    });

    describe('per-host bounds', () => {
      it('keeps at most max_meta_per_host meta names per host, says so on the host, and spares others', async () => {
        const bounded = await subject.another({ limits: { maxMetaPerHost: 3, maxWarningsPerHost: 100 } });
        const value = (host: string, name: string, at: number) => ({
          host,
          plugin: 'p',
          name,
          value: 'v',
          timestamp: at,
        });
        await bounded.writeBatch(batch(T, { meta: ['a', 'b'].map((n) => value('10.0.0.1', n, T)) }));
        await bounded.writeBatch(
          batch(T + 60, {
            meta: [
              ...['c', 'd', 'e'].map((n) => value('10.0.0.1', n, T + 60)),
              value('10.0.0.2', 'a', T + 60),
            ],
          }),
        );
        expect((await bounded.meta('10.0.0.1', T + 60)).map((m) => m.name)).toEqual(['a', 'b', 'c']);
        expect((await bounded.meta('10.0.0.2', T + 60)).map((m) => m.name)).toEqual(['a']);
        // Known names keep updating.
        await bounded.writeBatch(
          batch(T + 120, { meta: [{ ...value('10.0.0.1', 'a', T + 120), value: 'w' }] }),
        );
        expect((await bounded.meta('10.0.0.1', T + 120))[0]?.value).toBe('w');
        const warnings = await bounded.warnings('10.0.0.1', T + 120);
        expect(warnings).toEqual([
          expect.objectContaining({
            plugin: 'kurado',
            name: 'meta-limit',
            message: expect.stringMatching(
              /^2 new meta value\(s\) refused \(first: p\.d\): the host already has 3/,
            ),
          }),
        ]);
        // Once the names expired, new ones fit again.
        const later = T + 120 + META_TTL_SECONDS + 60;
        await bounded.writeBatch(batch(later, { meta: ['x', 'y'].map((n) => value('10.0.0.1', n, later)) }));
        expect((await bounded.meta('10.0.0.1', later)).map((m) => m.name)).toEqual(['x', 'y']);
      });

      it('two stores on one database (two receivers) keep the bounds together, even writing at once', async () => {
        const limits = { maxMetaPerHost: 10, maxWarningsPerHost: 5 };
        const receivers = [await subject.another({ limits }), await subject.another({ limits })];
        // A receiver registers a host before it writes the host's batch.
        await store.upsertHosts([host('10.0.0.1')]);
        for (let round = 0; round < 4; round++) {
          const at = T + round;
          await Promise.all(
            receivers.map((receiver, index) =>
              receiver.writeBatch(
                batch(at, {
                  meta: Array.from({ length: 8 }, (_, i) => ({
                    host: '10.0.0.1',
                    plugin: 'p',
                    name: `r${index}-${round}-${i}`,
                    value: 'v',
                    timestamp: at,
                  })),
                  warnings: Array.from({ length: 4 }, (_, i) => ({
                    host: '10.0.0.1',
                    plugin: 'p',
                    name: `w${index}-${round}-${i}`,
                    message: 'm',
                    timestamp: at,
                  })),
                }),
              ),
            ),
          );
        }
        const now = T + 4;
        expect(await store.meta('10.0.0.1', now)).toHaveLength(10);
        const shown = await store.warnings('10.0.0.1', now);
        expect(shown.filter((w) => w.plugin !== 'kurado')).toHaveLength(5);
        expect(shown.filter((w) => w.plugin === 'kurado').map((w) => w.name)).toContain('meta-limit');
        // A receiver started later knows nothing in memory and still counts what the table holds.
        const restarted = await subject.another({ limits });
        await restarted.writeBatch(
          batch(now, {
            meta: [{ host: '10.0.0.1', plugin: 'p', name: 'late', value: 'v', timestamp: now }],
            warnings: [{ host: '10.0.0.1', plugin: 'p', name: 'late', message: 'm', timestamp: now }],
          }),
        );
        expect(await store.meta('10.0.0.1', now)).toHaveLength(10);
        expect((await store.warnings('10.0.0.1', now)).filter((w) => w.plugin !== 'kurado')).toHaveLength(5);
      });

      it('keeps at most max_warnings_per_host warnings per host in 5 minutes', async () => {
        const bounded = await subject.another({ limits: { maxMetaPerHost: 500, maxWarningsPerHost: 2 } });
        const warn = (host: string, name: string, at: number) => ({
          host,
          plugin: 'p',
          name,
          message: 'm',
          timestamp: at,
        });
        await bounded.writeBatch(
          batch(T, {
            warnings: [...['a', 'b', 'c'].map((n) => warn('10.0.0.1', n, T)), warn('10.0.0.2', 'a', T)],
          }),
        );
        expect((await bounded.warnings('10.0.0.1', T)).map((w) => `${w.plugin}.${w.name}`).sort()).toEqual([
          'kurado.warnings-limit',
          'p.a',
          'p.b',
        ]);
        expect(await bounded.warnings('10.0.0.2', T)).toHaveLength(1);
        const next = T + WARNING_TTL_SECONDS;
        await bounded.writeBatch(batch(next, { warnings: [warn('10.0.0.1', 'c', next)] }));
        expect((await bounded.warnings('10.0.0.1', next)).map((w) => w.name)).toEqual(['c']);
      });
    });

    describe('warnings', () => {
      const warning = (message: string, timestamp: number) => ({
        host: '10.0.0.1',
        plugin: 'nginx:80',
        name: 'command',
        message,
        timestamp,
      });

      it('keeps warnings for 5 minutes after they were received, newest first, timestamped', async () => {
        await store.writeBatch(batch(T, { warnings: [warning('connection refused', T - 1)] }));
        await store.writeBatch(batch(T + 60, { warnings: [warning('timeout after 10 s', T + 59)] }));
        expect(await store.warnings('10.0.0.1', T + 60)).toEqual([
          warning('timeout after 10 s', T + 59),
          warning('connection refused', T - 1),
        ]);
        expect(await store.warnings('10.0.0.1', T + WARNING_TTL_SECONDS)).toEqual([
          warning('timeout after 10 s', T + 59),
        ]);
        expect(await store.warnings('10.0.0.1', T + 60 + WARNING_TTL_SECONDS)).toEqual([]);
      });

      it('stores a redelivered warning once', async () => {
        await store.writeBatch(batch(T, { warnings: [warning('refused', T)] }));
        await store.writeBatch(batch(T + 5, { warnings: [warning('refused', T), warning('refused', T)] }));
        expect(await store.warnings('10.0.0.1', T + 5)).toHaveLength(1);
      });
    });

    describe('last-received', () => {
      it('records when each plugin of each host was last received, never moving back', async () => {
        await store.writeBatch(
          batch(T, {
            received: [
              { host: '10.0.0.1', plugin: 'base' },
              { host: '10.0.0.1', plugin: 'nginx:80' },
              { host: '10.0.0.2', plugin: 'base' },
              { host: '10.0.0.1', plugin: 'base' },
            ],
          }),
        );
        await store.writeBatch(batch(T + 60, { received: [{ host: '10.0.0.1', plugin: 'base' }] }));
        // A receiver whose clock lags commits later with an older time: it must not win.
        await store.writeBatch(batch(T + 30, { received: [{ host: '10.0.0.1', plugin: 'base' }] }));
        expect(await store.lastReceived('10.0.0.1')).toEqual([
          { host: '10.0.0.1', plugin: 'base', at: T + 60 },
          { host: '10.0.0.1', plugin: 'nginx:80', at: T },
        ]);
        expect(await store.lastReceivedOfPlugin('base')).toEqual(
          new Map([
            ['10.0.0.1', T + 60],
            ['10.0.0.2', T],
          ]),
        );
      });

      it('writes a whole group commit of 1200 hosts in one batch', async () => {
        const hosts = Array.from({ length: 1200 }, (_, i) => `10.2.${Math.floor(i / 200)}.${i % 200}`);
        await store.writeBatch(
          batch(T, {
            received: hosts.map((h) => ({ host: h, plugin: 'base' })),
            meta: hosts.map((h) => ({ host: h, plugin: 'base', name: 'kernel', value: '6.1', timestamp: T })),
          }),
        );
        expect((await store.lastReceivedOfPlugin('base')).size).toBe(1200);
        expect(await store.meta('10.2.5.199', T)).toHaveLength(1);
      });
    });

    describe('status', () => {
      beforeEach(async () => {
        await store.upsertHosts([
          host('10.0.0.1'),
          host('10.0.0.2', { plugins: ['base', 'nginx:80'] }),
          host('10.0.0.3', { plugins: ['nginx:80'] }),
        ]);
      });
      const received = (at: number, ...pairs: [string, string][]) =>
        store.writeBatch(batch(at, { received: pairs.map(([h, plugin]) => ({ host: h, plugin })) }));

      it('is unknown for a listed host that never sent anything', async () => {
        expect((await store.statuses(T)).get('10.0.0.1')).toBe('unknown');
      });

      it('is ok while base arrives, and critical once base is older than 5 minutes', async () => {
        await received(T, ['10.0.0.1', 'base']);
        expect((await store.statuses(T + STALE_AFTER_SECONDS)).get('10.0.0.1')).toBe('ok');
        const report = (await store.statusReports(T + STALE_AFTER_SECONDS + 1)).get('10.0.0.1');
        expect(report).toEqual({
          status: 'critical',
          reason: 'base not received for 5 min',
          baseReceivedAt: T,
        });
      });

      it('is critical when the host sends other plugins but never base', async () => {
        await received(T, ['10.0.0.2', 'nginx:80']);
        expect((await store.statusReports(T)).get('10.0.0.2')).toEqual({
          status: 'critical',
          reason: 'base never received',
        });
      });

      it('is warn with a warning of the last 5 minutes, and ok again after', async () => {
        await received(T, ['10.0.0.1', 'base']);
        await store.writeBatch(
          batch(T, {
            warnings: [
              { host: '10.0.0.1', plugin: 'base', name: 'disk-usage', message: '/var 97 %', timestamp: T },
            ],
          }),
        );
        await received(T + 240, ['10.0.0.1', 'base']);
        const report = (await store.statusReports(T + 240)).get('10.0.0.1');
        expect(report?.status).toBe('warn');
        expect(report?.reason).toContain('/var 97 %');
        expect((await store.statuses(T + WARNING_TTL_SECONDS)).get('10.0.0.1')).toBe('ok');
      });

      it('is warn when another plugin is stale while base arrives', async () => {
        await received(T, ['10.0.0.2', 'base'], ['10.0.0.2', 'nginx:80']);
        await received(T + 400, ['10.0.0.2', 'base']);
        expect((await store.statusReports(T + 400)).get('10.0.0.2')).toEqual({
          status: 'warn',
          reason: 'nginx:80 not received for 6 min',
          baseReceivedAt: T + 400,
        });
      });

      it('forgets a stale plugin the role does not list after an hour (removed from the agent)', async () => {
        await received(T, ['10.0.0.1', 'base'], ['10.0.0.1', 'my-agent-plugin']);
        await received(T + 600, ['10.0.0.1', 'base']);
        expect((await store.statusReports(T + 600)).get('10.0.0.1')?.reason).toBe(
          'my-agent-plugin not received for 10 min',
        );
        const later = T + META_TTL_SECONDS + 60;
        await received(later, ['10.0.0.1', 'base']);
        expect((await store.statuses(later)).get('10.0.0.1')).toBe('ok');
      });

      it('never calls a host without base critical; a stale listed plugin is warn', async () => {
        await received(T, ['10.0.0.3', 'nginx:80']);
        expect((await store.statuses(T + 60)).get('10.0.0.3')).toBe('ok');
        expect((await store.statuses(T + 3 * 86_400)).get('10.0.0.3')).toBe('warn');
      });

      it('covers auto-registered hosts, and only the addresses asked for', async () => {
        await store.registerUnknownHosts(['10.9.9.9']);
        await received(T, ['10.9.9.9', 'base']);
        const all = await store.statuses(T);
        expect([...all.keys()].sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.9.9.9']);
        expect(all.get('10.9.9.9')).toBe('ok');
        const some = await store.statuses(T, ['10.9.9.9', '10.0.0.1', '192.0.2.1']);
        expect(some).toEqual(
          new Map([
            ['10.9.9.9', 'ok'],
            ['10.0.0.1', 'unknown'],
          ]),
        );
      });
    });

    it('keeps the latest values per host+plugin and the ones before them, ignoring older or repeated batches', async () => {
      const values = (load: number, cpu: number, at: number) => ({
        'loadavg-1.gauge': [load, at] as [number, number],
        'cpu-user.derive': [cpu, at] as [number, number],
      });
      const latest = (host: string, plugin: string, at: number, load: number, cpu: number) => ({
        host,
        plugin,
        at,
        values: values(load, cpu, at),
      });
      await store.writeBatch(batch(T, { latest: [latest('10.0.0.1', 'base', T - 60, 0.5, 1000)] }));
      expect(await store.latestValues()).toEqual([
        { host: '10.0.0.1', plugin: 'base', at: T - 60, values: values(0.5, 1000, T - 60) },
      ]);
      await store.writeBatch(
        batch(T + 60, {
          latest: [latest('10.0.0.1', 'base', T, 0.75, 1600), latest('10.0.0.2', 'nginx:80', T, 3, 9)],
        }),
      );
      // A redelivered (same time) and a late, older batch change nothing.
      await store.writeBatch(batch(T + 61, { latest: [latest('10.0.0.1', 'base', T, 0.75, 1600)] }));
      await store.writeBatch(batch(T + 62, { latest: [latest('10.0.0.1', 'base', T - 120, 9, 1)] }));
      const rows = (await store.latestValues()).sort((a, b) => a.host.localeCompare(b.host));
      expect(rows).toEqual([
        {
          host: '10.0.0.1',
          plugin: 'base',
          at: T,
          values: values(0.75, 1600, T),
          previous: { at: T - 60, values: values(0.5, 1000, T - 60) },
        },
        { host: '10.0.0.2', plugin: 'nginx:80', at: T, values: values(3, 9, T) },
      ]);
      expect((await store.latestValues(['nginx'])).map((r) => r.host)).toEqual(['10.0.0.2']);
      expect((await store.latestValues(['base', 'nginx'])).map((r) => r.host).sort()).toEqual([
        '10.0.0.1',
        '10.0.0.2',
      ]);
      // A plugin name is not a prefix: "ngin" and "nginx_plus" match nothing here.
      expect(await store.latestValues(['ngin', 'nginx_plus'])).toEqual([]);
      await store.upsertHosts([host('10.0.0.1')]);
      await store.removeHosts(['10.0.0.1']);
      expect((await store.latestValues()).map((r) => r.host)).toEqual(['10.0.0.2']);
    });

    it('expire() deletes expired meta and warnings and says how many', async () => {
      // A store that leaves expiry to the caller, so the counts are this test's own.
      const manual = await subject.another({ autoExpire: false });
      await manual.writeBatch(
        batch(T, {
          meta: [{ host: '10.0.0.1', plugin: 'base', name: 'kernel', value: '6.1', timestamp: T }],
          warnings: [{ host: '10.0.0.1', plugin: 'base', name: 'disk', message: 'full', timestamp: T }],
        }),
      );
      await manual.writeBatch(
        batch(T + 3000, {
          meta: [{ host: '10.0.0.1', plugin: 'base', name: 'uptime', value: '3 days', timestamp: T + 3000 }],
          warnings: [
            { host: '10.0.0.1', plugin: 'base', name: 'disk', message: 'still full', timestamp: T + 3000 },
          ],
        }),
      );
      expect(await manual.expire(T + 3000)).toBe(1); // the first warning
      expect((await store.meta('10.0.0.1', T + 3001)).map((m) => m.name)).toEqual(['kernel', 'uptime']);
      expect((await store.warnings('10.0.0.1', T + 3001)).map((w) => w.message)).toEqual(['still full']);
      expect(await store.expire(T + META_TTL_SECONDS)).toBe(2); // kernel and the second warning
      expect(await store.expire(T + META_TTL_SECONDS)).toBe(0);
      expect((await store.meta('10.0.0.1', T + META_TTL_SECONDS)).map((m) => m.name)).toEqual(['uptime']);
      expect(await store.expire(T + 3000 + META_TTL_SECONDS)).toBe(1);
      expect(await store.meta('10.0.0.1', T + 3000)).toEqual([]);
    });

    it('deletes expired rows by itself while batches keep coming', async () => {
      await store.writeBatch(
        batch(T, {
          meta: [{ host: '10.0.0.1', plugin: 'base', name: 'kernel', value: '6.1', timestamp: T }],
          warnings: [{ host: '10.0.0.1', plugin: 'base', name: 'disk', message: 'full', timestamp: T }],
        }),
      );
      // Batches that carry nothing of 10.0.0.1, an hour and more later.
      await store.writeBatch(batch(T + 600, { received: [{ host: '10.0.0.2', plugin: 'base' }] }));
      await store.writeBatch(
        batch(T + META_TTL_SECONDS + 600, { received: [{ host: '10.0.0.2', plugin: 'base' }] }),
      );
      // Nothing was left for an explicit expire() to delete.
      expect(await store.expire(T + META_TTL_SECONDS + 600)).toBe(0);
    });

    it('returns hostile strings exactly as they were given', async () => {
      const hosts = HOSTILE.map((text, i) =>
        host(`10.3.0.${i + 1}`, {
          hostname: `h${i}-${text}`,
          comments: text,
          service: text,
          label: text,
          role: text,
        }),
      );
      await store.upsertHosts(hosts);
      expect(await store.listHosts()).toEqual(expect.arrayContaining(hosts));
      for (const h of hosts) expect(await store.findHost(h.hostname)).toEqual(h);
      const meta = HOSTILE.map((text, i) => ({
        host: '10.3.0.1',
        plugin: `p'${i}"`,
        name: `n;${i}`,
        value: text,
        timestamp: T,
      }));
      const warnings = HOSTILE.map((text, i) => ({
        host: '10.3.0.1',
        plugin: 'base',
        name: `w${i}`,
        message: text,
        timestamp: T + i,
      }));
      await store.writeBatch(
        batch(T, { meta, warnings, received: [{ host: '10.3.0.1', plugin: HOSTILE[0]! }] }),
      );
      expect(await store.meta('10.3.0.1', T)).toEqual(expect.arrayContaining(meta));
      expect(await store.warnings('10.3.0.1', T)).toEqual([...warnings].reverse());
      expect(await store.lastReceived('10.3.0.1')).toEqual([{ host: '10.3.0.1', plugin: HOSTILE[0], at: T }]);
      // 'trailing spaces   ' and 'trailing spaces' are different values.
      await store.writeBatch(
        batch(T + 60, {
          meta: [{ host: '10.3.0.1', plugin: 'x', name: 'y', value: 'trailing spaces', timestamp: T + 60 }],
        }),
      );
      await store.writeBatch(
        batch(T + 120, {
          meta: [
            { host: '10.3.0.1', plugin: 'x', name: 'y', value: 'trailing spaces   ', timestamp: T + 120 },
          ],
        }),
      );
      expect(await store.meta('10.3.0.1', T + 120, 'x')).toEqual([
        { host: '10.3.0.1', plugin: 'x', name: 'y', value: 'trailing spaces   ', timestamp: T + 120 },
      ]);
      expect(await store.listHosts()).toHaveLength(HOSTILE.length);
    });
  });
}
