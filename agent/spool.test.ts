import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Spool } from './spool.js';

const root = mkdtempSync(path.join(tmpdir(), 'kurado-agent-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('spool', () => {
  it('keeps ticks on disk across a restart and gives them back oldest first', () => {
    const dir = path.join(root, 'restart');
    const first = Spool.open(dir, 100).spool;
    first.add(1_800_000_000, '10.0.0.1', 'a\n');
    first.add(1_800_000_060, '10.0.0.1', 'b\n');
    const reopened = Spool.open(dir, 100).spool;
    expect(reopened.size).toBe(2);
    const oldest = reopened.oldest()!;
    expect(oldest).toMatchObject({ epoch: 1_800_000_000, self: '10.0.0.1', payload: 'a\n' });
    reopened.remove(oldest.id);
    expect(reopened.oldest()?.payload).toBe('b\n');
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('drops the oldest ticks beyond its bound and says so once in base.warn.spool', () => {
    const spool = Spool.open(path.join(root, 'bound'), 3).spool;
    for (let i = 0; i < 5; i++) spool.add(1_800_000_000 + i * 60, undefined, `tick ${i}\n`);
    expect(spool.size).toBe(3);
    expect(spool.oldest()?.payload).toBe('tick 2\n');
    const [warning] = spool.takeDroppedWarning(1_800_000_300);
    expect(warning).toMatch(
      /^base\.warn\.spool\tdropped 2 unsent tick\(s\) collected 2027-01-15T08:00:00\.000Z \.\. 2027-01-15T08:01:00\.000Z/,
    );
    expect(spool.takeDroppedWarning(1_800_000_360)).toEqual([]);
  });

  it('skips a torn file and falls back to memory when the directory is not writable', () => {
    const dir = path.join(root, 'torn');
    const spool = Spool.open(dir, 10).spool;
    spool.add(1_800_000_000, undefined, 'x\n');
    spool.add(1_800_000_060, undefined, 'y\n');
    writeFileSync(path.join(dir, readdirSync(dir).sort()[0]!), '{"payl');
    expect(spool.oldest()?.payload).toBe('y\n');
    const blocked = path.join(root, 'file-not-dir');
    writeFileSync(blocked, '');
    const opened = Spool.open(path.join(blocked, 'spool'), 10);
    expect(opened.problem).toMatch(/file-not-dir\/spool is not writable/);
    opened.spool.add(1_800_000_000, undefined, 'z\n');
    expect(opened.spool.oldest()?.payload).toBe('z\n');
  });
});
