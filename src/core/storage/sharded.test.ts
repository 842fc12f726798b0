import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeMetaStore, FakeStorageNode } from '../../../test/helpers/ingest-fakes.js';
import { type InboundMessage, Ingestor } from '../ingest/ingestor.js';
import { rrdFilePath } from '../rrd/layout.js';
import { ShardedStorage } from './sharded.js';

// Never touched: every file lives on a fake node.
const DATA = path.join('/nonexistent', `kurado-sharded-unit-${process.pid}`);
const NOW = 1_700_000_000;

function message(host: string, minute: number): InboundMessage {
  const at = NOW - 600 + minute * 60;
  return {
    host,
    payload: `base.metrics.loadavg-1.gauge\t0.${minute}\t${at}\nbase.meta.uptime\t${minute}\t${at}\n`,
  };
}

const opened: ShardedStorage[] = [];
afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
});

function setup(names = ['n1', 'n2', 'n3']) {
  const nodes = names.map((name) => new FakeStorageNode(name, DATA));
  const store = new FakeMetaStore();
  const storage = new ShardedStorage({
    dataDir: DATA,
    nodes: nodes.map((node) => node.io),
    store,
    probeIntervalMs: 5,
  });
  opened.push(storage);
  const ingestor = new Ingestor({ dataDir: DATA, writer: storage.writer, store, storage, now: () => NOW });
  const fileOf = (host: string) => rrdFilePath(DATA, host, 'base', 'loadavg-1', 'gauge');
  const nodeHolding = (host: string) => nodes.filter((node) => node.writer.files.has(fileOf(host)));
  return { nodes, store, storage, ingestor, fileOf, nodeHolding };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('sharded storage on the ingest path (fake nodes and store)', () => {
  it('places each new host on one node, spreads them, and writes every host only to its node', async () => {
    const { store, ingestor, nodeHolding } = setup();
    const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
    await ingestor.ingest(hosts.map((host) => message(host, 1)));
    await ingestor.ingest(hosts.map((host) => message(host, 2)));
    const counts = await store.storageCounts();
    expect([...counts.values()]).toEqual([2, 2, 2]);
    for (const host of hosts) {
      const holders = nodeHolding(host);
      expect(holders.map((node) => node.name)).toEqual([store.storage.get(host)]);
    }
  });

  it('honours a hosts.toml pin and sends only new hosts to a node added later', async () => {
    const first = setup(['n1', 'n2']);
    await first.ingestor.ingest(['h1', 'h2'].map((host) => message(host, 1)));
    const before = new Map(first.store.storage);
    // The same store, now with a third node and a host pinned to n1.
    const nodes = ['n1', 'n2', 'n3'].map((name) => new FakeStorageNode(name, DATA));
    const storage = new ShardedStorage({ dataDir: DATA, nodes: nodes.map((n) => n.io), store: first.store });
    opened.push(storage);
    first.store.hosts.set('p1', {
      address: 'p1',
      hostname: 'p1',
      comments: '',
      service: 's',
      label: '',
      role: 'r',
      plugins: ['base'],
      origin: 'import',
      options: { storage: 'n1' },
    });
    const ingestor = new Ingestor({
      dataDir: DATA,
      writer: storage.writer,
      store: first.store,
      storage,
      now: () => NOW,
    });
    await ingestor.ingest(['h1', 'h2', 'h3', 'p1'].map((host) => message(host, 2)));
    expect(first.store.storage.get('h1')).toBe(before.get('h1'));
    expect(first.store.storage.get('h2')).toBe(before.get('h2'));
    expect(first.store.storage.get('h3')).toBe('n3');
    expect(first.store.storage.get('p1')).toBe('n1');
  });

  it('defers only the down node’s messages, records nothing of its hosts, and stores them once it is back', async () => {
    const { nodes, store, storage, ingestor, fileOf } = setup(['n1', 'n2']);
    await ingestor.ingest([message('a', 1), message('b', 1)]);
    const down = nodes.find((node) => node.name === store.storage.get('b')) as FakeStorageNode;
    down.down = true;
    const report = await ingestor.ingest([message('a', 2), message('b', 2)]);
    expect(report.deferred).toEqual([1]);
    expect(report.values).toBe(1);
    const batch = store.batches.at(-1);
    expect(batch?.received).toEqual([{ host: 'a', plugin: 'base' }]);
    expect(batch?.meta.map((value) => value.host)).toEqual(['a']);

    // Known down: its messages are handed back without trying the node again.
    const writesBefore = down.writer.writes.length;
    const again = await ingestor.ingest([message('b', 2), message('a', 3), message('b', 3)]);
    expect(again.deferred).toEqual([0, 2]);
    expect(down.writer.writes.length).toBe(writesBefore);

    down.down = false;
    await until(() => !storage.isDown('b'));
    const back = await ingestor.ingest([message('b', 2), message('b', 3), message('b', 4)]);
    expect(back.deferred).toBeUndefined();
    expect(down.writer.files.get(fileOf('b'))).toEqual([NOW - 540, NOW - 480, NOW - 420, NOW - 360]);
  });

  it('counts a node down whose file listing fails, so the retried batch defers only its hosts', async () => {
    const { nodes, store, ingestor } = setup(['n1', 'n2']);
    await ingestor.ingest([message('a', 1), message('b', 1)]);
    const down = nodes.find((node) => node.name === store.storage.get('b')) as FakeStorageNode;
    down.down = true;
    // A metric new to this receiver makes it list b's files on b's node, which fails.
    const newMetric = (host: string, minute: number): InboundMessage => ({
      host,
      payload: `base.metrics.swap.gauge\t1\t${NOW - 600 + minute * 60}\n`,
    });
    await expect(ingestor.ingest([newMetric('a', 2), newMetric('b', 2)])).rejects.toThrow(/unreachable/);
    const retried = await ingestor.ingest([newMetric('a', 2), newMetric('b', 2)]);
    expect(retried.deferred).toEqual([1]);
    expect(retried.values).toBe(1);
  });

  it('counts a host’s files on its node (LIST), not on the local disk', async () => {
    const { storage, ingestor } = setup(['n1']);
    await ingestor.ingest([message('a', 1)]);
    expect(await storage.listHostFiles('a')).toEqual([rrdFilePath(DATA, 'a', 'base', 'loadavg-1', 'gauge')]);
  });
});
