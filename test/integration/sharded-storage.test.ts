/**
 * The write path over `[[storage]]` nodes with real parts: three rrdcached daemons on loopback
 * TCP ports with their own `-b` trees, a real SQLite store, the real Ingestor. Each host's files
 * land in exactly one tree, under paths relative to that node's `-b`; a node that is killed only
 * holds back its own hosts, and their values are stored once it is back.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/core/aggregate/aggregator.js';
import { aggregateSpecs } from '../../src/core/aggregate/summary.js';
import { loadTemplates } from '../../src/core/graphs/loader.js';
import { createGraphService } from '../../src/core/graphs/service.js';
import { type InboundMessage, Ingestor } from '../../src/core/ingest/ingestor.js';
import { AGGREGATES_DIRECTORY } from '../../src/core/protocol/host.js';
import { rrdFilePath } from '../../src/core/rrd/layout.js';
import { RrdcachedClient } from '../../src/core/rrd/rrdcached.js';
import { openShardedStorage, type ShardedStorage } from '../../src/core/storage/sharded.js';
import { ShardedTree } from '../../src/core/storage/sharded-tree.js';
import { openStore } from '../../src/core/store/index.js';
import type { MetaStore } from '../../src/core/store/types.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const NOW = Math.floor(Date.now() / 1000 / 60) * 60;

function message(host: string, minute: number): InboundMessage {
  const at = NOW - 3600 + minute * 60;
  return {
    host,
    payload: `base.metrics.loadavg-1.gauge\t${minute}\t${at}\nbase.meta.uptime\t${minute}\t${at}\n`,
  };
}

describe('sharded storage over three rrdcached nodes (TCP)', () => {
  let nodes: PrivateRrdcached[] = [];
  let dir: string;
  let store: MetaStore;
  let storage: ShardedStorage;
  let ingestor: Ingestor;
  // data_dir stands for each node's -b: nothing may be written under it on this machine.
  let dataDir: string;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kurado-sharded-'));
    dataDir = path.join(dir, 'data');
    nodes = await Promise.all([1, 2, 3].map(() => startRrdcached({ tcp: true })));
    store = await openStore(`sqlite:${path.join(dir, 'kurado.db')}`);
    await store.migrate();
    storage = openShardedStorage({
      dataDir,
      nodes: nodes.map((node, index) => ({ name: `rrd${index + 1}`, rrdcached: node.address })),
      store,
      unreachableAfterMs: 1000,
    });
    ingestor = new Ingestor({ dataDir, writer: storage.writer, store, storage });
  });

  afterEach(async () => {
    await storage.close();
    await store.close();
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const treeOf = (host: string) =>
    nodes.filter((node) => existsSync(rrdFilePath(node.baseDir, host, 'base', 'loadavg-1', 'gauge')));

  it('writes every host into exactly one node’s tree, spread evenly, nothing under data_dir', async () => {
    const hosts = Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`);
    await ingestor.ingest(hosts.map((host) => message(host, 1)));
    await ingestor.ingest(hosts.map((host) => message(host, 2)));
    const assigned = await store.storageAssignments();
    for (const host of hosts) {
      const trees = treeOf(host);
      expect(trees).toHaveLength(1);
      expect(`rrd${nodes.indexOf(trees[0] as PrivateRrdcached) + 1}`).toBe(assigned.get(host));
    }
    expect([...(await store.storageCounts()).values()]).toEqual([3, 3, 3]);
    expect(existsSync(dataDir)).toBe(false);
    expect(await storage.listHostFiles('10.0.0.1')).toEqual([
      rrdFilePath(dataDir, '10.0.0.1', 'base', 'loadavg-1', 'gauge'),
    ]);
  });

  it('holds only a killed node’s hosts, and stores their values in order when it is back', async () => {
    const hosts = ['a', 'b', 'c'];
    await ingestor.ingest(hosts.map((host) => message(host, 1)));
    const assigned = await store.storageAssignments();
    const victimIndex = Number((assigned.get('b') as string).slice(3)) - 1;
    const victim = nodes[victimIndex] as PrivateRrdcached;
    await victim.kill('SIGKILL');

    const during = await ingestor.ingest(hosts.map((host) => message(host, 2)));
    expect(during.deferred).toEqual([1]);
    // Known down now: the next round hands b back without waiting for the node at all.
    const started = Date.now();
    const next = await ingestor.ingest([message('b', 2), message('a', 3), message('b', 3), message('c', 3)]);
    expect(next.deferred).toEqual([0, 2]);
    expect(Date.now() - started).toBeLessThan(1000);

    await victim.start();
    const deadline = Date.now() + 20_000;
    while (storage.isDown('b')) {
      if (Date.now() > deadline) throw new Error('node not seen back within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const back = await ingestor.ingest([message('b', 2), message('b', 3)]);
    expect(back.deferred).toBeUndefined();
    const reader = new RrdcachedClient(victim.address);
    try {
      const file = path.relative(
        victim.baseDir,
        rrdFilePath(victim.baseDir, 'b', 'base', 'loadavg-1', 'gauge'),
      );
      const fetched = await reader.fetch(file, 'AVERAGE', NOW - 3600, NOW - 3600 + 4 * 60);
      const values = fetched.rows.map((row) => row.values[0]).filter((value) => value !== null);
      expect(values).toEqual([1, 2, 3]);
    } finally {
      await reader.close();
    }
  });

  it('writes the service summaries to one node and draws the service graphs from there', async () => {
    const hosts = Array.from({ length: 6 }, (_, i) => `10.0.1.${i + 1}`);
    await store.upsertHosts(
      hosts.map((address) => ({
        address,
        hostname: address,
        comments: '',
        service: 'shop',
        label: '',
        role: 'web',
        plugins: ['base'],
        origin: 'import' as const,
      })),
    );
    const minute = 50;
    await ingestor.ingest(hosts.map((host) => message(host, minute)));
    const at = NOW - 3600 + minute * 60;
    const aggregator = new Aggregator({
      dataDir,
      store,
      writer: storage.writer,
      storage,
      specs: aggregateSpecs(loadTemplates()),
      now: () => (at + 25) * 1000,
    });
    const report = await aggregator.runOnce();
    expect(report.values).toBeGreaterThan(0);
    const summaryNode = (await store.storageAssignments()).get(AGGREGATES_DIRECTORY);
    expect(summaryNode).toMatch(/^rrd[123]$/);
    expect(existsSync(dataDir)).toBe(false);
    const tree = new ShardedTree(
      nodes.map((node, index) => ({ name: `rrd${index + 1}`, rrdcached: node.address })),
      store,
    );
    const graphs = createGraphService({ dataDir, tree, poolSize: 1, now: () => NOW });
    try {
      expect((await graphs.listAggregate({ service: 'shop', label: '' })).map((p) => p.plugin)).toEqual([
        'base',
      ]);
      const data = await graphs.exportAggregateData({
        service: 'shop',
        label: '',
        plugin: 'base',
        graph: 'loadavg-1',
        term: 'custom',
        from: at - 600,
        to: at + 600,
        width: 500,
        height: 100,
      });
      const load = data.legends.indexOf('Load Average');
      const row = data.rows.find((r) => r.timestamp === at - (at % 60));
      // Six hosts, each sending loadavg-1 = minute.
      expect(row?.values[load]).toBeCloseTo(6 * minute, 6);
    } finally {
      await graphs.close();
      await tree.close();
    }
  });
});
