/**
 * PNG render latency through the GraphService's pool of `rrdtool -` processes, against the same
 * graph drawn (a) by a fresh `rrdtool graphv` process per PNG and (b) by one raw persistent
 * `rrdtool -` pipe with no service around it, all in the same run (the machine is shared, so
 * ratios are what counts). Targets: pool p50 ≤ 15 ms; pool/raw-pipe ≤ 1.3.
 *
 *   npm run bench -- render            (RENDER_ROUNDS=300 for more samples)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { loadTemplates } from '../src/core/graphs/loader.js';
import { createGraphService } from '../src/core/graphs/service.js';
import type { GraphRequest } from '../src/core/graphs/types.js';
import { RrdtoolProcess } from '../src/core/rrd/rrdtool-process.js';
import { templateMetrics, writeFixtureRrds } from '../test/helpers/graph-fixtures.js';

const ROUNDS = Number(process.env.RENDER_ROUNDS ?? 150);
const WARMUP = 15;
const HOST = '10.0.0.1';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: number[]): { p50: number; p95: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

function spawnGraphv(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('rrdtool', ['graphv', '-', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(bytes) : reject(new Error(`rrdtool graphv exited ${code}: ${stderr}`)),
    );
  });
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const fmt = (n: number) => n.toFixed(2).padStart(7);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kurado-bench-render-'));
  const base = loadTemplates().templates.get('base')!;
  const now = Math.floor(Date.now() / 1000);
  await writeFixtureRrds({
    dataDir,
    host: HOST,
    plugin: 'base',
    metrics: templateMetrics(base, ['eth0', 'sda']).filter(
      (m) => !m.name.startsWith('disk-usage-') || m.name.includes('-sda-'),
    ),
    end: now,
    hours: 36,
  });
  const meta = [
    { host: HOST, plugin: 'base', name: 'traffic-interfaces', value: 'eth0', timestamp: now },
    { host: HOST, plugin: 'base', name: 'disk-io-devices', value: 'sda', timestamp: now },
    { host: HOST, plugin: 'base', name: 'disk-usage-devices', value: 'sda', timestamp: now },
  ];
  const service = createGraphService({ dataDir });
  const pipe = new RrdtoolProcess();
  const graphs = ['loadavg-1', 'cpu'];
  console.log(
    `render latency, ${ROUNDS} rounds after ${WARMUP} warm-up, 500x100 "day", pool of ${service.pool.size} (CPU count ${availableParallelism()})`,
  );
  console.log('graph             path                    p50 ms   p95 ms  mean ms');
  try {
    for (const key of graphs) {
      const req: GraphRequest = {
        host: HOST,
        plugin: 'base',
        graph: key,
        term: 'day',
        width: 500,
        height: 100,
      };
      const args = await service.graphArguments(req, meta);
      const samples = { pool: [] as number[], spawn: [] as number[], pipe: [] as number[] };
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        // Interleaved, so drifting machine load hits all three alike.
        const a = await time(() => service.renderPng(req, meta));
        const b = await time(() => spawnGraphv(args));
        const c = await time(() => pipe.run(['graphv', '-', ...args]));
        if (i < WARMUP) continue;
        samples.pool.push(a);
        samples.spawn.push(b);
        samples.pipe.push(c);
      }
      const pool = summary(samples.pool);
      const fresh = summary(samples.spawn);
      const raw = summary(samples.pipe);
      console.log(
        `${key.padEnd(17)} service pool         ${fmt(pool.p50)}  ${fmt(pool.p95)}  ${fmt(pool.mean)}`,
      );
      console.log(
        `${''.padEnd(17)} spawn per PNG        ${fmt(fresh.p50)}  ${fmt(fresh.p95)}  ${fmt(fresh.mean)}`,
      );
      console.log(`${''.padEnd(17)} single raw pipe      ${fmt(raw.p50)}  ${fmt(raw.p95)}  ${fmt(raw.mean)}`);
      console.log(
        `${''.padEnd(17)} ratio p50: pool/spawn ${(pool.p50 / fresh.p50).toFixed(2)}, pool/raw pipe ${(pool.p50 / raw.p50).toFixed(2)} (target ≤ 1.3); p50 ${pool.p50 <= 15 ? '≤' : '>'} 15 ms target`,
      );
    }
    // A host page: every base graph at once, through the pool and through one pipe.
    const listed = await service.list(HOST, meta);
    const keys = listed.flatMap((p) => p.groups.flatMap((g) => g.graphs.map((x) => x.key)));
    const page = async (render: (key: string) => Promise<unknown>) =>
      time(() => Promise.all(keys.map(render)));
    const pageSamples = { pool: [] as number[], pipe: [] as number[] };
    const argsOf = new Map(
      await Promise.all(
        keys.map(
          async (key) =>
            [
              key,
              await service.graphArguments(
                { host: HOST, plugin: 'base', graph: key, term: 'day', width: 500, height: 100 },
                meta,
              ),
            ] as const,
        ),
      ),
    );
    for (let i = 0; i < 3 + 20; i++) {
      const a = await page((key) =>
        service.renderPng(
          { host: HOST, plugin: 'base', graph: key, term: 'day', width: 500, height: 100 },
          meta,
        ),
      );
      const b = await page((key) => pipe.run(['graphv', '-', ...argsOf.get(key)!]));
      if (i < 3) continue;
      pageSamples.pool.push(a);
      pageSamples.pipe.push(b);
    }
    const poolPage = summary(pageSamples.pool);
    const pipePage = summary(pageSamples.pipe);
    console.log(
      `host page of ${keys.length} graphs: pool of ${service.pool.size} p50 ${poolPage.p50.toFixed(1)} ms, one pipe p50 ${pipePage.p50.toFixed(1)} ms (ratio ${(poolPage.p50 / pipePage.p50).toFixed(2)})`,
    );
  } finally {
    await pipe.close();
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
