import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHttpFixture } from '../../test/helpers/http-fixture.js';
import { loadTemplates } from '../core/graphs/index.js';
import { parseMetricRef, splitDef } from '../core/graphs/template.js';
import { parseApacheStatus } from './http/http.js';
import { parseMemcachedStats } from './memcached/memcached.js';
import { type MysqlReplies, parseMysql } from './mysql/mysql.js';
import { parseNginxStatus } from './nginx/nginx.js';
import { parseRedis } from './redis/redis.js';

const here = import.meta.dirname;
const text = (...p: string[]) => readFileSync(path.join(here, ...p), 'utf8');

/** Every `{rrd NAME.TYPE}` of this plugin's own files the shipped template draws. */
function templateKeys(plugin: string): Set<string> {
  const set = loadTemplates();
  expect(set.errors).toEqual([]);
  const template = set.templates.get(plugin);
  if (!template) throw new Error(`no shipped template for ${plugin}`);
  const keys = new Set<string>();
  for (const graph of template.graphs) {
    for (const line of graph.lines) {
      if (!line.text.startsWith('DEF:')) continue;
      const def = splitDef(line.text);
      if (!def) continue;
      const ref = parseMetricRef(def.file.slice(4, -1));
      if (typeof ref === 'string') throw new Error(`${plugin}: ${ref}`);
      if (!ref.plugin && !ref.host) keys.add(`${ref.name}.${ref.type}`);
    }
  }
  return keys;
}

/** `metrics.reqs.derive` lines → `reqs.derive`. */
function metricKeys(lines: string[]): Set<string> {
  return new Set(lines.filter((l) => l.startsWith('metrics.')).map((l) => l.slice(8, l.indexOf('\t'))));
}

const nginx = readHttpFixture(path.join(here, 'nginx/fixtures/stub_status.http'));
const apache = readHttpFixture(path.join(here, 'http/fixtures/server-status-auto.http'));
const redisExtra = JSON.parse(text('redis/fixtures/slowlog-config.json'));

interface Case {
  plugin: string;
  /** Test name when one plugin has several cases. */
  label?: string;
  output: string[];
  /** Keys a server reports only in some setups, each with the reason. */
  conditional: Record<string, string>;
  /** Groups of alternative keys: a server reports one of each group. */
  alternatives?: string[][];
}

const CASES: Case[] = [
  { plugin: 'nginx', output: parseNginxStatus(nginx.body, nginx.headers.server, 'x'), conditional: {} },
  {
    plugin: 'http',
    output: parseApacheStatus(apache.body, apache.headers.server, 0, 'x'),
    conditional: {},
  },
  {
    plugin: 'mysql',
    output: parseMysql(JSON.parse(text('mysql/fixtures/mariadb-10.11-primary.json')) as MysqlReplies, 'x'),
    conditional: {
      'replication_second_behind_master.gauge': 'replicas only',
      'replication_read_master_log_pos.gauge': 'replicas only',
      'replication_exec_master_log_pos.gauge': 'replicas only',
      'innodb_spin_waits.derive':
        'MySQL prints spin counts in SHOW ENGINE INNODB STATUS, MariaDB 10.6+ does not',
      'innodb_spin_rounds.derive': 'same',
      'innodb_os_waits.derive': 'same',
    },
  },
  {
    plugin: 'mysql',
    label: 'mysql (replica)',
    output: parseMysql(JSON.parse(text('mysql/fixtures/mariadb-10.11-replica.json')) as MysqlReplies, 'x'),
    conditional: {
      'innodb_spin_waits.derive':
        'MySQL prints spin counts in SHOW ENGINE INNODB STATUS, MariaDB 10.6+ does not',
      'innodb_spin_rounds.derive': 'same',
      'innodb_os_waits.derive': 'same',
    },
  },
  {
    plugin: 'redis',
    output: parseRedis({ info: text('redis/fixtures/info.txt'), ...redisExtra }, 'x'),
    conditional: {},
    alternatives: [['changes_since_last_save.gauge', 'rdb_changes_since_last_save.gauge']],
  },
  {
    plugin: 'memcached',
    output: parseMemcachedStats(
      text('memcached/fixtures/stats.txt'),
      text('memcached/fixtures/stats-settings.txt'),
      'x',
    ),
    conditional: {},
  },
];

describe('fetchers provide exactly the metrics the shipped graph templates draw', () => {
  for (const c of CASES) {
    it(c.label ?? c.plugin, () => {
      const wanted = templateKeys(c.plugin);
      const got = metricKeys(c.output);
      const optional = new Set([...Object.keys(c.conditional), ...(c.alternatives ?? []).flat()]);
      for (const key of optional)
        expect(wanted, `${key} is listed as optional but no graph draws it`).toContain(key);
      const missing = [...wanted].filter((k) => !optional.has(k) && !got.has(k));
      expect(missing, `${c.plugin}: template keys the recorded reply does not give`).toEqual([]);
      for (const group of c.alternatives ?? [])
        expect(
          group.filter((k) => got.has(k)),
          `${c.plugin}: one of ${group.join(', ')}`,
        ).toHaveLength(1);
      // A metric no template draws would show up as an extra automatic graph.
      const extra = [...got].filter((k) => !wanted.has(k));
      expect(extra, `${c.plugin}: metrics no graph of the template draws`).toEqual([]);
    });
  }
});
