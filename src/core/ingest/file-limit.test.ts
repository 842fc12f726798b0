import { describe, expect, it } from 'vitest';
import { FILE_LIMIT_IDLE_MS, FILE_LIMIT_RELIST_AT_LIMIT_MS, FileLimit } from './file-limit.js';

const candidates = (host: string, names: string[]) =>
  new Map(names.map((name) => [`p.metrics.${name}.gauge`, `/d/${host}/p/${name}.gauge.rrd`]));

function subject(onDisk: Record<string, string[]>, limits: Record<string, number> = {}) {
  let now = 1_000_000;
  const listed: string[] = [];
  const limit = new FileLimit({
    limitOf: (host) => limits[host] ?? 3,
    listFiles: async (host) => {
      listed.push(host);
      return (onDisk[host] ?? []).map((name) => `/d/${host}/p/${name}.gauge.rrd`);
    },
    nowMs: () => now,
  });
  return { limit, listed, advance: (ms: number) => (now += ms) };
}

describe('FileLimit (files per host)', () => {
  it('admits new files up to the limit and refuses the rest', async () => {
    const { limit } = subject({});
    limit.begin();
    const refused = await limit.admit('h1', candidates('h1', ['a', 'b', 'c', 'd', 'e']));
    expect([...refused]).toEqual(['/d/h1/p/d.gauge.rrd', '/d/h1/p/e.gauge.rrd']);
    expect(limit.count('h1')).toBe(3);
    expect(limit.admitted('h1', 'p.metrics.a.gauge')).toBe('/d/h1/p/a.gauge.rrd');
    expect(limit.admitted('h1', 'p.metrics.d.gauge')).toBeUndefined();
  });

  it('always admits files already on disk, even past the limit, and counts them from the listing', async () => {
    const { limit, listed } = subject({ h1: ['a', 'b', 'c', 'd'] });
    limit.begin();
    expect(await limit.admit('h1', candidates('h1', ['d', 'a', 'new']))).toEqual(
      new Set(['/d/h1/p/new.gauge.rrd']),
    );
    expect(limit.count('h1')).toBe(4);
    expect(await limit.admit('h1', candidates('h1', ['b', 'c']))).toEqual(new Set());
    expect(listed).toEqual(['h1']); // listed once, not per batch
  });

  it('keeps hosts apart and takes each host its own limit', async () => {
    const { limit } = subject({}, { big: 5 });
    limit.begin();
    expect((await limit.admit('big', candidates('big', ['a', 'b', 'c', 'd', 'e', 'f']))).size).toBe(1);
    expect((await limit.admit('small', candidates('small', ['a', 'b', 'c']))).size).toBe(0);
  });

  it('forgets a host idle for an hour and lists it again when it returns', async () => {
    const { limit, listed, advance } = subject({ h1: ['a'] });
    limit.begin();
    await limit.admit('h1', candidates('h1', ['a']));
    advance(FILE_LIMIT_IDLE_MS + 120_000);
    limit.begin();
    expect(limit.count('h1')).toBeUndefined();
    expect(limit.admitted('h1', 'p.metrics.a.gauge')).toBeUndefined();
    await limit.admit('h1', candidates('h1', ['a']));
    expect(listed).toEqual(['h1', 'h1']);
  });

  it('keeps a host that only updates known files', async () => {
    const { limit, advance } = subject({});
    limit.begin();
    await limit.admit('h1', candidates('h1', ['a']));
    for (let minute = 0; minute < 90; minute++) {
      advance(60_000);
      limit.begin();
      expect(limit.admitted('h1', 'p.metrics.a.gauge')).toBeDefined();
    }
  });

  it('counts the disk again when a later batch brings a new metric: files another receiver created count', async () => {
    const disk: Record<string, string[]> = { h1: [] };
    const { limit, listed } = subject(disk);
    limit.begin();
    expect(await limit.admit('h1', candidates('h1', ['a', 'b']))).toEqual(new Set());
    // Another receiver created a, b (this one's) and x for the same host.
    disk.h1 = ['a', 'b', 'x'];
    limit.begin();
    // Known metrics need no listing.
    expect(await limit.admit('h1', candidates('h1', ['a', 'b']))).toEqual(new Set());
    expect(listed).toEqual(['h1']);
    limit.begin();
    expect(await limit.admit('h1', candidates('h1', ['c']))).toEqual(new Set(['/d/h1/p/c.gauge.rrd']));
    expect(listed).toEqual(['h1', 'h1']);
    expect(limit.count('h1')).toBe(3);
    // x, created elsewhere, is admitted (it exists); the path cache learns it.
    expect(await limit.admit('h1', candidates('h1', ['x']))).toEqual(new Set());
    expect(limit.admitted('h1', 'p.metrics.x.gauge')).toBe('/d/h1/p/x.gauge.rrd');
  });

  it('lists a host at its limit at most once a minute, and admits again once files are removed', async () => {
    const disk: Record<string, string[]> = { h1: ['a', 'b', 'c'] };
    const { limit, listed, advance } = subject(disk);
    limit.begin();
    expect((await limit.admit('h1', candidates('h1', ['new0']))).size).toBe(1);
    for (let i = 1; i <= 10; i++) {
      advance(1000);
      limit.begin();
      expect((await limit.admit('h1', candidates('h1', [`new${i}`]))).size).toBe(1);
    }
    expect(listed).toEqual(['h1']);
    // `kurado hosts remove --files` (another process) emptied the directory.
    disk.h1 = [];
    advance(FILE_LIMIT_RELIST_AT_LIMIT_MS);
    limit.begin();
    expect(await limit.admit('h1', candidates('h1', ['new11']))).toEqual(new Set());
    expect(listed).toEqual(['h1', 'h1']);
    expect(limit.count('h1')).toBe(1);
  });
});
