/**
 * `kurado serve` and `kurado web passwd` as an operator runs them: the real CLI in a child process,
 * a SQLite store and data dir in a temp dir, basic auth with a users file made by `web passwd`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningKurado, spawnKurado } from '../helpers/cli.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'kurado-serve-'));
const running: RunningKurado[] = [];

afterAll(async () => {
  for (const kurado of running) await kurado.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function passwd(user: string, input: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'bin/dev.js'), 'web', 'passwd', user],
    {
      cwd: ROOT,
      input,
      encoding: 'utf8',
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('kurado web passwd + kurado serve --auth basic', () => {
  it('prints a users-file line that kurado serve accepts, and serves the UI behind it', async () => {
    const made = passwd('alice', 'correct horse\n');
    expect(made.status).toBe(0);
    const line = made.stdout.trim();
    expect(line).toMatch(/^alice:scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(line).not.toContain('correct horse');
    const usersFile = path.join(tmp, 'users');
    writeFileSync(usersFile, `${line}\n`);

    const kurado = spawnKurado([
      'serve',
      '--data-dir',
      path.join(tmp, 'data'),
      '--store',
      `sqlite:${path.join(tmp, 'kurado.db')}`,
      '--listen',
      '127.0.0.1:0',
      '--auth',
      'basic',
      '--users-file',
      usersFile,
      '--allow-from',
      '127.0.0.0/8',
      '--auth-failures',
      '2',
    ]);
    running.push(kurado);
    const log = JSON.parse(await kurado.waitForLog(/kurado serve listening/, 60_000)) as { listen: string };
    expect(log.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    const base = `http://${log.listen}`;
    const denied = await fetch(`${base}/`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toContain('Basic');
    const authorization = `Basic ${Buffer.from('alice:correct horse').toString('base64')}`;
    const page = await fetch(`${base}/`, { headers: { authorization } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('No hosts yet');
    const metrics = await fetch(`${base}/metrics`, { headers: { authorization } });
    expect(await metrics.text()).toContain('kurado_web_requests_total');
    // --auth-failures 2: the third wrong password in a minute is refused before any scrypt, logged.
    const wrong = `Basic ${Buffer.from('alice:guess').toString('base64')}`;
    const codes: number[] = [];
    for (let i = 0; i < 3; i++)
      codes.push((await fetch(`${base}/`, { headers: { authorization: wrong } })).status);
    expect(codes).toEqual([401, 401, 429]);
    await kurado.waitForLog(/too many wrong passwords from this client/);
    expect((await fetch(`${base}/`, { headers: { authorization } })).status).toBe(200);
    expect(await kurado.stop('SIGTERM')).toBe(0);
  });

  it('refuses an empty password', () => {
    const result = passwd('bob', '\n');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('password must not be empty');
  });

  it('refuses to start with --auth basic but no users file', async () => {
    const kurado = spawnKurado([
      'serve',
      '--data-dir',
      path.join(tmp, 'data2'),
      '--store',
      `sqlite:${path.join(tmp, 'kurado2.db')}`,
      '--listen',
      '127.0.0.1:0',
      '--auth',
      'basic',
    ]);
    running.push(kurado);
    const code =
      kurado.child.exitCode ??
      (await new Promise<number | null>((resolve) => kurado.child.once('exit', resolve)));
    expect(code).toBe(2);
    expect(kurado.logs()).toContain('--auth basic needs --users-file');
  });
});
