/**
 * `receive` and `serve` open the same SQLite file from different processes: concurrent writers
 * wait for each other (busy_timeout) instead of failing, and a reader sees committed data.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/core/store/index.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'kurado-sqlite-procs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writer(url: string, prefix: string, batches: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'test/helpers/store-writer.ts'), url, prefix, String(batches)],
      { cwd: ROOT, timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`writer ${prefix} failed: ${stderr}`)) : resolve(stdout.trim()),
    );
  });
}

it('lets three processes write one SQLite file at once while this one reads', async () => {
  const url = `sqlite:${path.join(dir, 'kurado.db')}`;
  const reader = await openStore(url);
  const writers = Promise.all([
    writer(url, 'a.example', 40),
    writer(url, 'b.example', 40),
    writer(url, 'c.example', 40),
  ]);
  let reads = 0;
  let settled = false;
  void writers.finally(() => {
    settled = true;
  });
  while (!settled) {
    await reader.statuses(1_800_000_000);
    reads++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(await writers).toEqual(['done 40', 'done 40', 'done 40']);
  expect(reads).toBeGreaterThan(0);
  const hosts = await reader.listHosts();
  expect(hosts).toHaveLength(150);
  expect(await reader.meta('b.example.7', 1_800_000_000)).toEqual([
    { host: 'b.example.7', plugin: 'base', name: 'uptime', value: 'up 39 s', timestamp: 1_800_000_039 },
  ]);
  expect((await reader.lastReceivedOfPlugin('base')).get('c.example.49')).toBe(1_800_000_039);
  await reader.close();
});
