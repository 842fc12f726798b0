import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { DEFAULT_STOP_TIMEOUT_SECONDS } from '../../src/core/runtime/lifecycle.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const UNITS = path.join(ROOT, 'templates/systemd');
const SERVER_UNITS = [
  'kurado-receive.service',
  'kurado-serve.service',
  'kurado-rrdcached.service',
  'kurado-schedule.service',
  'kurado-pull-worker.service',
];

/** `[Section] Key=value` lines of a unit file (continuation lines joined): key → values in order. */
function parseUnit(file: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  const text = readFileSync(path.join(UNITS, file), 'utf8').replace(/\\\n/g, ' ');
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      continue;
    }
    const at = line.indexOf('=');
    const key = `${section}.${line.slice(0, at)}`;
    directives.set(key, [...(directives.get(key) ?? []), line.slice(at + 1)]);
  }
  return directives;
}

/** Directories a unit's process may write under ProtectSystem=strict. */
function writablePaths(unit: Map<string, string[]>): string[] {
  const words = (key: string) => (unit.get(`Service.${key}`) ?? []).flatMap((value) => value.split(/\s+/));
  return [
    ...words('ReadWritePaths').map((entry) => entry.replace(/^-/, '')),
    ...words('StateDirectory').map((name) => path.join('/var/lib', name)),
    ...words('RuntimeDirectory').map((name) => path.join('/run', name)),
    ...(unit.get('Service.PrivateTmp')?.includes('yes') ? ['/tmp', '/var/tmp'] : []),
  ].filter((entry) => entry !== '');
}

function covered(target: string, writable: readonly string[]): boolean {
  return writable.some((dir) => target === dir || target.startsWith(`${dir}/`));
}

/** KEY=value lines of an EnvironmentFile. */
function parseEnvironmentFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) env[match[1] as string] = match[2] as string;
  }
  return env;
}

describe('systemd units in templates/systemd', () => {
  const units = readdirSync(UNITS).filter((file) => file.endsWith('.service'));

  it('are all there', () => {
    expect(units).toEqual(expect.arrayContaining([...SERVER_UNITS, 'kurado-agent.service']));
  });

  for (const unit of units) {
    it(`${unit} passes systemd-analyze verify without a warning`, async () => {
      const result = await run('systemd-analyze', ['verify', '--man=no', path.join(UNITS, unit)]).catch(
        (error: { code: number; stderr: string }) => ({
          stdout: '',
          stderr: `exit ${error.code}: ${error.stderr}`,
        }),
      );
      expect(result.stderr).toBe('');
    });
  }

  for (const file of SERVER_UNITS) {
    it(`${file} is hardened like Debian's own daemons`, () => {
      const unit = parseUnit(file);
      expect(unit.get('Service.ProtectSystem')).toEqual(['strict']);
      expect(unit.get('Service.NoNewPrivileges')).toEqual(['yes']);
      expect(unit.get('Service.PrivateTmp')).toEqual(['yes']);
      expect(unit.get('Service.ProtectHome')).toEqual(['yes']);
      expect(unit.get('Service.ReadWritePaths')?.join(' ')).toContain('/var/lib/kurado');
      expect(unit.get('Service.User')).toEqual(['kurado']);
    });
  }

  it('kurado-receive can write the tree it writes with the settings its EnvironmentFile gives it', () => {
    const unit = parseUnit('kurado-receive.service');
    const writable = writablePaths(unit);
    expect(unit.get('Service.EnvironmentFile')).toEqual(['/etc/kurado/kurado.env']);
    const env = parseEnvironmentFile(path.join(ROOT, 'templates/kurado.env'));
    const settings = loadConfig({ env });
    // The RRD tree (receive creates directories and, without rrdcached, the files themselves).
    expect(covered(settings.dataDir, writable), `${settings.dataDir} in ${writable}`).toBe(true);
    expect(covered(path.join(settings.dataDir, 'host', 'base', 'x.gauge.rrd'), writable)).toBe(true);
    // Without a MySQL URL the store is SQLite under data_dir, with its -wal and -shm files next to it.
    const { KURADO_STORE_URL: _mysql, ...withoutStore } = env;
    const sqlite = loadConfig({ env: withoutStore }).storeUrl.replace(/^sqlite:/, '');
    expect(covered(path.dirname(sqlite), writable), `${sqlite} in ${writable}`).toBe(true);
    // The rrdcached socket it connects to needs no write access to its directory.
    expect(settings.rrdcached).toMatch(/^unix:\/run\/rrdcached\//);
  });

  it("kurado-receive's TimeoutStopSec leaves receive its own --stop-timeout", () => {
    const unit = parseUnit('kurado-receive.service');
    expect(Number(unit.get('Service.TimeoutStopSec')?.[0])).toBeGreaterThan(DEFAULT_STOP_TIMEOUT_SECONDS);
  });

  it('kurado-rrdcached can write the RRD tree (-b) and its journal (-j), and -b is the data directory', () => {
    const unit = parseUnit('kurado-rrdcached.service');
    const writable = writablePaths(unit);
    const args = (unit.get('Service.ExecStart')?.[0] ?? '').split(/\s+/);
    const base = args[args.indexOf('-b') + 1] as string;
    const journal = args[args.indexOf('-j') + 1] as string;
    const socket = (args[args.indexOf('-l') + 1] as string).replace(/^unix:/, '');
    expect(covered(base, writable), `${base} in ${writable}`).toBe(true);
    expect(covered(journal, writable), `${journal} in ${writable}`).toBe(true);
    expect(covered(path.dirname(socket), writable), `${socket} in ${writable}`).toBe(true);
    const env = parseEnvironmentFile(path.join(ROOT, 'templates/kurado.env'));
    expect(loadConfig({ env }).dataDir).toBe(base);
    expect(env.KURADO_RRDCACHED).toBe(`unix:${socket}`);
  });
});
