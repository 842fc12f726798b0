/**
 * `kurado graph render`, `kurado graph list` and `kurado config check` as a user runs them: the
 * real CLI in a child process, against fixture RRD files and a SQLite store in a temp dir.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/core/store/index.js';
import { writeFixtureRrds } from '../helpers/graph-fixtures.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const HOST = '192.0.2.10';

interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the CLI with stdout a pipe (not a terminal), collecting stdout as bytes. */
function kurado(args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, KURADO_CONFIG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

describe('graph commands', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kurado-graph-cli-'));
    const dataDir = path.join(dir, 'data');
    const storeUrl = `sqlite:${path.join(dir, 'kurado.db')}`;
    env = { KURADO_DATA_DIR: dataDir, KURADO_STORE_URL: storeUrl, KURADO_GRAPHS_DIR: '' };
    const now = Math.floor(Date.now() / 1000);
    await writeFixtureRrds({
      dataDir,
      host: HOST,
      plugin: 'base',
      metrics: [
        { name: 'loadavg-1', type: 'gauge' },
        { name: 'processors', type: 'gauge' },
        { name: 'traffic-eth0-rxbytes', type: 'derive' },
        { name: 'traffic-eth0-txbytes', type: 'derive' },
      ],
      end: now,
    });
    await writeFixtureRrds({
      dataDir,
      host: HOST,
      plugin: 'process',
      metrics: [{ name: 'fork', type: 'derive' }],
      end: now,
    });
    const store = await openStore(storeUrl);
    try {
      await store.upsertHosts([
        {
          address: HOST,
          hostname: 'web01.example.com',
          comments: '',
          service: 'web',
          label: '',
          role: 'base',
          plugins: ['base'],
          origin: 'import',
        },
      ]);
      await store.writeBatch({
        meta: [{ host: HOST, plugin: 'base', name: 'traffic-interfaces', value: 'eth0', timestamp: now }],
        warnings: [],
        received: [{ host: HOST, plugin: 'base' }],
        receivedAt: now,
      });
    } finally {
      await store.close();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('graph render writes a PNG to stdout when stdout is not a terminal, resolving the hostname via the store', async () => {
    const result = await kurado(
      ['graph', 'render', 'web01.example.com', 'loadavg-1', '--term', '4hours'],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stdout.subarray(0, 8)).toEqual(PNG_MAGIC);
  });

  it('graph render --out writes the file; a custom range and an automatic graph work too', async () => {
    const out = path.join(dir, 'fork.png');
    const result = await kurado(
      [
        'graph',
        'render',
        HOST,
        'fork.derive',
        '--plugin',
        'process',
        '--term',
        'custom',
        '--from',
        String(Math.floor(Date.now() / 1000) - 7200),
        '--to',
        String(Math.floor(Date.now() / 1000)),
        '--width',
        '800',
        '--out',
        out,
      ],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(readFileSync(out).subarray(0, 8)).toEqual(PNG_MAGIC);
  });

  it('graph render refuses to write PNG bytes to a terminal', async () => {
    // `script` (util-linux) gives the CLI a pseudo-terminal as stdout, as in an interactive shell.
    const command = [
      process.execPath,
      '--import',
      'tsx',
      path.join(ROOT, 'bin/dev.js'),
      'graph',
      'render',
      HOST,
      'loadavg-1',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      const child = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], {
        cwd: ROOT,
        env: { ...process.env, KURADO_CONFIG: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      child.once('error', (error) => reject(new Error(`cannot run /usr/bin/script: ${error.message}`)));
      child.once('close', (code) => resolve({ code, text }));
    });
    expect(output.text).toContain(
      'refusing to write a PNG to the terminal: give --out FILE or redirect stdout',
    );
    expect(output.text).not.toContain('PNG\r\n');
    expect(output.code).toBe(2);
  });

  it('graph render names what exists for an unknown graph or host and exits 1', async () => {
    const graph = await kurado(['graph', 'render', HOST, 'cpux'], env);
    expect(graph.code).toBe(1);
    expect(graph.stderr).toMatch(/no graph "cpux" for plugin "base"; available: traffic-eth0, loadavg-1/);
    const host = await kurado(['graph', 'render', 'nosuchhost', 'cpu'], env);
    expect(host.code).toBe(1);
    expect(host.stderr).toMatch(/unknown host "nosuchhost".*hosts with data: 192\.0\.2\.10/);
  });

  it('graph list shows groups, keys and titles', async () => {
    const result = await kurado(['graph', 'list', 'web01.example.com'], env);
    expect(result.code).toBe(0);
    const text = result.stdout.toString();
    expect(text).toContain('192.0.2.10 (web01.example.com)');
    expect(text).toMatch(/Traffic\(eth0\)\n\s+traffic-eth0\s+Throughput/);
    expect(text).toMatch(/CPU Memory\n\s+loadavg-1\s+Load Average/);
    expect(text).toMatch(/plugin process\n\s+process\n\s+fork\.derive\s+fork\/s/);
  });

  it('config check passes on the shipped templates and fails with file:line on a broken site template', async () => {
    const ok = await kurado(['config', 'check'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toMatch(
      /graph templates: 6 file\(s\), 6 plugin\(s\), \d+ graph\(s\), drawn once by rrdtool\nOK/,
    );
    const site = path.join(dir, 'site');
    mkdirSync(site);
    writeFileSync(
      path.join(site, 'app.toml'),
      [
        '[[graph]]',
        'key = "a"',
        'title = "A"',
        'group = "App"',
        'lines = """',
        'DEF:v={rrd a.gauge}:n:AVERAGE',
        'CDEF:w=v,BOGUSOP',
        'LINE1:w#ff0000:A',
        '"""',
        '[[graph]]',
        'key = "b"',
        'title = "B"',
        'lines = ["DEF:v={rrd b.gauge}:n:AVERAGE"]',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(site, 'nginx.toml'), '[[graph]\nkey = "x"\n');
    const bad = await kurado(['config', 'check', '--graphs-dir', site], env);
    expect(bad.code).toBe(1);
    const appFile = path.join(site, 'app.toml');
    expect(bad.stderr).toContain(`${appFile}:10: graph is missing "group"`);
    expect(bad.stderr).toMatch(
      new RegExp(`${path.join(site, 'nginx.toml').replace(/[.]/g, '\\.')}:1: TOML: `),
    );
    expect(bad.stderr).toMatch(/2 error\(s\)/);
    // With the structure fixed, rrdtool's own complaint comes back at the graph's line.
    writeFileSync(
      path.join(site, 'app.toml'),
      readFileSync(appFile, 'utf8').replace(/\[\[graph\]\]\nkey = "b"[\s\S]*$/, ''),
    );
    rmSync(path.join(site, 'nginx.toml'));
    const rpn = await kurado(['config', 'check', '--graphs-dir', site], env);
    expect(rpn.code).toBe(1);
    expect(rpn.stderr).toContain(
      `${appFile}:1: rrdtool refuses graph "a": rrdtool graphv failed: don't understand 'BOGUSOP'`,
    );
  });
});
