/**
 * rrdcached ingest: raw BATCH rate (pre-built UPDATE lines through RrdcachedClient) against
 * RrdcachedWriter.write on the same updates, plus create throughput through the writer.
 * A private rrdcached (unix socket, -w 3600, journal) per run. Numbers are printed as values/s
 * and as the writer/raw ratio, which is what stays comparable on a shared, noisy machine.
 *
 *   npm run bench -- rrdcached          (FILES=10000 ROUNDS=5 VALUES=10 to change the size)
 */

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { rrdFilePath } from '../src/core/rrd/layout.js';
import { RrdcachedClient } from '../src/core/rrd/rrdcached.js';
import type { RrdUpdate } from '../src/core/rrd/types.js';
import { RrdcachedWriter, RrdtoolWriter } from '../src/core/rrd/writer.js';
import { startRrdcached } from '../test/helpers/rrdcached.js';

const FILES = Number(process.env.FILES ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const VALUES = Number(process.env.VALUES ?? 10);
const T0 = Math.floor(Date.now() / 1000 / 60) * 60 - 30 * 86400;

const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);
const format = (n: number) => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const daemon = await startRrdcached();
  const writer = new RrdcachedWriter({ dataDir: daemon.baseDir, rrdcached: daemon.address });
  const client = new RrdcachedClient(daemon.address);
  try {
    const paths = Array.from({ length: FILES }, (_, i) =>
      rrdFilePath(
        daemon.baseDir,
        `host${Math.floor(i / 50)}.example.com`,
        'base',
        `metric-${i % 50}`,
        'gauge',
      ),
    );
    let minute = 0;
    const updatesAt = (timestamp: number): RrdUpdate[] =>
      paths.map((path, i) => ({ path, type: 'gauge', timestamp, value: (i % 1000) / 7 }));

    // 1. Creation through the writer: one value per new file, CREATE + UPDATE in one BATCH.
    let started = performance.now();
    const created = await writer.write(updatesAt(T0 + 60 * ++minute));
    const createMs = performance.now() - started;
    if (created.created !== FILES)
      throw new Error(`expected ${FILES} files created, got ${JSON.stringify(created)}`);
    console.log(
      `create through the writer: ${format(FILES)} files in ${createMs.toFixed(0)} ms = ${format(rate(FILES, createMs))} files/s`,
    );

    // 2. One value per file per round: raw BATCH of pre-built lines vs the writer, alternating.
    let rawMs = 0;
    let writerMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const rawTimestamp = T0 + 60 * ++minute;
      const lines = paths.map((path, i) => `UPDATE ${path} ${rawTimestamp}:${(i % 1000) / 7}`);
      started = performance.now();
      const errors = await client.batch(lines);
      rawMs += performance.now() - started;
      if (errors.length > 0) throw new Error(`raw BATCH refused ${errors.length}: ${errors[0]?.message}`);

      const updates = updatesAt(T0 + 60 * ++minute);
      started = performance.now();
      const report = await writer.write(updates);
      writerMs += performance.now() - started;
      if (report.accepted !== FILES) throw new Error(`writer accepted ${JSON.stringify(report)}`);
    }
    const values = FILES * ROUNDS;
    const raw = rate(values, rawMs);
    const viaWriter = rate(values, writerMs);
    console.log(`1 value/file, ${format(FILES)} files x ${ROUNDS} rounds:`);
    console.log(`  raw BATCH (pre-built lines): ${format(raw)} values/s`);
    console.log(
      `  RrdcachedWriter.write:       ${format(viaWriter)} values/s (ratio writer/raw ${(viaWriter / raw).toFixed(2)})`,
    );

    // 3. Several values per file in one write (a backlog, or a group commit of several minutes).
    const multi: RrdUpdate[] = [];
    for (let v = 0; v < VALUES; v++) multi.push(...updatesAt(T0 + 60 * ++minute));
    started = performance.now();
    const multiReport = await writer.write(multi);
    const multiMs = performance.now() - started;
    if (multiReport.accepted !== multi.length)
      throw new Error(`writer accepted ${JSON.stringify(multiReport)}`);
    console.log(
      `${VALUES} values/file in one write: ${format(multi.length)} values in ${multiMs.toFixed(0)} ms = ${format(rate(multi.length, multiMs))} values/s`,
    );

    // 4. A redelivery of the same write: every value a duplicate.
    started = performance.now();
    const duplicateReport = await writer.write(multi);
    const duplicateMs = performance.now() - started;
    if (duplicateReport.duplicates !== multi.length)
      throw new Error(`duplicates ${JSON.stringify(duplicateReport)}`);
    console.log(`redelivery of it (all duplicates): ${format(rate(multi.length, duplicateMs))} values/s`);
  } finally {
    await writer.close();
    await client.close();
    await daemon.stop();
  }
}

/** The fallback without rrdcached: one `rrdtool -` process, one command per file. */
async function viaRrdtool(): Promise<void> {
  const files = Math.min(FILES, 2000);
  const dataDir = mkdtempSync(nodePath.join(os.tmpdir(), 'kurado-bench-rrdtool-'));
  const writer = new RrdtoolWriter({ dataDir });
  try {
    const paths = Array.from({ length: files }, (_, i) =>
      rrdFilePath(dataDir, `host${Math.floor(i / 50)}`, 'base', `metric-${i % 50}`, 'gauge'),
    );
    let started = performance.now();
    await writer.write(paths.map((path) => ({ path, type: 'gauge', timestamp: T0, value: 1 })));
    const createMs = performance.now() - started;
    started = performance.now();
    const multi: RrdUpdate[] = [];
    for (let v = 1; v <= VALUES; v++)
      for (const path of paths) multi.push({ path, type: 'gauge', timestamp: T0 + 60 * v, value: v });
    const report = await writer.write(multi);
    const updateMs = performance.now() - started;
    if (report.accepted !== multi.length) throw new Error(`RrdtoolWriter accepted ${JSON.stringify(report)}`);
    console.log(`RrdtoolWriter (no rrdcached), ${format(files)} files:`);
    console.log(`  create: ${format(rate(files, createMs))} files/s`);
    console.log(`  ${VALUES} values/file: ${format(rate(multi.length, updateMs))} values/s`);
  } finally {
    await writer.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
await viaRrdtool();
