import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as agentSource from '../../../agent/main.js';
import { PROJECT_ROOT, parseCleanly, tempDir } from './helpers.js';

const { AGENT_FLAGS } = agentSource;
const dir = tempDir('bundle');
const bundle = path.join(dir, 'kurado-agent.mjs');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const build = spawnSync('npm', ['run', '-s', 'build:agent'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  expect(build.status, build.stderr).toBe(0);
  // Alone in a directory outside the project: no node_modules anywhere up the tree of /tmp.
  copyFileSync(path.join(PROJECT_ROOT, 'dist/kurado-agent.mjs'), bundle);
});

const visibleFlags = AGENT_FLAGS.filter((flag) => !flag.hidden).map((flag) => `--${flag.name}`);

describe('the single-file agent', () => {
  it('runs --dump with plain node outside the project, and the output parses without a rejected line', () => {
    const confD = path.join(dir, 'conf.d');
    mkdirSync(confD);
    writeFileSync(
      path.join(confD, 'dice.toml'),
      `[plugin.metrics.dice]\ncommand = "printf 'stats.saikoro\\\\t4\\\\n'"\n`,
    );
    const run = spawnSync(process.execPath, [bundle, '--dump', '--conf-d', confD], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(run.status, run.stderr).toBe(0);
    const parsed = parseCleanly(run.stdout, '127.0.0.1');
    expect(parsed.rejected).toEqual([]);
    expect(parsed.metrics.map((m) => m.name)).toEqual(
      expect.arrayContaining(['cpu-user', 'memory-available', 'stats.saikoro']),
    );
    // The upstream agent's order: base metrics sorted, then meta, then warnings, then plugins.
    const keys = run.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t')[0]!);
    const firstMeta = keys.findIndex((key) => key.startsWith('base.meta.'));
    expect(keys.slice(0, firstMeta)).toEqual([...keys.slice(0, firstMeta)].sort());
    expect(keys.at(-1)).toBe('dice.metrics.stats.saikoro.gauge');
  });

  it('exports the same CLI as the source kurado agent runs', async () => {
    const entry = (await import(bundle)) as typeof agentSource;
    let printed = '';
    const code = await entry.runAgentCli(['--version'], { stdout: (text: string) => (printed += text) });
    expect(code).toBe(0);
    expect(printed).toMatch(/^kurado-agent \d+\.\d+\.\d+\n$/);
    expect(entry.AGENT_FLAGS.map((flag) => flag.name)).toEqual(AGENT_FLAGS.map((flag) => flag.name));
  });

  it('stays small', () => {
    expect(statSync(bundle).size).toBeLessThan(2 * 1024 * 1024);
  });

  it('explains every flag in --help, as kurado agent --help does', () => {
    const own = spawnSync(process.execPath, [bundle, '--help'], { cwd: dir, encoding: 'utf8' });
    expect(own.status).toBe(0);
    const oclif = spawnSync(path.join(PROJECT_ROOT, 'bin/dev.js'), ['agent', '--help'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    expect(oclif.status, oclif.stderr).toBe(0);
    for (const flag of visibleFlags) {
      expect(own.stdout).toContain(flag);
      expect(oclif.stdout).toContain(flag);
    }
    expect(own.stdout).not.toContain('--interval-seconds');
    expect(oclif.stdout).not.toContain('--interval-seconds');
  });

  it('names the problem and exits 2 on a bad flag value', () => {
    const run = spawnSync(process.execPath, [bundle, '--mqtt', 'mq:1883', '--interval', 'soon'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--interval: "soon" is not a whole number');
    const missing = spawnSync(process.execPath, [bundle, '--dump', '--conf-d', path.join(dir, 'nope')], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`--conf-d ${path.join(dir, 'nope')}: no such directory`);
  });
});
