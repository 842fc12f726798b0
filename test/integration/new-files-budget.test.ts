import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/core/ingest/group-commit.js';
import { Ingestor } from '../../src/core/ingest/ingestor.js';
import { type Consumer, Receiver } from '../../src/core/ingest/receiver.js';
import { RrdcachedWriter } from '../../src/core/rrd/rrdcached-writer.js';
import { openStore } from '../../src/core/store/index.js';
import type { MetaStore } from '../../src/core/store/types.js';
import { minuteFile, minuteMessage, minutesAgo, missingMinutes } from '../helpers/fault-stream.js';
import { eventually, listRrdFiles, RrdReader } from '../helpers/rrd-assert.js';
import { type PrivateRrdcached, startRrdcached } from '../helpers/rrdcached.js';

const NEW_HOSTS = 60;
const METRICS = 50;

/** A broker that hands over every message at once and records acknowledgements (like AMQP). */
class DirectConsumer implements Consumer {
  private hand: ((delivery: Delivery) => void) | undefined;
  readonly acked = new Set<string>();

  async start(onDelivery: (delivery: Delivery) => void): Promise<void> {
    this.hand = onDelivery;
  }

  async stop(): Promise<void> {}

  deliver(id: string, host: string, payload: string): void {
    this.hand?.({ host, payload, settle: () => this.acked.add(id) });
  }
}

/**
 * A fleet's first minute against a real rrdcached and SQLite store: 60 new hosts × 50 metrics
 * (3,000 files to create) arrive at once; while their files are still being created, a host whose
 * file exists sends its next minute, and it is stored (and acknowledged) before the new hosts are
 * done. Nothing is dropped: every new host's every value is stored in the end.
 */
describe('receive: new files are created without starving hosts whose files exist', () => {
  let root: string;
  let rrdcached: PrivateRrdcached;
  let reader: RrdReader;
  let writer: RrdcachedWriter;
  let store: MetaStore;
  let receiver: Receiver;
  const consumer = new DirectConsumer();
  const known = 'known.budget.example';
  const start = minutesAgo(30);

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'kurado-budget-'));
    rrdcached = await startRrdcached();
    reader = new RrdReader(rrdcached.address);
    writer = new RrdcachedWriter({ dataDir: rrdcached.baseDir, rrdcached: rrdcached.address });
    store = await openStore(`sqlite:${path.join(root, 'kurado.db')}`);
    await store.migrate();
    receiver = new Receiver({
      consumers: [consumer],
      ingestor: new Ingestor({ dataDir: rrdcached.baseDir, writer, store }),
    });
    await receiver.start();
    const first = minuteMessage(known, start, 0);
    consumer.deliver('known-0', known, first.payload);
    await eventually(
      () => consumer.acked.has('known-0'),
      () => 'the known host was not stored',
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    await receiver?.stop();
    await writer?.close();
    await store?.close();
    await reader?.close();
    await rrdcached?.stop();
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it("stores a known host's minute while 3,000 new files wait to be created, and every new value", async () => {
    const hosts = Array.from({ length: NEW_HOSTS }, (_, index) => `new${index}.budget.example`);
    for (const host of hosts) {
      const lines = Array.from(
        { length: METRICS },
        (_, metric) => `base.metrics.m${metric}.gauge\t${metric}\t${start + 60}`,
      );
      consumer.deliver(host, host, `${lines.join('\n')}\n`);
    }
    // Creation has begun: the first new host has files.
    await eventually(
      () => listRrdFiles(path.join(rrdcached.baseDir, hosts[0] as string, 'base')).length > 0,
      () => 'no new file created',
      60_000,
      20,
    );
    const sentAt = Date.now();
    consumer.deliver('known-1', known, minuteMessage(known, start, 1).payload);
    await eventually(
      async () => (await missingMinutes(reader, rrdcached.baseDir, known, start, 2)).length === 0,
      () => `the known host's second minute is not stored (file ${minuteFile(rrdcached.baseDir, known)})`,
      30_000,
      20,
    );
    const lagMs = Date.now() - sentAt;
    const newStored = hosts.filter((host) => consumer.acked.has(host)).length;
    // Stored beside the creations, not after all of them.
    expect(newStored, `known host stored after ${lagMs} ms`).toBeLessThan(NEW_HOSTS);
    expect(consumer.acked.has('known-1')).toBe(true);

    // Nothing dropped: every new host is acknowledged, with all its files and values.
    await eventually(
      () => hosts.every((host) => consumer.acked.has(host)),
      () => `${hosts.filter((host) => !consumer.acked.has(host)).length} new hosts not stored`,
      180_000,
    );
    for (const host of [hosts[0], hosts[NEW_HOSTS - 1]] as string[]) {
      const dir = path.join(rrdcached.baseDir, host, 'base');
      expect(listRrdFiles(dir)).toHaveLength(METRICS);
      const rows = await reader.fetch(path.join(dir, `m${METRICS - 1}.gauge.rrd`), start, start + 60);
      expect(rows.get(start + 60)).toBe(METRICS - 1);
    }
  }, 300_000);
});
