/**
 * `npm run bench -- agent`: what the agent costs a monitored host.
 * - CPU time of one collection with the default collectors (target <= 30 ms), in this process;
 * - CPU per tick and RSS of the real single-file agent after 100 ticks publishing to the shared
 *   Mosquitto at 127.0.0.1:1883 (target <= 60 MB), ticking every 0.2 s to keep the run short;
 * - size of dist/kurado-agent.mjs (target <= 2 MB).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { collectBase } from '../agent/collect.js';
import { LiveHostFiles } from '../agent/host-files.js';
import { topicForHost } from '../src/core/protocol/index.js';

const root = new URL('../', import.meta.url).pathname;
const results: string[] = [];
const report = (name: string, value: string, target: string, ok: boolean) =>
  results.push(`${name.padEnd(40)} ${value.padStart(12)}   target ${target}  ${ok ? 'ok' : 'OVER TARGET'}`);

// 1. One collection, in process.
const files = new LiveHostFiles();
for (let i = 0; i < 20; i++) collectBase(files, 0); // warm up the JIT
const rounds = 500;
const cpuBefore = process.cpuUsage();
const wallBefore = performance.now();
for (let i = 0; i < rounds; i++) collectBase(files, i);
const cpu = process.cpuUsage(cpuBefore);
const wall = performance.now() - wallBefore;
const cpuMs = (cpu.user + cpu.system) / 1000 / rounds;
report('CPU per collection (default collectors)', `${cpuMs.toFixed(3)} ms`, '<= 30 ms', cpuMs <= 30);
results.push(`${'  wall per collection'.padEnd(40)} ${`${(wall / rounds).toFixed(3)} ms`.padStart(12)}`);

// 2. The bundle, built fresh.
const build = spawnSync('npm', ['run', '-s', 'build:agent'], { cwd: root, encoding: 'utf8' });
if (build.status !== 0) throw new Error(`npm run build:agent failed:\n${build.stderr}`);
const bundle = path.join(root, 'dist/kurado-agent.mjs');
const size = statSync(bundle).size;
report('single-file size', `${(size / 1024).toFixed(0)} KiB`, '<= 2048 KiB', size <= 2 * 1024 * 1024);

// 3. The real agent process over 100 ticks.
const ticks = 100;
const self = `bench-${process.pid}.agent-bench`;
const stateDir = mkdtempSync(path.join(tmpdir(), 'kurado-agent-bench-'));
const subscriber = await mqtt
  .connectAsync('mqtt://127.0.0.1:1883', { reconnectPeriod: 0, connectTimeout: 5000 })
  .catch((error: Error) => {
    throw new Error(`Mosquitto at 127.0.0.1:1883 is not reachable: ${error.message}`);
  });
let received = 0;
subscriber.on('message', () => received++);
await subscriber.subscribeAsync(topicForHost(self), { qos: 1 });
const agent = spawn(
  process.execPath,
  [bundle, '--mqtt', '127.0.0.1:1883', '--self', self, '--state-dir', stateDir, '--interval-seconds', '0.2'],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
let agentLog = '';
agent.stderr.on('data', (chunk: Buffer) => {
  agentLog += chunk.toString();
});
const clockTicks = 100; // USER_HZ on Linux
const cpuOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1000; // utime + stime, ms
};
const rssOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const waitForMessages = async (count: number) => {
  const deadline = Date.now() + 120_000;
  while (received < count) {
    if (Date.now() > deadline || agent.exitCode !== null)
      throw new Error(`agent published ${received}/${count} ticks:\n${agentLog}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
let cpuPerTick: number;
let rssAt10: number;
let rss: number;
try {
  await waitForMessages(10);
  const cpuAt10 = cpuOf(agent.pid!);
  rssAt10 = rssOf(agent.pid!);
  await waitForMessages(ticks);
  cpuPerTick = (cpuOf(agent.pid!) - cpuAt10) / (ticks - 10);
  rss = rssOf(agent.pid!);
} finally {
  // Never leave an agent publishing to the shared broker, whatever happened above.
  if (agent.exitCode === null) {
    agent.kill('SIGTERM');
    await new Promise((resolve) => agent.on('exit', resolve));
  }
  await subscriber.endAsync();
  rmSync(stateDir, { recursive: true, force: true });
}
report(
  'agent CPU per tick (collect+spool+publish)',
  `${cpuPerTick.toFixed(2)} ms`,
  '<= 30 ms',
  cpuPerTick <= 30,
);
results.push(`${'  agent RSS after 10 ticks'.padEnd(40)} ${`${rssAt10.toFixed(1)} MB`.padStart(12)}`);
report(`agent RSS after ${ticks} ticks`, `${rss.toFixed(1)} MB`, '<= 60 MB', rss <= 60);

console.log(results.join('\n'));
