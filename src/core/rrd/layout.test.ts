import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { hostFromTopic } from '../protocol/host.js';
import { parseMessage } from '../protocol/lines.js';
import { DS_TYPES } from '../protocol/types.js';
import {
  createArguments,
  escapedLength,
  escapePathComponent,
  listHosts,
  listMetrics,
  listPlugins,
  parseRrdPath,
  RRA_DEFINITIONS,
  rrdFilePath,
  unescapePathComponent,
} from './layout.js';

const DATA_DIR = '/var/lib/kurado/rrd';
const NOW = 1_795_000_000;
const SAFE_COMPONENT = /^[A-Za-z0-9_.%-]+$/;
/** Longest file or directory name ext4 (and most file systems) accept, in bytes. */
const NAME_MAX = 255;

/** Pieces an attacker or a broken plugin would try in a host, plugin or metric name. */
const HOSTILE_PIECES = [
  '..',
  '.',
  '../',
  '/..',
  '/',
  '//',
  '\\',
  '..\\',
  '%2e%2e',
  '%2E%2E%2F',
  '%2f',
  '%00',
  '%',
  '%%',
  '\u0000',
  '\n',
  '\r',
  '\t',
  ' ',
  '\u202e', // right-to-left override
  '\u200f', // right-to-left mark
  '\u200b', // zero-width space
  '\ufeff', // byte order mark
  '\uff0e', // fullwidth full stop
  '\uff0f', // fullwidth solidus
  '\u2024', // one dot leader
  '\u2215', // division slash
  '\u2044', // fraction slash
  '\u0338', // combining long solidus overlay
  '\ud800', // lone surrogate
  'é',
  'e\u0301',
  '日本語',
  'Ⅻ',
  '😀',
  ':',
  '@',
  '~',
  '=',
  ',',
  '#',
  'metrics',
  'gauge',
  'a'.repeat(64),
  'ü'.repeat(40),
  '語'.repeat(41),
  '😀'.repeat(30),
];

const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_PIECES) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9_-]{1,12}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);
const hostileText = fc.array(piece, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(''));
const hostileHost = fc.oneof(
  hostileText,
  fc.constantFrom(
    'web01',
    '10_1_2_3',
    '10.1.2.3',
    '::1',
    'fe80::1%eth0',
    'a.b.c',
    'x'.repeat(253),
    '-a',
    '.',
  ),
);
/** Names a real agent sends, in many scripts, with the punctuation metric names use. */
const plausibleName = fc
  .array(
    fc.constantFrom(
      'cpu',
      'eth0',
      'sda1',
      'ディスク',
      'Ⅻ',
      'é',
      'x',
      '9',
      '-',
      '_',
      '@',
      '+',
      '=',
      ',',
      '#',
      '~',
      ':',
      '%',
    ),
    {
      minLength: 1,
      maxLength: 6,
    },
  )
  .map((parts) => parts.join(''));
const nameText = fc.oneof(
  { weight: 2, arbitrary: plausibleName },
  { weight: 2, arbitrary: fc.tuple(plausibleName, hostileText).map(([a, b]) => `${a}${b}`) },
  { weight: 1, arbitrary: fc.tuple(plausibleName, plausibleName).map(([a, b]) => `${a}.${b}`) },
  { weight: 2, arbitrary: hostileText },
);
const pluginText = fc.oneof(
  fc.constantFrom('base', 'nginx:8080:/nginx_status', 'http:80:/health%3Fa'),
  hostileText,
  fc
    .tuple(fc.constantFrom('base', 'nginx', 'http', 'mysql'), hostileText)
    .map(([name, args]) => `${name}:${args}`),
);
const dsType = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...DS_TYPES) },
  { weight: 1, arbitrary: fc.constantFrom('GAUGE', 'bogus', '', 'gauge.rrd') },
);
const line = fc.oneof(
  fc
    .tuple(pluginText, nameText, dsType)
    .map(([plugin, name, type]) => `${plugin}.metrics.${name}.${type}\t1.5\t${NOW - 60}`),
  fc
    .tuple(hostileHost, pluginText, nameText, dsType)
    .map(([host, plugin, name, type]) => `${host}\t${plugin}.metrics.${name}.${type}\t42\t${NOW}`),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

/** Every accepted metric's file must be a 3-level path strictly inside DATA_DIR, each level safe. */
function assertInsideDataDir(host: string, plugin: string, name: string, type: (typeof DS_TYPES)[number]) {
  const file = rrdFilePath(DATA_DIR, host, plugin, name, type);
  expect(path.resolve(file)).toBe(file);
  expect(file.startsWith(`${DATA_DIR}/`)).toBe(true);
  const parts = path.relative(DATA_DIR, file).split(path.sep);
  expect(parts).toHaveLength(3);
  for (const part of parts) {
    expect(part).toMatch(SAFE_COMPONENT);
    expect(part).not.toBe('.');
    expect(part).not.toBe('..');
    expect(Buffer.byteLength(part), `"${part}" is longer than NAME_MAX`).toBeLessThanOrEqual(NAME_MAX);
  }
}

describe('parseMessage against hostile input', () => {
  it('never throws, whatever the payload', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), hostileHost, (lines, host) => {
        parseMessage(lines.join('\n'), { host, now: NOW });
        parseMessage(lines.join('\r\n'), { now: NOW });
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (payload) => {
        parseMessage(payload, { host: 'web01', now: NOW });
      }),
      { numRuns: 2000 },
    );
  });

  it('maps every accepted metric to a file inside data_dir, never "." or "..", never over NAME_MAX', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), hostileHost, (lines, topicHost) => {
        // The receivers take the message's host from its topic, checked as here.
        const fromTopic = hostFromTopic(`kurado/update/${topicHost}`);
        const host = 'host' in fromTopic ? fromTopic.host : undefined;
        const parsed = parseMessage(lines.join('\n'), host === undefined ? { now: NOW } : { host, now: NOW });
        for (const metric of parsed.metrics) {
          assertInsideDataDir(metric.host, metric.plugin, metric.name, metric.type);
        }
        accepted += parsed.metrics.length;
      }),
      { numRuns: 3000 },
    );
    // The generator must reach the accepting paths, or the property proves nothing.
    expect(accepted).toBeGreaterThan(500);
  });

  it('accepts ordinary metrics, so the properties above are not vacuous', () => {
    const parsed = parseMessage(
      [
        `base.metrics.cpu-user.derive\t123\t${NOW}`,
        `nginx:8080:/nginx_status.metrics.active.gauge\t5\t${NOW}`,
        `base.metrics.ディスク.gauge\t1\t${NOW}`,
        `10_1_2_3\tbase.metrics.load.gauge\t0.5\t${NOW}`,
      ].join('\n'),
      { host: 'web01', now: NOW, mayRelay: true },
    );
    expect(parsed.rejected).toEqual([]);
    expect(parsed.metrics.map((m) => rrdFilePath(DATA_DIR, m.host, m.plugin, m.name, m.type))).toEqual([
      `${DATA_DIR}/web01/base/cpu-user.derive.rrd`,
      `${DATA_DIR}/web01/nginx%3A8080%3A%2Fnginx_status/active.gauge.rrd`,
      `${DATA_DIR}/web01/base/%E3%83%87%E3%82%A3%E3%82%B9%E3%82%AF.gauge.rrd`,
      `${DATA_DIR}/10.1.2.3/base/load.gauge.rrd`,
    ]);
  });

  it('refuses names whose file name would exceed NAME_MAX once escaped', () => {
    const longJapanese = '語'.repeat(100);
    const parsed = parseMessage(`base.metrics.${longJapanese}.gauge\t1\t${NOW}`, { host: 'web01', now: NOW });
    expect(parsed.metrics).toEqual([]);
    expect(parsed.rejected[0]?.reason).toMatch(/too long once escaped/);
  });
});

describe('escapePathComponent', () => {
  it('turns any string into one safe component that unescapes to the original', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (text) => {
        const escaped = escapePathComponent(text);
        expect(escaped).toMatch(SAFE_COMPONENT);
        expect(escaped).not.toBe('.');
        expect(escaped).not.toBe('..');
        expect(unescapePathComponent(escaped)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('escapes dot-only names and path characters', () => {
    expect(escapePathComponent('.')).toBe('%2E');
    expect(escapePathComponent('..')).toBe('%2E%2E');
    expect(escapePathComponent('../x')).toBe('..%2Fx');
    expect(escapePathComponent('%2e%2e')).toBe('%252e%252e');
    expect(escapePathComponent('a\u0000b')).toBe('a%00b');
  });
});

describe('unescapePathComponent', () => {
  it('maps any name, the empty one included, to a component and back', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(''), fc.string({ unit: 'grapheme', maxLength: 40 })), (text) => {
        const escaped = escapePathComponent(text);
        expect(escaped).toMatch(SAFE_COMPONENT);
        expect(escapedLength(text)).toBe(escaped.length);
        expect(unescapePathComponent(escaped)).toBe(text);
      }),
      { numRuns: 2000 },
    );
    expect(escapePathComponent('')).toBe('%');
    expect(unescapePathComponent('%')).toBe('');
  });

  it('never throws on a name Kurado did not create, and gives no name for one it would not write', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (component) => {
        const name = unescapePathComponent(component);
        if (name !== undefined) expect(escapePathComponent(name)).toBe(component);
      }),
      { numRuns: 2000 },
    );
    for (const stray of ['%%', 'a%', '%zz', '%e9', '%2e', 'a b', '%C3', '.', '..']) {
      expect(unescapePathComponent(stray), stray).toBeUndefined();
    }
  });
});

describe('listing a tree', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'kurado-layout-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const touch = (file: string) => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '');
  };

  it('lists hosts, plugins and metrics it wrote, and skips what it did not create', () => {
    touch(rrdFilePath(root, 'web01', 'base', 'cpu-user', 'derive'));
    touch(rrdFilePath(root, 'web01', 'nginx:8080:/nginx_status', 'active', 'gauge'));
    touch(rrdFilePath(root, 'web01', 'base', 'ディスク', 'gauge'));
    touch(rrdFilePath(root, '', 'base', '', 'gauge'));
    touch(path.join(root, 'web01', 'base', '100%.gauge.rrd'));
    touch(path.join(root, 'web01', 'base', 'notes.txt'));
    touch(path.join(root, 'web01', 'base', 'load.rrd'));
    mkdirSync(path.join(root, 'web01', 'stray%'), { recursive: true });
    mkdirSync(path.join(root, 'copy of web01%zz'), { recursive: true });
    mkdirSync(path.join(root, '%e9t%e9'), { recursive: true });
    writeFileSync(path.join(root, 'README'), '');

    expect(listHosts(root)).toEqual(['', 'web01']);
    expect(listPlugins(root, 'web01')).toEqual(['base', 'nginx:8080:/nginx_status']);
    expect(listMetrics(root, 'web01', 'base')).toEqual(['cpu-user.derive', 'ディスク.gauge']);
    expect(listMetrics(root, '', 'base')).toEqual(['.gauge']);
    expect(listPlugins(root, 'nowhere')).toEqual([]);
    expect(listMetrics(root, 'web01', 'nowhere')).toEqual([]);
    expect(listHosts(path.join(root, 'nowhere'))).toEqual([]);
  });

  it('reads host, plugin and metric back out of a file path, raw where it does not decode', () => {
    fc.assert(
      fc.property(
        hostileHost,
        pluginText,
        nameText,
        fc.constantFrom(...DS_TYPES),
        (host, plugin, name, type) => {
          expect(parseRrdPath(root, rrdFilePath(root, host, plugin, name, type))).toEqual({
            host: unescapePathComponent(escapePathComponent(host)),
            plugin: unescapePathComponent(escapePathComponent(plugin)),
            metric: unescapePathComponent(escapePathComponent(`${name}.${type}`)),
          });
        },
      ),
      { numRuns: 1000 },
    );
    expect(parseRrdPath(root, path.join(root, 'a%', 'base'))).toEqual({ host: 'a%', plugin: 'base' });
    expect(parseRrdPath(root, '/elsewhere/web01/base/x.gauge.rrd')).toBeUndefined();
  });
});

describe('createArguments', () => {
  it('describes the documented file: step 60, DS n with heartbeat 120, 12 archives, start one step before the first value', () => {
    expect(createArguments('counter', 1_800_000_060)).toEqual([
      '-s',
      '60',
      '-b',
      '1800000000',
      'DS:n:COUNTER:120:U:U',
      ...RRA_DEFINITIONS,
    ]);
    expect(RRA_DEFINITIONS).toHaveLength(12);
  });
});
