/**
 * `kurado db migrate`, `hosts import`, `hosts list` and `status` run as a user runs them: the
 * real CLI in a child process, against a SQLite store in a temp dir (and MariaDB for migrate).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION, openStore } from '../../src/core/store/index.js';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../helpers/mariadb.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const FIXTURES = path.join(ROOT, 'src/core/hosts/fixtures');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function kurado(args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args],
      { cwd: ROOT, env: { ...process.env, TZ: 'UTC', KURADO_CONFIG: '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('store commands on SQLite', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let storeUrl: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kurado-cmd-'));
    storeUrl = `sqlite:${path.join(dir, 'data', 'kurado.db')}`;
    env = { KURADO_DATA_DIR: path.join(dir, 'data'), KURADO_STORE_URL: storeUrl };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('db migrate creates the schema once and then says it is up to date', async () => {
    const first = await kurado(['db', 'migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`schema version 0 → ${LATEST_SCHEMA_VERSION}`);
    const second = await kurado(['db', 'migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`schema is up to date (version ${LATEST_SCHEMA_VERSION})`);
  });

  it('hosts import loads the server list, prints counts per service and lists the hosts', async () => {
    const imported = await kurado(['hosts', 'import', path.join(FIXTURES, 'good.toml')], env);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/│ shop\s+│ frontend, database\s+│ 4\s+│ 4\s+│/);
    expect(imported.stdout).toMatch(/│ Shop \(EU\)\s+│ \(none\)\s+│ 1\s+│ 1\s+│/);
    expect(imported.stdout).toContain('5 new, 0 changed, 0 unchanged');
    expect(imported.stderr).toContain('hostname web01 is also used');

    const listed = await kurado(['hosts', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    const hosts = JSON.parse(listed.stdout) as { address: string; service: string; settings?: unknown }[];
    expect(hosts.map((h) => h.address)).toEqual([
      '10.0.0.1',
      '10.0.0.2',
      'web03.example.com',
      '10.0.0.21',
      '10.1.0.1',
    ]);
    // Credentials from the server list never reach the output.
    expect(listed.stdout).not.toContain('secret');

    const table = await kurado(['hosts', 'list', '--service', 'Shop (EU)'], env);
    expect(table.stdout).toMatch(/│ 10\.1\.0\.1\s+│ web01\s+│ Shop \(EU\)/);
    expect(table.stdout).toContain('1 hosts');
  });

  it('hosts import --prune removes hosts no longer listed, and only with --prune', async () => {
    const smaller = path.join(dir, 'smaller.toml');
    writeFileSync(
      smaller,
      '[roles.web]\nplugins = ["base"]\n[[services.shop]]\nlabel = "frontend"\nrole = "web"\nhosts = ["10.0.0.1 web01 moved"]\n',
    );
    const kept = await kurado(['hosts', 'import', smaller], env);
    expect(kept.stdout).toContain('0 new, 1 changed, 0 unchanged');
    expect(kept.stdout).toContain('4 imported hosts are no longer listed (--prune removes them)');
    expect(JSON.parse((await kurado(['hosts', 'list', '--json'], env)).stdout)).toHaveLength(5);

    const pruned = await kurado(['hosts', 'import', smaller, '--prune'], env);
    expect(pruned.stdout).toContain(
      'Pruned 4 hosts no longer listed: 10.0.0.2, web03.example.com, 10.0.0.21, 10.1.0.1',
    );
    const left = JSON.parse((await kurado(['hosts', 'list', '--json'], env)).stdout) as {
      comments: string;
    }[];
    expect(left).toEqual([expect.objectContaining({ address: '10.0.0.1', comments: 'moved' })]);
  });

  it('hosts import of a broken file writes nothing and exits 1 with every problem placed', async () => {
    cpSync(path.join(FIXTURES, 'many-problems.toml'), path.join(dir, 'bad.toml'));
    const result = await kurado(['hosts', 'import', path.join(dir, 'bad.toml')], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('bad.toml: 10 problems:');
    expect(result.stderr).toContain('bad.toml:17: services.shop[2] (label "backend") hosts[2]');
    const syntax = await kurado(['hosts', 'import', path.join(FIXTURES, 'broken-syntax.toml')], env);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/broken-syntax\.toml:8:3: /);
    expect(JSON.parse((await kurado(['hosts', 'list', '--json'], env)).stdout)).toHaveLength(1);
  });

  it('status shows each host with its status and exits 2 when one is critical', async () => {
    const now = Math.floor(Date.now() / 1000);
    const store = await openStore(storeUrl);
    await store.upsertHosts([
      {
        address: '10.0.0.1',
        hostname: 'web01',
        comments: '',
        service: 'shop',
        label: '',
        role: 'web',
        plugins: ['base'],
        origin: 'import',
      },
      {
        address: '10.0.0.2',
        hostname: 'web02',
        comments: '',
        service: 'shop',
        label: '',
        role: 'web',
        plugins: ['base'],
        origin: 'import',
      },
      {
        address: '10.0.0.3',
        hostname: 'web03',
        comments: '',
        service: 'shop',
        label: '',
        role: 'web',
        plugins: ['base'],
        origin: 'import',
      },
    ]);
    await store.writeBatch({
      meta: [],
      warnings: [],
      received: [{ host: '10.0.0.1', plugin: 'base' }],
      receivedAt: now,
    });
    await store.writeBatch({
      meta: [],
      warnings: [],
      received: [{ host: '10.0.0.2', plugin: 'base' }],
      receivedAt: now - 600,
    });
    await store.close();

    const result = await kurado(['status'], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(
      /│ 10\.0\.0\.1\s+│ web01\s+│ shop\s+│ ok\s+│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+ s ago\)/,
    );
    expect(result.stdout).toMatch(
      /│ 10\.0\.0\.2\s+│ web02\s+│ shop\s+│ critical\s+│ .*\(10 min ago\)\s+│ base not received for 10 min/,
    );
    expect(result.stdout).toMatch(/│ 10\.0\.0\.3\s+│ web03\s+│ shop\s+│ unknown\s+│ never/);
    expect(result.stdout).toContain('3 hosts: 1 ok, 0 warn, 1 critical, 1 unknown');

    const problems = await kurado(['status', '--problems', '--json', '--fail-on', 'never'], env);
    expect(problems.code).toBe(0);
    expect(
      (JSON.parse(problems.stdout) as { address: string; status: string }[]).map((r) => [
        r.address,
        r.status,
      ]),
    ).toEqual([
      ['10.0.0.2', 'critical'],
      ['10.0.0.3', 'unknown'],
    ]);
  });
});

describe('db migrate on MariaDB', () => {
  let database: ThrowawayDatabase;
  beforeAll(async () => {
    database = await createThrowawayDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('asks for `kurado db migrate` first, migrates once, then is up to date', async () => {
    const env = { KURADO_STORE_URL: database.url, KURADO_DATA_DIR: tmpdir() };
    const early = await kurado(['hosts', 'list'], env);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('run `kurado db migrate`');
    const [first, second] = await Promise.all([
      kurado(['db', 'migrate'], env),
      kurado(['db', 'migrate'], env),
    ]);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(first.stdout + second.stdout).toContain(`schema version 0 → ${LATEST_SCHEMA_VERSION}`);
    const again = await kurado(['db', 'migrate'], env);
    expect(again.stdout).toContain(`schema is up to date (version ${LATEST_SCHEMA_VERSION})`);
    expect((await kurado(['hosts', 'list'], env)).stdout).toContain('No hosts yet');
  });

  it('names an unreachable MySQL without its password', async () => {
    const result = await kurado(['db', 'migrate'], {
      KURADO_STORE_URL: 'mysql://kurado:hunter2@127.0.0.1:1/kurado',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('MySQL at 127.0.0.1:1 unreachable');
    expect(result.stderr).not.toContain('hunter2');
  });
});
