import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../src/core/protocol/index.js';
import {
  loadPluginDir,
  PluginRunner,
  type PluginSpec,
  parsePluginFile,
  pluginLines,
  runCommand,
} from './plugins.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kurado-agent-plugins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NOW = 1_800_000_000;

/** Running, as opposed to gone or a zombie waiting for a parent (init) to reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('conf.d files', () => {
  it('reads [plugin.metrics.<name>] tables with command and timeout', () => {
    const config = parsePluginFile(
      '[plugin.metrics.process]\ncommand = "echo x"\n[plugin.metrics.slow]\ncommand = "sleep 1"\ntimeout = 5\n',
      'sample.toml',
    );
    expect(config.problems).toEqual([]);
    expect(config.plugins).toEqual([
      { name: 'process', command: 'echo x', timeoutSeconds: 30, file: 'sample.toml' },
      { name: 'slow', command: 'sleep 1', timeoutSeconds: 5, file: 'sample.toml' },
    ]);
  });

  it('names the file and table of every unusable entry', () => {
    const config = parsePluginFile(
      '[plugin.metrics.nocmd]\ntimeout = 1\n[plugin.metrics.base]\ncommand = "x"\n[plugin.metrics."a b"]\ncommand = "x"\n' +
        '[plugin.metrics.neg]\ncommand = "x"\ntimeout = -1\n',
      'bad.toml',
    );
    expect(config.plugins).toEqual([]);
    expect(config.problems).toEqual([
      'bad.toml: [plugin.metrics.nocmd]: needs command = "<shell command>"',
      'bad.toml: [plugin.metrics.base]: "base" is the agent\'s own metrics; choose another name',
      'bad.toml: [plugin.metrics.a b]: plugin name must be [A-Za-z0-9_-]+',
      'bad.toml: [plugin.metrics.neg]: timeout -1 is outside 0 < timeout <= 3600 seconds',
    ]);
    expect(parsePluginFile('[plugin\n', 'broken.toml').problems[0]).toMatch(/^broken\.toml: not valid TOML/);
  });

  it('loads *.toml in name order, a later file overriding a plugin of the same name', () => {
    const confD = mkdtempSync(path.join(dir, 'conf.d-'));
    writeFileSync(path.join(confD, '10-a.toml'), '[plugin.metrics.x]\ncommand = "echo first"\n');
    writeFileSync(path.join(confD, '20-b.toml'), '[plugin.metrics.x]\ncommand = "echo second"\n');
    writeFileSync(path.join(confD, 'notes.txt'), 'ignored');
    const config = loadPluginDir(confD);
    expect(config.plugins.map((p) => p.command)).toEqual(['echo second']);
  });

  it('ignores a world-writable file: anyone could make the agent run their command', () => {
    const confD = mkdtempSync(path.join(dir, 'conf.d-'));
    const file = path.join(confD, 'open.toml');
    writeFileSync(file, '[plugin.metrics.x]\ncommand = "echo x"\n');
    chmodSync(file, 0o666);
    const config = loadPluginDir(confD);
    expect(config.plugins).toEqual([]);
    expect(config.problems).toEqual([`${file}: world-writable, ignored (chmod o-w)`]);
  });
});

describe('running plugins', () => {
  const spec = (name: string, command: string, timeoutSeconds = 30): PluginSpec => ({
    name,
    command,
    timeoutSeconds,
    file: path.join(dir, 'test.toml'),
  });

  it('normalises output as the upstream agent did and keeps warn. lines as warnings', async () => {
    const runner = new PluginRunner({
      plugins: [
        spec(
          'dice',
          "printf 'stats.saikoro\\t4\\nfork.derive\\t12\\t\\nmeta.model\\tx1\\nwarn.disk\\tfull\\n'",
        ),
      ],
      problems: [],
    });
    expect(await runner.run(NOW)).toEqual([
      `dice.metrics.stats.saikoro.gauge\t4\t${NOW}`,
      `dice.metrics.fork.derive\t12\t${NOW}`,
      `dice.meta.model\tx1\t${NOW}`,
      `dice.warn.disk\tfull\t${NOW}`,
    ]);
  });

  it('reports exit 1 with the exit code and the first stderr line', async () => {
    const lines = await new PluginRunner({
      plugins: [spec('broken', 'echo "cannot connect to 127.0.0.1:11211" >&2; echo more >&2; exit 1')],
      problems: [],
    }).run(NOW);
    expect(lines).toEqual([
      `broken.warn.command\tfailed to exec plugin:broken: exit_code: 1: cannot connect to 127.0.0.1:11211\t${NOW}`,
    ]);
  });

  it('turns garbage into one warning and keeps the good lines around it', async () => {
    const lines = await new PluginRunner({
      plugins: [spec('junk', "printf 'ok\\t1\\nthis is not a metric\\nbad\\tNaNx\\n../../x\\t3\\n'")],
      problems: [],
    }).run(NOW);
    expect(lines[0]).toBe(`junk.metrics.ok.gauge\t1\t${NOW}`);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /^junk\.warn\.output\t3 unusable output line\(s\) \(and 2 more\): line 2: expected key<TAB>value/,
    );
    expect(parseMessage(lines.join('\n'), { host: 'h', now: NOW }).rejected).toEqual([]);
  });

  it('kills a hung command and its whole process group at the timeout', async () => {
    const pids = path.join(dir, 'hang.pids');
    const started = Date.now();
    const result = await runCommand(`sleep 300 & echo $! > ${pids}; echo $$ >> ${pids}; wait`, 1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.killedBecause).toBe('timed out after 1 s');
    const [grandchild, shell] = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    // The background sleep is in the same group, so it died with the shell.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(isAlive(grandchild!)).toBe(false);
    expect(isAlive(shell!)).toBe(false);
    expect(pluginLines(spec('hang', 'x', 1), result, NOW)).toEqual([
      `hang.warn.command\tplugin hang timed out after 1 s; its process group was killed\t${NOW}`,
    ]);
  });

  it('skips a plugin whose previous run is still going instead of starting it twice', async () => {
    const runner = new PluginRunner({
      plugins: [spec('slow', "sleep 2; printf 'x\\t1\\n'", 10)],
      problems: [],
    });
    const first = runner.run(NOW);
    const second = await runner.run(NOW + 60);
    expect(second).toEqual([
      `slow.warn.command\tprevious run of plugin slow still running; skipped\t${NOW + 60}`,
    ]);
    expect(await first).toEqual([`slow.metrics.x.gauge\t1\t${NOW}`]);
  });

  it('reports conf.d problems as base.warn.conf-d', () => {
    const runner = new PluginRunner({ plugins: [], problems: ['a.toml: not valid TOML: x'] });
    expect(runner.configWarnings(NOW)).toEqual([`base.warn.conf-d\ta.toml: not valid TOML: x\t${NOW}`]);
  });
});
