import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linesToMap, pullTarget, runFetch, timed } from '../../../test/helpers/pull.js';
import { FetchError } from '../types.js';
import { commandFetcher } from './command.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(path.join(tmpdir(), 'kurado-command-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('command fetcher running real executables', () => {
  it('runs the command with address, hostname, arguments and settings, and reads its lines', async () => {
    process.env.KURADO_STORE_URL = 'mysql://kurado:secret@db/kurado';
    try {
      const target = pullTarget('command', ['queue', '5555', 'jobs'], {
        command: path.join(fixtures, 'report.sh'),
        password: 'p4ss',
      });
      const lines = await runFetch(commandFetcher, target);
      const out = linesToMap(lines);
      expect(out.get('queue_depth')).toBe('42');
      expect(out.get('metrics.jobs_done.derive')).toBe('1234');
      expect(out.get('meta.address')).toBe('127.0.0.1');
      expect(out.get('meta.hostname')).toBe('pull-test.example');
      expect(out.get('meta.args')).toBe('5555 jobs');
      expect(JSON.parse(out.get('meta.settings') ?? '')).toEqual({ password: 'p4ss' });
      // The worker's own environment (store URL with its password) never reaches the command.
      expect(out.get('meta.store_url')).toBe('absent');
      expect(lines.some((l) => l.startsWith('#'))).toBe(false);
    } finally {
      delete process.env.KURADO_STORE_URL;
    }
  });

  it('a hung command costs its timeout and its whole process group is killed', async () => {
    const pidFile = path.join(dir, 'child.pid');
    const target = pullTarget('command', ['hang', pidFile], { command: path.join(fixtures, 'hang.sh') });
    const { ms, error } = await timed(runFetch(commandFetcher, target, 500));
    expect(error).toEqual(
      new FetchError(`command:hang:${pidFile} did not finish within 500 ms; killed its process group`),
    );
    expect(ms).toBeLessThan(3000);
    expect(existsSync(pidFile)).toBe(true);
    const child = Number(readFileSync(pidFile, 'utf8'));
    const deadline = Date.now() + 2000;
    while (alive(child) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(child), `the command's child ${child} outlived the timeout`).toBe(false);
  });

  it('a failing command reports its exit code and last stderr line, without server paths', async () => {
    const target = pullTarget('command', ['q'], { command: path.join(fixtures, 'fail.sh') });
    await expect(runFetch(commandFetcher, target)).rejects.toThrow(
      new FetchError('command:q exited with code 3: cannot reach the queue at 127.0.0.1:5555 (see …)'),
    );
  });

  it('output that is not plugin lines is a garbage reply', async () => {
    const target = pullTarget('command', ['q'], { command: path.join(fixtures, 'garbage.sh') });
    await expect(runFetch(commandFetcher, target)).rejects.toThrow('printed no key<TAB>value line');
  });

  it('a missing, non-executable or relative command says which', async () => {
    await expect(
      runFetch(commandFetcher, pullTarget('command', ['q'], { command: path.join(dir, 'nope') })),
    ).rejects.toThrow(new FetchError('command:q: its "command" setting names no such file'));
    await expect(
      runFetch(
        commandFetcher,
        pullTarget('command', ['q'], { command: path.join(fixtures, '..', 'README.md') }),
      ),
    ).rejects.toThrow(
      new FetchError(
        'command:q: its "command" setting names a file that is not executable (check its mode and owner)',
      ),
    );
    await expect(runFetch(commandFetcher, pullTarget('command', ['q'], { command: 'q.sh' }))).rejects.toThrow(
      'command:q: the "command" setting must be an absolute path, not "q.sh"',
    );
    await expect(runFetch(commandFetcher, pullTarget('command', ['q']))).rejects.toThrow(
      'command:q: no executable: give it a "command" setting',
    );
  });
});
