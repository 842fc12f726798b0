import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServerList, readServerList, SERVER_LIST_LIMITS, ServerListError } from './server-list.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const fixture = (name: string) => path.join(ROOT, 'src/core/hosts/fixtures', name);

function problemsOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ServerListError) return error.problems;
    throw error;
  }
  throw new Error('expected a ServerListError');
}

describe('server list', () => {
  it('turns services → sections → hosts into host records with their role', () => {
    const list = readServerList(fixture('good.toml'));
    expect(list.hosts.map((h) => [h.service, h.label, h.address, h.hostname, h.comments])).toEqual([
      ['shop', 'frontend', '10.0.0.1', 'web01', 'rack A, behind   lb01'],
      ['shop', 'frontend', '10.0.0.2', '10.0.0.2', ''],
      ['shop', 'frontend', 'web03.example.com', 'web03', ''],
      ['shop', 'database', '10.0.0.21', 'db01', 'primary'],
      ['Shop (EU)', '', '10.1.0.1', 'web01', 'same hostname as in shop'],
    ]);
    expect(list.hosts[0]).toMatchObject({
      role: 'web',
      plugins: ['base', 'nginx:8080:/nginx_status'],
      origin: 'import',
    });
    expect(list.hosts[0]?.settings).toBeUndefined();
    expect(list.services).toEqual([
      {
        name: 'shop',
        sections: [
          { label: 'frontend', role: 'web', hosts: 3 },
          { label: 'database', role: 'db', hosts: 1 },
        ],
      },
      { name: 'Shop (EU)', sections: [{ label: '', role: 'web', hosts: 1 }] },
    ]);
  });

  it('resolves plugin settings: global by name < role by name < role by identifier', () => {
    const db = readServerList(fixture('good.toml')).hosts.find((h) => h.hostname === 'db01');
    expect(db?.settings).toEqual({
      'mysql:3306': { user: 'kurado', password: 'db-secret' },
      'mysql:3307': { user: 'reporting', password: 'db-secret' },
    });
  });

  it('warns about a hostname used twice, but imports both hosts', () => {
    const list = readServerList(fixture('good.toml'));
    expect(list.warnings).toEqual([
      expect.stringMatching(
        /good\.toml:33: services\.Shop \(EU\)\[1\] hosts\[1\] .*hostname web01 is also used at services\.shop\[1\]/,
      ),
    ]);
  });

  it('reports broken TOML with file:line:column', () => {
    const problems = problemsOf(() => readServerList(fixture('broken-syntax.toml')));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^.*broken-syntax\.toml:8:3: /);
  });

  it('reports every problem at once, each naming the file and the place', () => {
    const file = fixture('many-problems.toml');
    const problems = problemsOf(() => readServerList(file));
    const shown = problems.map((p) => p.replace(`${file}`, 'F'));
    expect(shown).toEqual([
      'F: roles.web.plugins[3]: "base" is listed twice',
      'F: roles.web.settings.redis: role "web" lists no plugin "redis" (plugins: base, nginx:80)',
      'F: services.shop[1] (label "frontend"): unknown key "roll" (did you mean "role"?); expected "label", "role", "hosts", "max_files", "relay", "storage"',
      'F: services.shop[1] (label "frontend"): names no role (role = "…")',
      'F: services.shop[2] (label "backend"): unknown role "api"; roles: web',
      'F:17: services.shop[2] (label "backend") hosts[2] "10.0.0.300 api02 typo in the address": bad address: "10.0.0.300" is not a valid IPv4 address',
      'F:18: services.shop[2] (label "backend") hosts[3] "10.0.0.1 web01-again": address 10.0.0.1 is already listed at services.shop[1] (label "frontend") hosts[1] (line 10)',
      'F:19: services.shop[2] (label "backend") hosts[4] "": is empty; write "<address> <hostname> <comments…>"',
      'F: services.admin: write each section as [[services.admin]] (double brackets: a service is a list of sections), not a table',
      'F: services.unregistered: "unregistered" is reserved for hosts that push without being listed',
    ]);
    expect(() => readServerList(file)).toThrow(`${file}: 10 problems:`);
  });

  it('names the file it cannot read', () => {
    expect(() => readServerList('/nonexistent/hosts.toml')).toThrow('cannot read /nonexistent/hosts.toml');
  });

  it('rejects unknown top-level keys and CloudForecast-style names with a hint', () => {
    expect(() => parseServerList('[rolls.web]\nplugins = ["base"]\n', 'x.toml')).toThrow(
      'x.toml: top level: unknown key "rolls" (did you mean "roles"?); expected "settings", "roles", "services"',
    );
  });

  it('rejects non-scalar settings and non-string hosts', () => {
    const problems = problemsOf(() =>
      parseServerList(
        '[roles.web]\nplugins = ["base"]\n[roles.web.settings.base]\nlist = [1, 2]\n[[services.s]]\nrole = "web"\nhosts = [42]\n',
        'x.toml',
      ),
    );
    expect(problems).toEqual([
      'x.toml: roles.web.settings.base.list: must be a string, number or boolean, not an array',
      'x.toml:7: services.s[1] hosts[1]: must be a string "<address> <hostname> <comments…>" or a table { host = "…", max_files = N, relay = true }, not a number',
    ]);
  });

  it('reports the exact line of a bad entry, whatever else holds the same text', () => {
    const text = [
      '# "10.0.0.300 x" in a comment',
      '[roles.web]',
      'plugins = ["base"]',
      '[[services.a]]',
      'label = "10.0.0.300 x"',
      'role = "web"',
      'hosts = ["10.0.0.1", # "10.0.0.300 x"',
      "  '10.0.0.2',",
      '  """10.0.0.3""", "10.0.0.300 x",',
      ']',
      '[[services.b]]',
      'role = "web"',
      'hosts = ["10.0.1.1", "10.0.0.\\u0033\\u0030\\u0030 escaped"]',
      '[[services.a]]',
      'role = "web"',
      'hosts = [',
      '  "10.0.2.1",',
      '  "10.0.0.300 x",',
      ']',
    ].join('\n');
    const problems = problemsOf(() => parseServerList(text, 'x.toml'));
    expect(problems.map((p) => p.replace(/ hosts\[.*$/, ''))).toEqual([
      'x.toml:9: services.a[1] (label "10.0.0.300 x")',
      'x.toml:18: services.a[2]',
      'x.toml:13: services.b[1]',
    ]);
  });

  it('locates a bad entry among 40,000 (one pass over the file, not one search per entry)', () => {
    const hosts = Array.from(
      { length: 40_000 },
      (_, i) => `  "10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} h${i}",`,
    );
    hosts[39_990] = '  "10.0.0.300 bad",';
    const text = `[roles.web]\nplugins = ["base"]\n[[services.s]]\nrole = "web"\nhosts = [\n${hosts.join('\n')}\n]\n`;
    // Searching the text once per entry took 96 s on a file this size.
    const problems = problemsOf(() => parseServerList(text, 'x.toml'));
    expect(problems).toEqual([
      expect.stringMatching(/^x\.toml:39996: services\.s\[1\] hosts\[39991\] "10\.0\.0\.300 bad"/),
    ]);
  });

  it('refuses control characters in entries, comments included, and labels', () => {
    const problems = problemsOf(() =>
      parseServerList(
        [
          '[roles.web]',
          'plugins = ["base"]',
          '[[services.s]]',
          'label = "a\\u0000b"',
          'role = "web"',
          'hosts = ["10.0.0.1"]',
          '[[services.t]]',
          'role = "web"',
          'hosts = ["10.0.0.2 web02 comment\\nforged line", "10.0.0.3 h\\u0000x", "10.0.0.4 web04 fine"]',
        ].join('\n'),
        'x.toml',
      ),
    );
    expect(problems).toEqual([
      'x.toml: services.s[1] (label "a\\x00b"): label must not contain control characters',
      'x.toml:9: services.t[1] hosts[1] "10.0.0.2 web02 comment\\x0aforged line": has control characters (a newline, tab or NUL); write one line of printable text',
      'x.toml:9: services.t[1] hosts[2] "10.0.0.3 h\\x00x": has control characters (a newline, tab or NUL); write one line of printable text',
    ]);
  });

  it("refuses addresses that are Kurado's own files in data_dir", () => {
    const problems = problemsOf(() =>
      parseServerList(
        '[roles.web]\nplugins = ["base"]\n[[services.s]]\nrole = "web"\nhosts = ["kurado.db", "Kurado.DB-wal x"]\n',
        'x.toml',
      ),
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/x\.toml:5: .*"kurado\.db" is the name of a file Kurado keeps in data_dir/);
  });

  it('takes the storage pin from the role, a section or a host entry overriding it', () => {
    const list = parseServerList(
      [
        '[roles.db]',
        'plugins = ["base"]',
        'storage = "rrd2"',
        '[[services.s]]',
        'role = "db"',
        'hosts = ["10.0.0.1 db01"]',
        '[[services.s]]',
        'role = "db"',
        'storage = "rrd3"',
        'hosts = ["10.0.0.2 db02", { host = "10.0.0.3 db03", storage = "rrd1" }]',
      ].join('\n'),
      'x.toml',
    );
    expect(list.hosts.map((h) => h.options?.storage)).toEqual(['rrd2', 'rrd3', 'rrd1']);
    expect(() => parseServerList('[roles.web]\nplugins = ["base"]\nstorage = 2\n', 'x.toml')).toThrow(
      /roles\.web.*storage must be the name of a \[\[storage\]\] node, not a number/,
    );
  });

  it('takes max_files and relay from the role, a section overriding them', () => {
    const list = parseServerList(
      [
        '[roles.proxy]',
        'plugins = ["base"]',
        'relay = true',
        'max_files = 20000',
        '[roles.web]',
        'plugins = ["base"]',
        '[[services.s]]',
        'role = "proxy"',
        'hosts = ["10.0.0.1 proxy01"]',
        '[[services.s]]',
        'role = "proxy"',
        'max_files = 100',
        'hosts = ["10.0.0.2 proxy02"]',
        '[[services.s]]',
        'role = "web"',
        'hosts = ["10.0.0.3 web01"]',
      ].join('\n'),
      'x.toml',
    );
    expect(list.hosts.map((h) => h.options)).toEqual([
      { relay: true, maxFiles: 20000 },
      { relay: true, maxFiles: 100 },
      undefined,
    ]);
    expect(() =>
      parseServerList('[roles.web]\nplugins = ["base"]\nmax_files = -1\nrelay = "yes"\n', 'x.toml'),
    ).toThrow(/max_files must be a whole number[\s\S]*relay must be true or false, not a string/);
  });

  it('takes max_files and relay from a host entry written as a table, over its section and role', () => {
    const list = parseServerList(
      [
        '[roles.proxy]',
        'plugins = ["base"]',
        'relay = true',
        'max_files = 20000',
        '[[services.s]]',
        'role = "proxy"',
        'max_files = 100',
        'hosts = [',
        '  "10.0.0.1 proxy01",',
        '  { host = "10.0.0.2 proxy02 rack B", max_files = 7, relay = false },',
        '  { host = "10.0.0.3" },',
        ']',
      ].join('\n'),
      'x.toml',
    );
    expect(list.hosts.map((h) => [h.address, h.hostname, h.comments, h.options])).toEqual([
      ['10.0.0.1', 'proxy01', '', { relay: true, maxFiles: 100 }],
      ['10.0.0.2', 'proxy02', 'rack B', { relay: false, maxFiles: 7 }],
      ['10.0.0.3', '10.0.0.3', '', { relay: true, maxFiles: 100 }],
    ]);
  });

  it('reports a bad host entry table on its own line', () => {
    const problems = problemsOf(() =>
      parseServerList(
        [
          '[roles.web]',
          'plugins = ["base"]',
          '[[services.s]]',
          'role = "web"',
          'hosts = [',
          '  "10.0.0.1",',
          '  { host = "10.0.0.2", max_files = -5 },',
          '  { max_files = 5 },',
          '  { host = "10.0.0.4", relay = "yes", maxfiles = 3 },',
          '  { host = "10.0.0.300" },',
          ']',
        ].join('\n'),
        'x.toml',
      ),
    );
    expect(problems).toEqual([
      'x.toml:7: services.s[1] hosts[2]: max_files must be a whole number of files (0 or more), not "-5"',
      'x.toml:8: services.s[1] hosts[3]: a host written as a table needs host = "<address> <hostname> <comments…>"',
      'x.toml:9: services.s[1] hosts[4]: unknown key "maxfiles"; expected "host", "max_files", "relay", "storage"',
      'x.toml:9: services.s[1] hosts[4]: relay must be true or false, not a string',
      'x.toml:10: services.s[1] hosts[5] "10.0.0.300": bad address: "10.0.0.300" is not a valid IPv4 address',
    ]);
  });

  it('bounds every name, comment and setting by what the store keeps, with the place', () => {
    const long = (n: number) => 'x'.repeat(n);
    const problems = problemsOf(() =>
      parseServerList(
        [
          '[settings.mysql]',
          `password = "${long(SERVER_LIST_LIMITS.settingValueLength + 1)}"`,
          `[roles.${long(256)}]`,
          'plugins = ["base"]',
          '[roles.db]',
          'plugins = ["mysql"]',
          '[roles.db.settings.mysql]',
          ...Array.from({ length: 20 }, (_, i) => `k${i} = "${long(4000)}"`),
          `[[services.${long(256)}]]`,
          'role = "db"',
          'hosts = ["10.0.0.1"]',
          '[[services.s]]',
          `label = "${long(256)}"`,
          'role = "db"',
          'hosts = ["10.0.0.2"]',
          '[[services.s]]',
          'role = "db"',
          `hosts = ["10.0.0.3 ${long(256)}", "10.0.0.4 h4 ${long(SERVER_LIST_LIMITS.commentLength + 1)}", "10.0.0.5 h5 ${long(SERVER_LIST_LIMITS.commentLength)}"]`,
        ].join('\n'),
        'x.toml',
      ),
    );
    expect(problems).toEqual([
      `x.toml: settings.mysql.password: longer than ${SERVER_LIST_LIMITS.settingValueLength} characters`,
      expect.stringMatching(/^x\.toml: roles\."x{80}…": a role name is at most 255 characters$/),
      expect.stringMatching(
        /^x\.toml: roles\.db: its plugin settings \(with \[settings\]\) take \d+ bytes as JSON, more than 60000$/,
      ),
      expect.stringMatching(/^x\.toml: services\."x{80}…": a service name is at most 255 characters$/),
      expect.stringMatching(
        /^x\.toml: services\.s\[1\] \(label "x{80}…"\): label is at most 255 characters$/,
      ),
      expect.stringMatching(
        /^x\.toml:\d+: services\.s\[2\] hosts\[1\] ".*": hostname longer than 255 characters$/,
      ),
      expect.stringMatching(
        /^x\.toml:\d+: services\.s\[2\] hosts\[2\] ".*": comments longer than 1024 characters$/,
      ),
    ]);
  });

  it('refuses a file larger than a server list may be, before reading it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kurado-big-list-'));
    const file = path.join(dir, 'hosts.toml');
    writeFileSync(file, '');
    truncateSync(file, SERVER_LIST_LIMITS.fileBytes + 1);
    expect(problemsOf(() => readServerList(file))).toEqual([
      `${file}: ${SERVER_LIST_LIMITS.fileBytes + 1} bytes, more than a server list may have (${SERVER_LIST_LIMITS.fileBytes} bytes)`,
    ]);
    rmSync(dir, { recursive: true });
  });

  it('keeps hostile comments as written', () => {
    const list = parseServerList(
      `[roles.web]\nplugins = ["base"]\n[[services.s]]\nrole = "web"\nhosts = ["10.0.0.1 web01 <script>alert('x')</script> 日本 🚀"]\n`,
      'x.toml',
    );
    expect(list.hosts[0]?.comments).toBe(`<script>alert('x')</script> 日本 🚀`);
  });

  it('accepts the documented template', () => {
    const list = readServerList(path.join(ROOT, 'templates/hosts.toml'));
    expect(list.warnings).toEqual([]);
    expect(list.hosts.length).toBeGreaterThan(5);
    expect(list.hosts.find((h) => h.hostname === 'db01')?.settings?.['mysql:3307']).toEqual({
      user: 'reporting',
      password: 'also-change-me',
    });
  });
});
