import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../src/core/protocol/index.js';
import { collectBase } from './collect.js';
import { LiveHostFiles } from './host-files.js';
import { FixtureHostFiles } from './testing/fixture-files.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const NOW = 1_764_000_000;
// Regenerate after a deliberate change: UPDATE_GOLDEN=1 npx vitest run agent/collect.test.ts, then
// read the diff line by line before committing it.
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function render(root: string): string {
  const collection = collectBase(new FixtureHostFiles(root), NOW);
  return [...collection.metrics, ...collection.meta, ...collection.warnings].join('\n') + '\n';
}

describe('collectBase on captured and hand-written fixture hosts', () => {
  const sets = readdirSync(FIXTURES).filter((name) => existsSync(path.join(FIXTURES, name, 'proc')));
  it('has a fixture set for every layout the agent must handle', () => {
    expect(sets.length).toBeGreaterThanOrEqual(4);
  });
  for (const set of sets) {
    it(`${set}: matches expected.tsv and parses without a rejected line`, () => {
      const root = path.join(FIXTURES, set);
      const actual = render(root);
      const goldenFile = path.join(root, 'expected.tsv');
      if (UPDATE) writeFileSync(goldenFile, actual);
      expect(actual).toBe(readFileSync(goldenFile, 'utf8'));
      const parsed = parseMessage(actual, { host: '10.0.0.1', now: NOW });
      expect(parsed.rejected).toEqual([]);
    });
  }
});

describe('collectBase on this machine', () => {
  it('reports the core metrics and parses cleanly', () => {
    const now = Math.floor(Date.now() / 1000);
    const collection = collectBase(new LiveHostFiles(), now);
    const text = [...collection.metrics, ...collection.meta, ...collection.warnings].join('\n');
    const parsed = parseMessage(text, { host: '127.0.0.1', now });
    expect(parsed.rejected).toEqual([]);
    const names = parsed.metrics.map((metric) => metric.name);
    for (const name of ['cpu-user', 'loadavg-1', 'memory-used', 'processors', 'tcp-established']) {
      expect(names).toContain(name);
    }
  });

  it('turns a failing collector into base.warn.<collector> and keeps the others', () => {
    const broken = new FixtureHostFiles(path.join(FIXTURES, 'debian12-kvm-6.18'));
    const files = Object.assign(Object.create(broken), {
      readText(file: string): string {
        if (file === '/proc/stat') throw new Error("ENOENT: no such file or directory, open '/proc/stat'");
        return broken.readText(file);
      },
    });
    const collection = collectBase(files, NOW);
    expect(collection.warnings).toEqual([
      `base.warn.cpu_usage\tENOENT: no such file or directory, open '/proc/stat'\t${NOW}`,
    ]);
    expect(collection.metrics.some((line) => line.startsWith('base.metrics.loadavg-1.gauge'))).toBe(true);
    expect(collection.metrics.some((line) => line.startsWith('base.metrics.cpu-'))).toBe(false);
  });
});

describe('collectBase keeps what a receiver would reject off the wire', () => {
  it('turns keys too long for a receiver into base.warn.unsendable and sends the rest', () => {
    const base = new FixtureHostFiles(path.join(FIXTURES, 'centos7-3.10-lvm-bond-vlan'));
    const longName = `vg-${'x'.repeat(130)}`;
    const files = Object.assign(Object.create(base), {
      readText(file: string): string {
        if (file === '/sys/block/dm-2/dm/name') return `${longName}\n`;
        return base.readText(file);
      },
    });
    const collection = collectBase(files, NOW);
    const text = [...collection.metrics, ...collection.meta, ...collection.warnings].join('\n');
    expect(collection.metrics.join('\n')).not.toContain(`disk-io-mapper_${longName}-read-ios`);
    expect(collection.warnings.find((line) => line.startsWith('base.warn.unsendable'))).toMatch(
      /name longer than 120 characters .*\(and \d+ more\)/,
    );
    expect(parseMessage(text, { host: 'h', now: NOW }).rejected).toEqual([]);
    expect(
      collection.metrics.some((line) => line.startsWith('base.metrics.disk-io-sda-read-ios.derive')),
    ).toBe(true);
  });
});
