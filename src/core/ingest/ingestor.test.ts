import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { delivery, FakeMetaStore, FakeRrdWriter } from '../../../test/helpers/ingest-fakes.js';
import { rrdFilePath } from '../rrd/layout.js';
import { SLICE_SIZE } from '../slices.js';
import { type InboundMessage, Ingestor, WRITE_FAILURE_WARNING } from './ingestor.js';
import { type Consumer, Receiver } from './receiver.js';

// Never created: the files-per-host count finds no directory and starts at zero.
const DATA = path.join('/nonexistent', `kurado-ingestor-unit-${process.pid}`);
const NOW = 1_700_000_000;

function agentMessage(host: string, minute: number, extra = ''): InboundMessage {
  const at = NOW - 600 + minute * 60;
  return {
    host,
    payload: `base.metrics.loadavg-1.gauge\t0.${minute}\t${at}\nbase.metrics.cpu-user.derive\t${1000 + minute}\t${at}\nbase.meta.uptime\t${minute}\t${at}\n${extra}`,
  };
}

function setup() {
  const writer = new FakeRrdWriter();
  const store = new FakeMetaStore();
  // No directory listing: it is real I/O, which fake timers would race.
  const ingestor = new Ingestor({
    dataDir: DATA,
    writer,
    store,
    now: () => NOW,
    listHostFiles: async () => [],
  });
  return { writer, store, ingestor };
}

describe('Ingestor (fake writer and store)', () => {
  it('writes each value to its host/plugin/metric file, then meta and last-received to the store', async () => {
    const { writer, store, ingestor } = setup();
    const report = await ingestor.ingest([agentMessage('web1', 1), agentMessage('web2', 1)]);
    expect(report).toMatchObject({ messages: 2, values: 4, meta: 2, created: 4, duplicates: 0, failed: 0 });
    expect(report.newHosts.sort()).toEqual(['web1', 'web2']);
    expect(writer.files.get(rrdFilePath(DATA, 'web1', 'base', 'cpu-user', 'derive'))).toEqual([NOW - 540]);
    expect(store.batches).toHaveLength(1);
    expect(
      store.batches[0]?.meta.map((value) => `${value.host} ${value.name}=${value.value}`).sort(),
    ).toEqual(['web1 uptime=1', 'web2 uptime=1']);
    expect(store.batches[0]?.received).toEqual(
      expect.arrayContaining([
        { host: 'web1', plugin: 'base' },
        { host: 'web2', plugin: 'base' },
      ]),
    );
    expect(store.batches[0]?.receivedAt).toBe(NOW);
  });

  it('hands the store the newest value of each metric per host+plugin, without unknowns', async () => {
    const { store, ingestor } = setup();
    await ingestor.ingest([
      agentMessage('web1', 2, `nginx.metrics.reqs.derive\t77\t${NOW - 60}\n`),
      agentMessage('web1', 1, `base.metrics.memory-used.gauge\tU\t${NOW - 60}\n`),
      agentMessage('web2', 1),
    ]);
    const latest = store.batches[0]?.latest ?? [];
    expect(latest.sort((a, b) => `${a.host}${a.plugin}`.localeCompare(`${b.host}${b.plugin}`))).toEqual([
      {
        host: 'web1',
        plugin: 'base',
        at: NOW - 480,
        values: { 'loadavg-1.gauge': [0.2, NOW - 480], 'cpu-user.derive': [1002, NOW - 480] },
      },
      { host: 'web1', plugin: 'nginx', at: NOW - 60, values: { 'reqs.derive': [77, NOW - 60] } },
      {
        host: 'web2',
        plugin: 'base',
        at: NOW - 540,
        values: { 'loadavg-1.gauge': [0.1, NOW - 540], 'cpu-user.derive': [1001, NOW - 540] },
      },
    ]);
  });

  it('keeps no latest value of a metric whose file the files-per-host limit refused', async () => {
    const writer = new FakeRrdWriter();
    const store = new FakeMetaStore();
    const ingestor = new Ingestor({
      dataDir: DATA,
      writer,
      store,
      now: () => NOW,
      limits: { maxFilesPerHost: 2 },
      listHostFiles: async () => [],
    });
    await ingestor.ingest([agentMessage('web1', 1, `base.metrics.memory-used.gauge\t5\t${NOW - 540}\n`)]);
    expect(Object.keys(store.batches[0]?.latest?.[0]?.values ?? {}).sort()).toEqual([
      'cpu-user.derive',
      'loadavg-1.gauge',
    ]);
  });

  it('counts a redelivered message as duplicates, with no warning', async () => {
    const { store, ingestor } = setup();
    await ingestor.ingest([agentMessage('web1', 1)]);
    const again = await ingestor.ingest([agentMessage('web1', 1), agentMessage('web1', 2)]);
    expect(again).toMatchObject({ values: 2, duplicates: 2, failed: 0, warnings: 0 });
    expect(store.batches[1]?.warnings).toEqual([]);
  });

  it('writes nothing to the store when the RRD write fails, and stores everything when retried', async () => {
    const { writer, store, ingestor } = setup();
    writer.fail = { error: new Error('rrdcached unreachable'), times: 1 };
    await expect(ingestor.ingest([agentMessage('web1', 1)])).rejects.toThrow('rrdcached unreachable');
    expect(store.batches).toEqual([]);
    const report = await ingestor.ingest([agentMessage('web1', 1)]);
    expect(report).toMatchObject({ values: 2, duplicates: 0 });
    expect(store.batches).toHaveLength(1);
  });

  it('rejects when the store write fails; the retry finds the values stored and counts them as duplicates', async () => {
    const { store, ingestor } = setup();
    store.fail = { error: new Error('database gone'), times: 1 };
    await expect(ingestor.ingest([agentMessage('web1', 1)])).rejects.toThrow('database gone');
    const report = await ingestor.ingest([agentMessage('web1', 1)]);
    expect(report).toMatchObject({ values: 0, duplicates: 2, meta: 1 });
    expect(store.batches).toHaveLength(1);
  });

  it('reports values the writer refused as a warning on their host', async () => {
    const { writer, store, ingestor } = setup();
    const file = rrdFilePath(DATA, 'web1', 'base', 'loadavg-1', 'gauge');
    writer.write = async (updates) => ({
      accepted: updates.length - 1,
      duplicates: 0,
      created: 0,
      failed: [{ path: file, reason: `${file}: disk full` }],
    });
    const report = await ingestor.ingest([agentMessage('web1', 1)]);
    expect(report.failed).toBe(1);
    expect(store.batches[0]?.warnings).toEqual([
      expect.objectContaining({ host: 'web1', ...WRITE_FAILURE_WARNING }),
    ]);
  });

  it('reports rejected lines as a warning on a host that also sent valid lines', async () => {
    const { store, ingestor } = setup();
    const report = await ingestor.ingest([agentMessage('db1', 1, `base.metrics.x.device\t1\t${NOW}\n`)]);
    expect(report).toMatchObject({ rejected: 1, values: 2, newHosts: ['db1'] });
    expect(store.batches[0]?.warnings).toEqual([
      expect.objectContaining({ host: 'db1', name: 'rejected-lines' }),
    ]);
  });
});

describe('Ingestor message bounds (fake writer and store)', () => {
  function setupWith(limits: { maxMessageBytes?: number; maxMessageLines?: number }) {
    const writer = new FakeRrdWriter();
    const store = new FakeMetaStore();
    const ingestor = new Ingestor({
      dataDir: DATA,
      writer,
      store,
      now: () => NOW,
      listHostFiles: async () => [],
      limits,
    });
    return { writer, store, ingestor };
  }

  it('refuses a message above max_message_bytes whole, warns its host, and stores the other hosts of the batch', async () => {
    const { writer, store, ingestor } = setupWith({ maxMessageBytes: 1000 });
    const lines = Array.from({ length: 40 }, (_, i) => `big.metrics.m${i}.gauge\t${i}\t${NOW - 60}`);
    const report = await ingestor.ingest([
      { host: 'big1', payload: lines.join('\n') },
      agentMessage('web1', 1),
    ]);
    expect(report).toMatchObject({ values: 2, refused: 1, newHosts: ['web1'] });
    expect([...writer.files.keys()].filter((file) => file.includes('big1'))).toEqual([]);
    expect(writer.files.get(rrdFilePath(DATA, 'web1', 'base', 'loadavg-1', 'gauge'))).toEqual([NOW - 540]);
    const warning = store.batches[0]?.warnings.find((value) => value.host === 'big1');
    expect(warning).toMatchObject({ plugin: 'kurado', name: 'message-limit' });
    expect(warning?.message).toMatch(/larger than 1000 bytes \(limits\.max_message_bytes/);
  });

  it('stores the first max_message_lines lines of a longer message and warns about the rest', async () => {
    const { writer, store, ingestor } = setupWith({ maxMessageLines: 10 });
    const lines = Array.from({ length: 25 }, (_, i) => `big.metrics.m${i}.gauge\t${i}\t${NOW - 60}`);
    const report = await ingestor.ingest([
      { host: 'big1', payload: `${lines.join('\n')}\n` },
      agentMessage('web1', 1),
    ]);
    expect(report).toMatchObject({ values: 12, refused: 1 });
    expect(writer.files.has(rrdFilePath(DATA, 'big1', 'big', 'm9', 'gauge'))).toBe(true);
    expect(writer.files.has(rrdFilePath(DATA, 'big1', 'big', 'm10', 'gauge'))).toBe(false);
    const warning = store.batches[0]?.warnings.find((value) => value.host === 'big1');
    expect(warning?.message).toMatch(/lines from line 11 on refused, more than 10 lines/);
    expect(store.batches[0]?.warnings.filter((value) => value.host === 'web1')).toEqual([]);
  });

  it('takes a message of exactly max_message_lines lines, trailing newline included', async () => {
    const { store, ingestor } = setupWith({ maxMessageLines: 10 });
    const lines = Array.from({ length: 10 }, (_, i) => `big.metrics.m${i}.gauge\t${i}\t${NOW - 60}`);
    const report = await ingestor.ingest([{ host: 'big1', payload: `${lines.join('\n')}\n` }]);
    expect(report).toMatchObject({ values: 10, refused: 0 });
    expect(store.batches[0]?.warnings).toEqual([]);
  });

  it('lets other work run between slices of a 30,000-line message, and stores every line once', async () => {
    const { writer, ingestor } = setupWith({});
    const lines = Array.from(
      { length: 30_000 },
      (_, i) => `big.metrics.m${i % 3000}.gauge\t${i}\t${NOW - 1200 + Math.floor(i / 3000) * 60}`,
    );
    // Another connection's work, queued behind whatever runs: it gets a turn at every yield.
    let turns = 0;
    let finished = false;
    const otherWork = () => {
      turns++;
      if (!finished) setImmediate(otherWork);
    };
    setImmediate(otherWork);
    const report = await ingestor.ingest([{ host: 'big1', payload: lines.join('\n') }]);
    finished = true;
    expect(report).toMatchObject({ values: 30_000, duplicates: 0 });
    expect(writer.files.get(rrdFilePath(DATA, 'big1', 'big', 'm0', 'gauge'))).toHaveLength(10);
    // One turn per slice (SLICE_SIZE lines) at least; unsliced, the parse ran in one turn.
    expect(turns).toBeGreaterThanOrEqual(30_000 / SLICE_SIZE);
  });
});

describe('Receiver over the Ingestor (fake broker, writer and store)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function consumer() {
    let hand: ((message: ReturnType<typeof delivery>) => void) | undefined;
    const fake: Consumer & { deliver(message: ReturnType<typeof delivery>): void; stopped: boolean } = {
      stopped: false,
      start: async (onDelivery) => {
        hand = onDelivery;
      },
      stop: async () => {
        fake.stopped = true;
      },
      deliver: (message) => hand?.(message),
    };
    return fake;
  }

  it('acknowledges nothing while the writer or the store fails, retries, and counts redeliveries as duplicates', async () => {
    const { writer, store, ingestor } = setup();
    const broker = consumer();
    const receiver = new Receiver({ consumers: [broker], ingestor });
    await receiver.start();
    writer.fail = { error: new Error('rrdcached unreachable'), times: 1 };
    store.fail = { error: new Error('database gone'), times: 1 };
    const first = delivery(agentMessage('web1', 1).payload);
    first.host = 'web1';
    broker.deliver(first);
    await vi.advanceTimersByTimeAsync(100);
    expect(first.acked).toBe(0);
    // Backoff 500 ms, then 1 s: the writer recovered, then the store did.
    await vi.advanceTimersByTimeAsync(500);
    expect(first.acked).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(first.acked).toBe(1);
    expect(store.batches).toHaveLength(1);
    // The try that failed on the store had written the values: the last try found them there.
    expect(receiver.totals).toMatchObject({ commits: 1, messages: 1, values: 0, duplicates: 2 });
    expect(writer.files.get(rrdFilePath(DATA, 'web1', 'base', 'loadavg-1', 'gauge'))).toEqual([NOW - 540]);

    // The broker delivers the message again (its PUBACK was lost): stored once, counted.
    const redelivered = delivery(first.payload);
    redelivered.host = 'web1';
    broker.deliver(redelivered);
    await vi.advanceTimersByTimeAsync(100);
    expect(redelivered.acked).toBe(1);
    expect(receiver.totals).toMatchObject({ commits: 2, messages: 2, values: 0, duplicates: 4, failed: 0 });
    expect(store.batches).toHaveLength(2);

    await receiver.stop();
    expect(broker.stopped).toBe(true);
  });
});
