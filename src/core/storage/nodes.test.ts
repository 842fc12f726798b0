import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { chooseNodes, parseStorageTables } from './nodes.js';

function configWith(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'kurado-storage-')), 'kurado.toml');
  writeFileSync(file, text);
  return file;
}

describe('chooseNodes', () => {
  const none = () => undefined;

  it('fills the node with the fewest hosts first, counting the hosts it just placed', () => {
    const { placed } = chooseNodes(
      ['h1', 'h2', 'h3', 'h4'],
      ['a', 'b', 'c'],
      new Map([
        ['a', 5],
        ['b', 3],
      ]),
      none,
    );
    // c (0) takes three before it catches up with b (3); the tie goes to the earlier node.
    expect([...placed]).toEqual([
      ['h1', 'c'],
      ['h2', 'c'],
      ['h3', 'c'],
      ['h4', 'b'],
    ]);
  });

  it('puts a pinned host on its node and places a bad pin by count', () => {
    const pins: Record<string, string> = { db1: 'b', x: 'nowhere' };
    const { placed, badPins } = chooseNodes(['db1', 'x'], ['a', 'b'], new Map(), (h) => pins[h]);
    expect(placed).toEqual(
      new Map([
        ['db1', 'b'],
        ['x', 'a'],
      ]),
    );
    expect(badPins).toEqual([{ host: 'x', node: 'nowhere' }]);
  });

  it('refuses to place hosts on no node at all', () => {
    expect(() => chooseNodes(['h'], [], new Map(), none)).toThrow(/no storage nodes/);
  });
});

describe('parseStorageTables', () => {
  it('reads nodes with their TCP address in a canonical form', () => {
    expect(
      parseStorageTables(
        [
          { name: 'rrd1', rrdcached: '10.0.0.11' },
          { name: 'rrd2', rrdcached: '10.0.0.12:42218' },
        ],
        'k.toml',
      ),
    ).toEqual({
      nodes: [
        { name: 'rrd1', rrdcached: '10.0.0.11:42217' },
        { name: 'rrd2', rrdcached: '10.0.0.12:42218' },
      ],
      problems: [],
    });
  });

  it('names every bad entry: duplicate names and addresses, unix sockets, bad ports, unknown keys', () => {
    const { problems } = parseStorageTables(
      [
        { name: 'a', rrdcached: '10.0.0.1:42217' },
        { name: 'a', rrdcached: '10.0.0.2:42217' },
        { name: 'b', rrdcached: '10.0.0.1' },
        { name: 'c', rrdcached: 'unix:/run/rrdcached.sock' },
        { name: 'd', rrdcached: '10.0.0.4:99999' },
        { name: 'e/f', rrdcached: '10.0.0.5:1' },
        { name: 'g', rrdcached: '10.0.0.6:1', dir: '/x' },
        { name: 'h' },
      ],
      'k.toml',
    );
    expect(problems).toEqual([
      'k.toml: [[storage]] "a": the name is used twice',
      'k.toml: [[storage]] "b": rrdcached 10.0.0.1:42217 is also node "a"',
      'k.toml: [[storage]] "c": rrdcached "unix:/run/rrdcached.sock" is a unix socket; a storage node is reached over TCP (host:port, rrdcached -l)',
      'k.toml: [[storage]] "d": rrdcached address "10.0.0.4:99999": port 99999 is out of range',
      'k.toml: [[storage]] #6: name must be 1-63 letters, digits, "_", "." or "-" (starting with a letter or digit), not "e/f"',
      'k.toml: [[storage]] #7: unknown key "dir"; expected "name", "rrdcached"',
      'k.toml: [[storage]] "h": rrdcached must be "host:port" of the node\'s rrdcached',
    ]);
  });

  it('refuses a storage key that is not an array of tables', () => {
    expect(parseStorageTables({ name: 'a' }, 'k.toml').problems).toEqual([
      'k.toml: storage must be [[storage]] tables (an array of tables), not a single value or table',
    ]);
  });
});

describe('[[storage]] in kurado.toml', () => {
  it('is empty without [[storage]]: one default node, data_dir through rrdcached as before', () => {
    expect(loadConfig({ env: {} }).storage).toEqual([]);
  });

  it('lists the nodes in file order', () => {
    const file = configWith(
      '[[storage]]\nname = "rrd1"\nrrdcached = "10.0.0.11:42217"\n[[storage]]\nname = "rrd2"\nrrdcached = "10.0.0.12"\n',
    );
    expect(loadConfig({ env: {}, configPath: file }).storage).toEqual([
      { name: 'rrd1', rrdcached: '10.0.0.11:42217' },
      { name: 'rrd2', rrdcached: '10.0.0.12:42217' },
    ]);
  });

  it('refuses a top-level rrdcached beside [[storage]], and names each bad entry', () => {
    const file = configWith(
      'rrdcached = "unix:/run/rrdcached.sock"\n[[storage]]\nname = "a"\nrrdcached = "10.0.0.1:1"\n[[storage]]\nname = "a"\nrrdcached = "10.0.0.2:1"\n',
    );
    expect(() => loadConfig({ env: {}, configPath: file })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, configPath: file })).toThrow(
      /"a": the name is used twice\n.*rrdcached \(unix:\/run\/rrdcached.sock\) and \[\[storage\]\] are both set/,
    );
  });
});
