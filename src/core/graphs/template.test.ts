import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadTemplates } from './loader.js';
import { parseTemplate } from './template.js';

const GOOD = `
[[graph]]
key = "reqs"
group = "App"
title = "Requests"
lines = '''
DEF:r={rrd reqs.derive}:n:AVERAGE
LINE1:r#00C000:Requests
STATS:r:%6.1lf
'''
`;

function errorsOf(text: string, file = '/site/app.toml') {
  return parseTemplate(file, text, 'app').errors.map((e) => e.message);
}

describe('parseTemplate reports every mistake with file and line', () => {
  it('accepts a correct template', () => {
    const parsed = parseTemplate('/site/app.toml', GOOD, 'app');
    expect(parsed.errors).toEqual([]);
    expect(parsed.template?.graphs.map((g) => [g.key, g.title, g.line])).toEqual([['reqs', 'Requests', 2]]);
  });

  it('reports bad TOML at the line the parser stopped', () => {
    expect(errorsOf('[[graph]]\nkey = "a"\ntitle = "unterminated\n')).toEqual([
      expect.stringMatching(/^\/site\/app\.toml:3: TOML: /),
    ]);
  });

  it('reports an unknown placeholder at its line inside the lines string', () => {
    const text = GOOD.replace('LINE1:r#00C000:Requests', 'LINE1:r#00C000:{host} requests');
    expect(errorsOf(text)).toEqual([
      expect.stringMatching(/^\/site\/app\.toml:8: unknown placeholder \{host\}/),
    ]);
  });

  it('reports a missing field at the [[graph]] header', () => {
    const text = GOOD.replace('title = "Requests"\n', '');
    expect(errorsOf(text)).toEqual(['/site/app.toml:2: graph is missing "title"']);
  });

  it('refuses a DEF that reads a literal path (it could point outside data_dir)', () => {
    const text = GOOD.replace('DEF:r={rrd reqs.derive}:n:AVERAGE', 'DEF:r=/etc/../../secret.rrd:n:AVERAGE');
    const errors = errorsOf(text);
    expect(errors[0]).toMatch(/^\/site\/app\.toml:7: a DEF must read its file through \{rrd NAME\.TYPE\}/);
  });

  it('refuses another DS name, a bad metric type and DEF options that reach a daemon', () => {
    expect(errorsOf(GOOD.replace('{rrd reqs.derive}:n:', '{rrd reqs.derive}:value:'))).toEqual([
      expect.stringMatching(/:7: DEF data source must be "n"/),
    ]);
    expect(errorsOf(GOOD.replace('{rrd reqs.derive}', '{rrd reqs.bytes}'))).toEqual([
      expect.stringMatching(/:7: "reqs\.bytes" is not NAME\.TYPE/),
    ]);
    expect(errorsOf(GOOD.replace(':n:AVERAGE', ':n:AVERAGE:daemon=evil:42217'))).toContainEqual(
      expect.stringMatching(/:7: DEF option "daemon=evil" is not allowed/),
    );
  });

  it('reports a series that uses a name nothing defines, and {item} without "each"', () => {
    expect(errorsOf(GOOD.replace('STATS:r:', 'STATS:rr:'))).toEqual([
      expect.stringMatching(/:9: STATS uses "rr", which no DEF\/CDEF\/VDEF above defines/),
    ]);
    expect(errorsOf(GOOD.replace('{rrd reqs.derive}', '{rrd reqs-{item}.derive}'))).toEqual([
      expect.stringMatching(/:7: \{item\} used but the graph has no "each" list/),
    ]);
  });

  it('reports unknown fields, disallowed options and duplicate keys', () => {
    expect(errorsOf(GOOD.replace('title =', 'titel = "x"\ntitle ='))).toEqual([
      expect.stringMatching(/:5: unknown graph field "titel"/),
    ]);
    expect(errorsOf(GOOD.replace('group = "App"', 'group = "App"\noptions = ["--daemon", "x"]'))).toEqual([
      expect.stringMatching(/:5: option "--daemon" is not allowed/),
    ]);
    expect(errorsOf(GOOD + GOOD)).toEqual([
      expect.stringMatching(/:12: graph key "reqs" already defined at line 2/),
    ]);
  });

  it('reads how a graph aggregates on service pages, per graph and per DEF, and refuses other words', () => {
    const withAggregate = GOOD.replace(
      'group = "App"',
      `group = "App"\naggregate = "sum"\naggregate_lines = '''\nDEF:a={rrd reqs.derive aggregate=avg}:n:AVERAGE\nLINE1:a#0000FF:Average\n'''`,
    );
    const graph = parseTemplate('/site/app.toml', withAggregate, 'app').template?.graphs[0];
    expect(graph?.aggregate).toBe('sum');
    expect(graph?.aggregateLines.map((l) => l.text)).toEqual([
      'DEF:a={rrd reqs.derive aggregate=avg}:n:AVERAGE',
      'LINE1:a#0000FF:Average',
    ]);
    expect(parseTemplate('/site/app.toml', GOOD, 'app').template?.graphs[0]?.aggregate).toBe('none');
    expect(errorsOf(GOOD.replace('group = "App"', 'group = "App"\naggregate = "total"'))).toEqual([
      expect.stringMatching(/:5: aggregate must be one of "sum", "avg", "none"/),
    ]);
    expect(errorsOf(GOOD.replace('{rrd reqs.derive}', '{rrd reqs.derive aggregate=max}'))).toEqual([
      expect.stringMatching(/:7: aggregate=max is not one of sum, avg, none/),
    ]);
    expect(
      errorsOf(GOOD.replace('group = "App"', `group = "App"\naggregate_lines = "LINE1:r#0000FF:x"`)),
    ).toEqual([expect.stringMatching(/aggregate_lines are drawn only on service pages/)]);
    expect(
      errorsOf(
        GOOD.replace(
          'group = "App"',
          `group = "App"\naggregate = "avg"\naggregate_lines = "LINE1:zz#0000FF:x"`,
        ),
      ),
    ).toEqual([expect.stringMatching(/LINE1 uses "zz", which no DEF\/CDEF\/VDEF above defines/)]);
  });

  it('accepts lines as a TOML array too', () => {
    const text = `[[graph]]
key = "a"
group = "g"
title = "t"
lines = ["DEF:v={rrd a.gauge}:n:AVERAGE", "AREA:v#00ff00:A"]
`;
    expect(errorsOf(text)).toEqual([]);
  });
});

describe('loadTemplates: shipped templates and a site directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kurado-templates-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every shipped template without an error', () => {
    const set = loadTemplates();
    expect(set.errors.map((e) => e.message)).toEqual([]);
    expect([...set.templates.keys()].sort()).toEqual([
      'base',
      'http',
      'memcached',
      'mysql',
      'nginx',
      'redis',
    ]);
    expect(set.templates.get('base')?.graphs.map((g) => g.key)).toEqual([
      'traffic',
      'cpu',
      'loadavg-1',
      'memory-usage',
      'tcp-established',
      'disk-usage',
      'disk-io-byte',
      'disk-io-count',
    ]);
  });

  it('adds a site plugin, replaces a shipped file, or merges single graphs with merge = true', () => {
    writeFileSync(path.join(dir, 'app.toml'), GOOD);
    writeFileSync(
      path.join(dir, 'nginx.toml'),
      GOOD.replace('reqs.derive', 'active.gauge').replace('key = "reqs"', 'key = "active"'),
    );
    writeFileSync(
      path.join(dir, 'base.toml'),
      `merge = true\n${GOOD.replace('key = "reqs"', 'key = "cpu"').replace('title = "Requests"', 'title = "My CPU"')}`,
    );
    const set = loadTemplates({ siteDir: dir });
    expect(set.errors).toEqual([]);
    expect(set.templates.get('app')?.graphs.map((g) => g.key)).toEqual(['reqs']);
    expect(set.templates.get('nginx')?.graphs.map((g) => g.key)).toEqual(['active']);
    const base = set.templates.get('base')!;
    expect(base.graphs.find((g) => g.key === 'cpu')?.title).toBe('My CPU');
    expect(base.graphs.find((g) => g.key === 'cpu')?.file).toBe(path.join(dir, 'base.toml'));
    expect(base.graphs).toHaveLength(8);
  });

  it('reports a broken site file by name and line and keeps the shipped template', () => {
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'base.toml'), 'merge = true\n[[graph]]\nkey = "cpu"\n');
    const set = loadTemplates({ siteDir: dir });
    expect(set.errors.map((e) => e.message)).toEqual([
      `${path.join(dir, 'base.toml')}:2: graph is missing "title"`,
      `${path.join(dir, 'base.toml')}:2: graph is missing "group"`,
      `${path.join(dir, 'base.toml')}:2: graph is missing "lines"`,
    ]);
    expect(set.templates.get('base')?.graphs.find((g) => g.key === 'cpu')?.title).toBe('CPU Usage[%]');
  });

  it('reports a site directory that does not exist', () => {
    const set = loadTemplates({ siteDir: path.join(dir, 'missing') });
    expect(set.errors.map((e) => e.message)).toEqual([
      `${path.join(dir, 'missing')}:0: graphs directory does not exist`,
    ]);
  });
});
