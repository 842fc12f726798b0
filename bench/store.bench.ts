/**
 * MetaStore.writeBatch on the ingest hot path, SQLite and MariaDB. One group commit = HOSTS agent
 * messages, each with 3 meta values and 1 last-received (host+plugin `base`). Three cases:
 * - steady:  meta unchanged since the previous commit (the write cache skips it);
 * - changed: one of the 3 meta values changes in every message (uptime-like);
 * - cold:    a store with an empty write cache (a restarted receiver): every meta row is upserted;
 *            this is also the baseline "write everything" cost the cache is measured against.
 * Reported: ms per commit, agent messages/s, rows/s (4 logical rows per message), and the
 * steady/cold ratio. The target fleet (10k hosts × 1 message/min) needs 167 messages/s.
 *
 *   npm run bench -- store             (HOSTS=500 ROUNDS=40 to change the size)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore } from '../src/core/store/index.js';
import type { MetaStore, StoreBatch } from '../src/core/store/types.js';
import { createThrowawayDatabase } from '../test/helpers/mariadb.js';

const HOSTS = Number(process.env.HOSTS ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 40);
const ROWS_PER_MESSAGE = 4;
const FLEET_MESSAGES_PER_SECOND = 10_000 / 60;
const T0 = 1_800_000_000;

const hosts = Array.from({ length: HOSTS }, (_, i) => `10.${Math.floor(i / 250)}.${i % 250}.1`);

function groupCommit(round: number, changing: boolean): StoreBatch {
  const receivedAt = T0 + round * 60;
  return {
    receivedAt,
    warnings: [],
    received: hosts.map((host) => ({ host, plugin: 'base' })),
    meta: hosts.flatMap((host) => [
      {
        host,
        plugin: 'base',
        name: 'kernel',
        value: 'Linux 6.1.0-27-amd64 #1 SMP Debian 6.1.115-1',
        timestamp: receivedAt,
      },
      { host, plugin: 'base', name: 'traffic-interfaces', value: 'eth0,eth1,lo', timestamp: receivedAt },
      {
        host,
        plugin: 'base',
        name: 'uptime',
        value: changing ? `up ${round} minutes` : 'up 3 days',
        timestamp: receivedAt,
      },
    ]),
  };
}

async function timeRounds(store: MetaStore, firstRound: number, changing: boolean): Promise<number> {
  const started = process.hrtime.bigint();
  for (let round = firstRound; round < firstRound + ROUNDS; round++)
    await store.writeBatch(groupCommit(round, changing));
  return Number(process.hrtime.bigint() - started) / 1e6 / ROUNDS;
}

async function coldRounds(open: () => Promise<MetaStore>, firstRound: number): Promise<number> {
  let total = 0;
  for (let round = firstRound; round < firstRound + ROUNDS; round++) {
    const store = await open(); // empty write cache, like a restarted receiver
    const started = process.hrtime.bigint();
    await store.writeBatch(groupCommit(round, false));
    total += Number(process.hrtime.bigint() - started) / 1e6;
    await store.close();
  }
  return total / ROUNDS;
}

function line(dialect: string, label: string, msPerCommit: number): string {
  const messages = (HOSTS / msPerCommit) * 1000;
  return `${dialect.padEnd(8)} ${label.padEnd(8)} ${msPerCommit.toFixed(1).padStart(8)} ms/commit ${Math.round(
    messages,
  )
    .toString()
    .padStart(8)} msg/s ${Math.round(messages * ROWS_PER_MESSAGE)
    .toString()
    .padStart(
      9,
    )} rows/s ${(messages / FLEET_MESSAGES_PER_SECOND).toFixed(0).padStart(5)}× the 10k-host fleet`;
}

async function bench(dialect: string, url: string): Promise<void> {
  const store = await openStore(url, { schema: 'migrate' });
  await store.registerUnknownHosts(hosts);
  await store.writeBatch(groupCommit(0, false)); // fill the table and the write cache
  await timeRounds(store, 1, false); // warm-up
  const steady = await timeRounds(store, 1000, false);
  const changed = await timeRounds(store, 2000, true);
  const registerStarted = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) await store.registerUnknownHosts(hosts);
  const registerUs = Number(process.hrtime.bigint() - registerStarted) / 1e3 / 1000;
  await store.close();
  const cold = await coldRounds(() => openStore(url, { schema: 'none' }), 3000);
  console.log(line(dialect, 'steady', steady));
  console.log(line(dialect, 'changed', changed));
  console.log(line(dialect, 'cold', cold));
  console.log(
    `${dialect.padEnd(8)} steady/cold time ratio ${(steady / cold).toFixed(2)}; registerUnknownHosts(${HOSTS} known) ${registerUs.toFixed(0)} µs`,
  );
}

console.log(`group commit: ${HOSTS} messages × (3 meta + 1 last-received), ${ROUNDS} commits per case`);
const dir = mkdtempSync(path.join(tmpdir(), 'kurado-store-bench-'));
try {
  await bench('SQLite', `sqlite:${path.join(dir, 'kurado.db')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const database = await createThrowawayDatabase('kurado_bench');
try {
  await bench('MariaDB', database.url);
} finally {
  await database.drop();
}
