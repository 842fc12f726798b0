import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../store/types.js';
import { diffImport } from './import-diff.js';

function host(address: string, details: Partial<HostRecord> = {}): HostRecord {
  return {
    address,
    hostname: `${address}.example`,
    comments: '',
    service: 'shop',
    label: 'frontend',
    role: 'web',
    plugins: ['base'],
    origin: 'import',
    ...details,
  };
}

const addresses = (hosts: HostRecord[]) => hosts.map((h) => h.address);

describe('diffImport', () => {
  it('sorts listed hosts into added, changed and unchanged, and finds imported hosts no longer listed', () => {
    const stored = [
      host('10.0.0.1'),
      host('10.0.0.2'),
      host('10.0.0.3'),
      host('10.0.0.9', { origin: 'auto', service: 'unregistered' }),
    ];
    const listed = [host('10.0.0.1'), host('10.0.0.2', { comments: 'rack 4' }), host('10.0.0.4')];
    const diff = diffImport(stored, listed);
    expect(addresses(diff.added)).toEqual(['10.0.0.4']);
    expect(addresses(diff.changed)).toEqual(['10.0.0.2']);
    expect(addresses(diff.unchanged)).toEqual(['10.0.0.1']);
    // The auto-registered host pushes without being listed: never gone.
    expect(addresses(diff.gone)).toEqual(['10.0.0.3']);
  });

  it('sees an auto-registered host that is now listed as changed', () => {
    const diff = diffImport(
      [host('web9', { origin: 'auto', service: 'unregistered', label: '', role: '', plugins: [] })],
      [host('web9')],
    );
    expect(addresses(diff.changed)).toEqual(['web9']);
  });

  it('compares every detail: plugins, plugin settings and per-host options', () => {
    const base = host('db1', { settings: { 'mysql:3306': { user: 'kurado', port: 3306 } } });
    const cases: Partial<HostRecord>[] = [
      { hostname: 'other' },
      { label: 'database' },
      { role: 'db' },
      { plugins: ['base', 'mysql:3306'] },
      { settings: { 'mysql:3306': { user: 'root', port: 3306 } } },
      { options: { maxFiles: 50_000 } },
    ];
    for (const change of cases) {
      expect(addresses(diffImport([base], [{ ...base, ...change }]).changed), JSON.stringify(change)).toEqual(
        ['db1'],
      );
    }
  });

  it('takes settings that come back from the store with their keys in another order as unchanged', () => {
    const listed = host('db1', {
      settings: { 'mysql:3306': { user: 'kurado', port: 3306 }, 'nginx:80': { path: '/status' } },
      options: { relay: true, maxFiles: 10 },
    });
    const stored = host('db1', {
      settings: { 'nginx:80': { path: '/status' }, 'mysql:3306': { port: 3306, user: 'kurado' } },
      options: { maxFiles: 10, relay: true },
    });
    expect(addresses(diffImport([stored], [listed]).unchanged)).toEqual(['db1']);
  });

  it('treats absent settings and options like empty ones', () => {
    expect(addresses(diffImport([host('a', { settings: {}, options: {} })], [host('a')]).unchanged)).toEqual([
      'a',
    ]);
  });
});
