/**
 * Service graphs over 100 / 1,000 / 3,000 hosts, both ways side by side in the same run:
 * (a) view time: one rrdtool DEF per host file, summed by CDEFs when the PNG is drawn, read
 *     through rrdcached (`--daemon`, as `serve` reads) and, for reference, from the files;
 * (b) summaries: the files the Aggregator writes once a minute, drawn by the real GraphService.
 * Also the Aggregator's round (summing the latest values of every host) and a ranking of all
 * hosts from the store (SQLite) — the costs the summaries and rankings add per minute and view.
 * Targets: service PNG over 1,000 hosts p50 ≤ 300 ms; ranking of 3,000 hosts ≤ 200 ms.
 *
 *   npm run bench -- aggregate            (AGGREGATE_SIZES=100,1000 AGGREGATE_ROUNDS=5 to change)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { summaryUpdates } from '../src/core/aggregate/aggregator.js';
import { rankHosts, rankingMetric } from '../src/core/aggregate/rankings.js';
import { aggregateSpecs, summarize } from '../src/core/aggregate/summary.js';
import { loadTemplates } from '../src/core/graphs/loader.js';
import { RenderPool } from '../src/core/graphs/pool.js';
import { createGraphService } from '../src/core/graphs/service.js';
import type { DsType } from '../src/core/protocol/types.js';
import { rrdFilePath } from '../src/core/rrd/layout.js';
import type { RrdUpdate } from '../src/core/rrd/types.js';
import { createRrdWriter } from '../src/core/rrd/writer.js';
import { openStore } from '../src/core/store/index.js';
import type { HostRecord, LatestValues, LatestValuesRow } from '../src/core/store/types.js';
import { startRrdcached } from '../test/helpers/rrdcached.js';

const SIZES = (process.env.AGGREGATE_SIZES ?? '100,1000,3000').split(',').map(Number);
const ROUNDS = Number(process.env.AGGREGATE_ROUNDS ?? 5);
/** Minutes of values per host: enough for lines, few enough to create 36,000 files quickly. */
const MINUTES = 30;
const CPU = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guest-nice'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}
const ms = (n: number) => `${n.toFixed(0).padStart(6)} ms`;

/** rrdtool arguments summing `files` per CPU state (or one load file per host) at view time. */
function viewTimeArgs(hostsFiles: string[][], kind: 'cpu' | 'load', daemon: string | undefined, end: number) {
  const args = ['graphv', '-', '--start', String(end - 33 * 3600), '--end', String(end), '--width', '500'];
  if (daemon) args.push('--daemon', daemon);
  const sum = (vnames: string[]) =>
    vnames.length === 1
      ? vnames[0]!
      : `${vnames.join(',')},${Array(vnames.length - 1)
          .fill('ADDNAN')
          .join(',')}`;
  if (kind === 'load') {
    hostsFiles.forEach((files, h) => {
      args.push(`DEF:l${h}=${files[0]}:n:AVERAGE`);
    });
    const vnames = hostsFiles.map((_f, h) => `l${h}`);
    args.push(`CDEF:sum=${sum(vnames)}`);
    args.push(
      `CDEF:count=${vnames.map((v) => `${v},UN,0,1,IF`).join(',')},${Array(vnames.length - 1)
        .fill('+')
        .join(',')}`,
    );
    args.push(
      'CDEF:avg=sum,count,/',
      'AREA:sum#00C000:Load',
      'LINE1:avg#0000FF:Average',
      'GPRINT:count:LAST:%4.0lf hosts',
    );
    return args;
  }
  hostsFiles.forEach((files, h) => {
    files.forEach((file, s) => {
      args.push(`DEF:c${h}_${s}=${file}:n:AVERAGE`);
    });
  });
  CPU.forEach((_state, s) => {
    args.push(`CDEF:s${s}=${sum(hostsFiles.map((_f, h) => `c${h}_${s}`))}`);
  });
  args.push(
    `CDEF:total=${CPU.map((_x, s) => `s${s}`).join(',')},${Array(CPU.length - 1)
      .fill('+')
      .join(',')}`,
  );
  CPU.forEach((state, s) => {
    args.push(
      `CDEF:p${s}=s${s},total,/,100,*`,
      `${s === 0 ? 'AREA' : 'STACK'}:p${s}#${(0x202020 * (s + 1)).toString(16).slice(-6)}:${state}`,
    );
  });
  return args;
}

async function main(): Promise<void> {
  const templates = loadTemplates();
  const specs = aggregateSpecs(templates);
  console.log(`service graphs: sizes ${SIZES.join(', ')} hosts, ${ROUNDS} renders each, "day" 500 px`);
  const results: string[] = [];
  for (const size of SIZES) {
    const rrdcached = await startRrdcached();
    const dataDir = rrdcached.baseDir;
    const tmp = mkdtempSync(path.join(tmpdir(), 'kurado-aggbench-'));
    const store = await openStore(`sqlite:${path.join(tmp, 'kurado.db')}`);
    try {
      const hosts: HostRecord[] = Array.from({ length: size }, (_x, i) => ({
        address: `10.${Math.floor(i / 250)}.${i % 250}.1`,
        hostname: `node-${i}`,
        comments: '',
        service: 'big',
        label: `rack-${i % 4}`,
        role: 'base',
        plugins: ['base'],
        origin: 'import',
      }));
      await store.upsertHosts(hosts);
      const writer = createRrdWriter({ dataDir, rrdcached: rrdcached.address });
      const now = Math.floor(Date.now() / 1000);
      const end = now - (now % 60);
      const counters = new Map<string, number>();
      let latest: LatestValues[] = [];
      let previous = new Map<string, LatestValues>();
      let summaryMs = 0;
      const createStart = Date.now();
      for (let t = end - MINUTES * 60; t <= end; t += 60) {
        const updates: RrdUpdate[] = [];
        const rows: LatestValuesRow[] = [];
        previous = new Map(latest.map((l) => [l.host, l]));
        latest = [];
        hosts.forEach((host, i) => {
          const values: LatestValues['values'] = {};
          const add = (name: string, type: DsType, value: number) => {
            updates.push({
              path: rrdFilePath(dataDir, host.address, 'base', name, type),
              type,
              timestamp: t,
              value,
            });
            values[`${name}.${type}`] = [value, t];
          };
          const load = 1 + Math.sin(t / 900 + i);
          add('loadavg-1', 'gauge', load);
          add('processors', 'gauge', 8);
          CPU.forEach((state, s) => {
            const key = `${host.address}/${state}`;
            const value = (counters.get(key) ?? 0) + 60 * (state === 'idle' ? 500 : 20 + ((i + s) % 30));
            counters.set(key, value);
            add(`cpu-${state}`, 'derive', value);
          });
          const entry = { host: host.address, plugin: 'base', at: t, values };
          latest.push(entry);
          const before = previous.get(host.address);
          rows.push(before ? { ...entry, previous: { at: before.at, values: before.values } } : entry);
        });
        const started = process.hrtime.bigint();
        const scopes = summarize(hosts, rows, specs, t);
        summaryMs = Number(process.hrtime.bigint() - started) / 1e6;
        updates.push(...summaryUpdates(dataDir, scopes, t));
        const report = await writer.write(updates);
        if (report.failed.length > 0) throw new Error(`write failed: ${report.failed[0]?.reason}`);
      }
      await writer.close();
      await store.writeBatch({
        meta: [],
        warnings: [],
        received: [],
        receivedAt: end,
        latest: [...previous.values()],
      });
      await store.writeBatch({ meta: [], warnings: [], received: [], receivedAt: end, latest });
      console.log(
        `\n${size} hosts: ${size * 12} files with ${MINUTES} minutes written in ${((Date.now() - createStart) / 1000).toFixed(1)} s`,
      );

      const hostsFiles = (kind: 'cpu' | 'load') =>
        hosts.map((h) =>
          kind === 'load'
            ? [rrdFilePath(dataDir, h.address, 'base', 'loadavg-1', 'gauge')]
            : CPU.map((state) => rrdFilePath(dataDir, h.address, 'base', `cpu-${state}`, 'derive')),
        );
      const pool = new RenderPool({ size: 1, timeoutMs: 120_000 });
      const graphs = createGraphService({ dataDir, rrdcached: rrdcached.address, templates, poolSize: 1 });
      try {
        for (const kind of ['load', 'cpu'] as const) {
          const samples = { daemon: [] as number[], files: [] as number[], summary: [] as number[] };
          const viaDaemon = viewTimeArgs(hostsFiles(kind), kind, rrdcached.address, end);
          const viaFiles = viewTimeArgs(hostsFiles(kind), kind, undefined, end);
          const request = {
            service: 'big',
            label: '',
            plugin: 'base',
            graph: kind === 'load' ? 'loadavg-1' : 'cpu',
            term: 'day' as const,
            width: 500,
            height: 100,
          };
          await graphs.renderAggregatePng(request); // warm-up
          for (let round = 0; round < ROUNDS; round++) {
            samples.summary.push(await timed(() => graphs.renderAggregatePng(request)));
            samples.daemon.push(await timed(() => pool.run(viaDaemon)));
            samples.files.push(await timed(() => pool.run(viaFiles)));
          }
          const line = `${String(size).padStart(5)} hosts ${kind.padEnd(4)} (${kind === 'cpu' ? size * 10 : size} DEFs at view time): view time via rrdcached p50 ${ms(median(samples.daemon))}, from files ${ms(median(samples.files))}; summaries p50 ${ms(median(samples.summary))} → summaries/view-time ${(median(samples.summary) / median(samples.daemon)).toFixed(3)}`;
          console.log(line);
          results.push(line);
        }
        const rankSamples: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          rankSamples.push(
            await timed(async () => {
              const all = await store.listHosts();
              rankHosts(all, await store.latestValues(['base']), rankingMetric('cpu'), end + 30, 10);
            }),
          );
        }
        const rankLine = `${String(size).padStart(5)} hosts: ranking by CPU busy (store read + rank) p50 ${ms(median(rankSamples))}; Aggregator summing one minute ${ms(summaryMs)}`;
        console.log(rankLine);
        results.push(rankLine);
      } finally {
        await pool.close();
        await graphs.close();
      }
    } finally {
      await store.close();
      await rrdcached.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  console.log(`\nsummary\n${results.join('\n')}`);
}

await main();
