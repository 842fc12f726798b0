import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArguments } from './layout.js';
import { formatRrdtoolLine, quoteRrdtoolArgument, RrdtoolError, RrdtoolProcess } from './rrdtool-process.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// A multiple of the 60 s step, so each update fills exactly one primary data point.
const T0 = 1_699_999_980;

let dir: string;
let rrd: RrdtoolProcess;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kurado-rrdtool-process-'));
  rrd = new RrdtoolProcess({ cwd: dir });
});

afterEach(async () => {
  await rrd.close();
  rmSync(dir, { recursive: true, force: true });
});

async function createWithValues(file: string): Promise<void> {
  await rrd.run(['create', file, ...createArguments('gauge', T0)]);
  await rrd.run(['update', file, `${T0 + 60}:1`, `${T0 + 120}:2`, `${T0 + 180}:3`]);
}

describe('RrdtoolProcess against the real rrdtool', () => {
  it('creates and updates a file, and reads it back with last and fetch', async () => {
    const file = path.join(dir, 'a.rrd');
    await createWithValues(file);
    expect((await rrd.run(['last', file])).text).toBe(String(T0 + 180));
    const fetched = await rrd.run(['fetch', file, 'AVERAGE', '-s', String(T0), '-e', String(T0 + 180)]);
    expect(fetched.text).toMatch(new RegExp(`${T0 + 120}: 2\\.0+e\\+00`));
  });

  it('returns the PNG bytes of graphv - and the other graphv lines as text', async () => {
    const file = path.join(dir, 'a.rrd');
    await createWithValues(file);
    const result = await rrd.run([
      'graphv',
      '-',
      '--start',
      String(T0),
      '--end',
      String(T0 + 240),
      `DEF:x=${file}:n:AVERAGE`,
      'LINE1:x#ff0000:value',
      'PRINT:x:MAX:%4.1lf',
    ]);
    expect(result.image?.subarray(0, 8)).toEqual(PNG_MAGIC);
    // The image ends with the IEND chunk: the framing took exactly BLOB_SIZE bytes.
    expect(result.image?.subarray(-8, -4).toString('latin1')).toBe('IEND');
    expect(result.text).toContain('print[0] = " 3.0"');
    expect(result.text).toContain('graph_width = 400');
    expect(result.text).not.toContain('BLOB_SIZE');
  });

  it('rejects an ERROR answer with the message and the command, and keeps working', async () => {
    const missing = path.join(dir, 'missing.rrd');
    const failure = await rrd.run(['info', missing]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RrdtoolError);
    expect((failure as Error).message).toContain(`opening '${missing}'`);
    expect((failure as Error).message).toContain('command: info');
    expect(failure).toMatchObject({ kind: 'answered' });
    expect((failure as RrdtoolError).reply).toContain(`opening '${missing}'`);
    expect((await rrd.run(['pwd'])).text).toBe(dir);
  });

  it('tells an unreachable rrdcached apart from other ERROR answers', async () => {
    const file = path.join(dir, 'daemon.rrd');
    await createWithValues(file);
    const failure = await rrd
      .run([
        'xport',
        '--daemon',
        `unix:${path.join(dir, 'no-such-rrdcached.sock')}`,
        '--start',
        String(T0),
        '--end',
        String(T0 + 180),
        `DEF:x=${file}:n:AVERAGE`,
        'XPORT:x',
      ])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RrdtoolError);
    expect(failure).toMatchObject({ kind: 'daemon-unreachable' });
    expect((failure as RrdtoolError).reply).toMatch(/Unable to connect to rrdcached/);
  });

  it('passes titles and legends with spaces, quotes, colons, % and backslashes through unchanged', async () => {
    const file = path.join(dir, 'a.rrd');
    await createWithValues(file);
    const title = `it's a "quoted" title: 100% \\ done`;
    // PRINT's format string is echoed back in print[0], so it shows what rrdtool received.
    const format = `say "hi" it's %.0lf%% of 'x' \\:`;
    const result = await rrd.run([
      'graphv',
      '-',
      '--title',
      title,
      '--start',
      String(T0),
      '--end',
      String(T0 + 240),
      `DEF:x=${file}:n:AVERAGE`,
      `PRINT:x:MAX:${format}`,
      // In a legend a colon must be escaped for rrdtool's own element syntax.
      `LINE1:x#00ff00:it's a "quoted" legend\\: 100% done`,
    ]);
    // `\\:` reached rrdtool intact: its PRINT turned the escaped colon into a plain one.
    expect(result.text).toContain(`print[0] = "say "hi" it's 3% of 'x' :"`);
    expect(result.image?.subarray(0, 8)).toEqual(PNG_MAGIC);
    // A file name with spaces and both quote characters survives the line syntax too.
    const odd = path.join(dir, `we'ird "name" x.rrd`);
    await rrd.run(['create', odd, ...createArguments('gauge', T0)]);
    expect((await rrd.run(['last', odd])).text).toBe(String(T0 - 60));
  });

  it('refuses commands that are not rrdtool commands without sending them', async () => {
    await expect(rrd.run(['help'])).rejects.toThrow(/"help" is not an rrdtool command/);
    await expect(rrd.run(['quit'])).rejects.toThrow(/not an rrdtool command/);
    await expect(rrd.run([])).rejects.toThrow(/not an rrdtool command/);
    await expect(rrd.run(['graph', '-', 'x'])).rejects.toThrow(/use "graphv -"/);
    await expect(rrd.run(['info', 'a\nquit'])).rejects.toThrow(/line break/);
    expect(rrd.pid).toBeUndefined();
  });

  it('runs concurrent calls one at a time in call order', async () => {
    const files = Array.from({ length: 20 }, (_, i) => path.join(dir, `f${i}.rrd`));
    await Promise.all(files.map((file, i) => rrd.run(['create', file, ...createArguments('gauge', T0 + i)])));
    const lasts = await Promise.all(files.map((file) => rrd.run(['last', file])));
    expect(lasts.map((r) => Number(r.text))).toEqual(files.map((_, i) => T0 + i - 60));
  });

  it('fails the running call when the process is killed, and respawns for the next call', async () => {
    const file = path.join(dir, 'a.rrd');
    await createWithValues(file);
    const firstPid = rrd.pid as number;
    expect(firstPid).toBeGreaterThan(0);
    // A graph over a long range keeps rrdtool busy long enough to be killed mid-command.
    const busy = rrd.run([
      'graphv',
      '-',
      '--start',
      String(T0 - 400 * 86400),
      `DEF:x=${file}:n:AVERAGE`,
      'LINE1:x#f00',
    ]);
    process.kill(firstPid, 'SIGKILL');
    await expect(busy).rejects.toThrow(/was killed by SIGKILL while running graphv/);
    await expect(busy).rejects.toMatchObject({ kind: 'died' });
    expect((await rrd.run(['last', file])).text).toBe(String(T0 + 180));
    expect(rrd.pid).not.toBe(firstPid);
  });

  it('kills and respawns a process that does not answer in time', async () => {
    const slowDir = mkdtempSync(path.join(os.tmpdir(), 'kurado-rrdtool-slow-'));
    // A FIFO nobody writes to: rrdtool blocks opening it, as on a hung NFS mount.
    const fifo = path.join(slowDir, 'stuck.rrd');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    try {
      await rrd.run(['pwd']);
      const stuckPid = rrd.pid;
      const stuck = rrd.run(['info', fifo], { timeoutMs: 300 });
      await expect(stuck).rejects.toThrow(/did not answer within 300 ms; killed pid/);
      await expect(stuck).rejects.toMatchObject({ kind: 'timeout' });
      expect((await rrd.run(['pwd'])).text).toBe(dir);
      expect(rrd.pid).not.toBe(stuckPid);
    } finally {
      rmSync(slowDir, { recursive: true, force: true });
    }
  });

  it('names the binary when it cannot be started', async () => {
    const broken = new RrdtoolProcess({ binary: '/nonexistent/rrdtool' });
    await expect(broken.run(['pwd'])).rejects.toThrow(/\/nonexistent\/rrdtool.*ENOENT/);
    await broken.close();
  });

  it('rejects calls after close', async () => {
    await rrd.run(['pwd']);
    await rrd.close();
    await expect(rrd.run(['pwd'])).rejects.toThrow(/closed/);
  });
});

describe('quoteRrdtoolArgument', () => {
  // The tokeniser of rrd_tool.c (CreateArgs, 1.7.2) written out, to check quoting against it.
  function tokenise(line: string): string[] {
    const args: string[] = [];
    let current: string | undefined;
    let quote = '';
    for (const char of line) {
      if (char === ' ' && !quote) {
        if (current !== undefined) args.push(current);
        current = undefined;
      } else if ((char === '"' || char === "'") && (!quote || quote === char)) {
        current ??= '';
        quote = quote ? '' : char;
      } else current = (current ?? '') + char;
    }
    if (current !== undefined) args.push(current);
    return args;
  }

  it('round-trips any argument without a line break through the line syntax', () => {
    const argument = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !/[\n\r\0]/.test(s));
    fc.assert(
      fc.property(fc.array(argument, { maxLength: 6 }), (args) => {
        expect(tokenise(formatRrdtoolLine(['info', ...args]))).toEqual(['info', ...args]);
      }),
    );
    expect(quoteRrdtoolArgument(`a'b"c`)).toBe(`"a'b"'"c'`);
  });
});
