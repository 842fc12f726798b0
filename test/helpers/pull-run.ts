/**
 * Running `kurado schedule` and `kurado pull-worker` processes against RabbitMQ, MariaDB and a
 * private rrdcached: a fresh queue name, database and data directory per test.
 */
import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { lockQueueOf, roundsQueueOf } from '../../src/core/pull/amqp.js';
import { openStore } from '../../src/core/store/index.js';
import type { HostRecord, MetaStore, PluginSettings } from '../../src/core/store/types.js';
import { type RunningKurado, spawnKurado } from './cli.js';
import { createThrowawayDatabase, type ThrowawayDatabase } from './mariadb.js';
import { type PrivateRrdcached, startRrdcached } from './rrdcached.js';

export const AMQP_URL = process.env.KURADO_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface PullSetup {
  queue: string;
  database: ThrowawayDatabase;
  store: MetaStore;
  rrdcached: PrivateRrdcached;
  broker: ChannelModel;
  channel: Channel;
  processes: RunningKurado[];
  schedule(extra?: string[]): RunningKurado;
  worker(extra?: string[]): RunningKurado;
  close(): Promise<void>;
}

export async function pullSetup(): Promise<PullSetup> {
  const queue = `kurado.pull.test-${randomBytes(5).toString('hex')}`;
  const broker = await amqp.connect(AMQP_URL).catch((error: Error) => {
    throw new Error(`RabbitMQ at ${AMQP_URL} unreachable: ${error.message}`);
  });
  const channel = await broker.createChannel();
  const database = await createThrowawayDatabase('kurado_pull');
  const store = await openStore(database.url);
  await store.migrate();
  const rrdcached = await startRrdcached();
  const processes: RunningKurado[] = [];
  const common = () => [
    '--amqp',
    AMQP_URL,
    '--queue',
    queue,
    '--store',
    database.url,
    '--data-dir',
    rrdcached.baseDir,
  ];
  const setup: PullSetup = {
    queue,
    database,
    store,
    rrdcached,
    broker,
    channel,
    processes,
    schedule: (extra = []) => {
      const running = spawnKurado(['schedule', ...common(), ...extra]);
      processes.push(running);
      return running;
    },
    worker: (extra = []) => {
      const running = spawnKurado(['pull-worker', ...common(), '--rrdcached', rrdcached.address, ...extra]);
      processes.push(running);
      return running;
    },
    close: async () => {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      for (const name of [queue, lockQueueOf(queue), roundsQueueOf(queue)])
        await channel.deleteQueue(name).catch(() => undefined);
      await broker.close().catch(() => undefined);
      await store.close();
      await database.drop();
      await rrdcached.stop();
    },
  };
  return setup;
}

export function hostRecord(address: string, plugins: string[], settings?: PluginSettings): HostRecord {
  return {
    address,
    hostname: `pull-${address.replace(/\./g, '-')}`,
    comments: '',
    service: 'pull-test',
    label: '',
    role: 'pulled',
    plugins,
    origin: 'import',
    ...(settings ? { settings } : {}),
  };
}

/** The JSON log lines of a process, parsed. */
export function logRecords(process: RunningKurado): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  for (const line of process.logs().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut in the middle of a write
    }
  }
  return records;
}

/** `pull job stored` records of a worker: host, plugin, minute. */
export function storedJobs(
  process: RunningKurado,
): { host: string; plugin: string; minute: number; failed: boolean }[] {
  return logRecords(process)
    .filter((record) => record.msg === 'pull job stored')
    .map((record) => ({
      host: String(record.host),
      plugin: String(record.plugin),
      minute: Number(record.minute),
      failed: record.failed === true,
    }));
}
