import { pluginName } from '../graphs/graphs.js';
import type { TemplateSet } from '../graphs/loader.js';
import { parseMetricRef, splitDef, substituteText } from '../graphs/template.js';
import { DS_HEARTBEAT } from '../rrd/layout.js';
import type { LatestValuesRow, MetricValues } from '../store/types.js';

/**
 * What a service page sums: per plugin name, the metrics its templates' aggregated graphs read,
 * as the `{rrd …}` names with `{item}` turned into `*` (`traffic-*-rxbytes.derive` = every
 * interface). Summary files are named after these patterns.
 */
export type AggregateSpecs = Map<string, string[]>;

/** The item every per-item graph is drawn with on a service page: all items at once. */
export const ALL_ITEMS = '*';

/** Summary file names (without `.gauge`) of a pattern and of a plugin's host count. */
export const SUMMARY_NAMES = {
  sum: (pattern: string) => `${pattern}.sum`,
  count: (pattern: string) => `${pattern}.count`,
  hosts: 'hosts',
} as const;

export function aggregateSpecs(templates: TemplateSet): AggregateSpecs {
  const specs: AggregateSpecs = new Map();
  for (const template of templates.templates.values()) {
    const patterns = new Set<string>();
    for (const graph of template.graphs) {
      if (graph.aggregate === 'none') continue;
      for (const line of [...graph.lines, ...graph.aggregateLines]) {
        if (!line.text.startsWith('DEF:')) continue;
        const def = splitDef(substituteText(line.text, { item: ALL_ITEMS, args: template.defaultArgs }));
        const ref = def && parseMetricRef(def.file.slice(4, -1));
        if (!ref || typeof ref === 'string' || ref.plugin || ref.host) continue;
        if ((ref.aggregate ?? graph.aggregate) === 'none') continue;
        patterns.add(`${ref.name}.${ref.type}`);
      }
    }
    if (patterns.size > 0) specs.set(template.plugin, [...patterns].sort());
  }
  return specs;
}

/** A host as the summaries need it: where it belongs. */
export interface ScopedHost {
  address: string;
  service: string;
  label: string;
}

/** Sum and count of one pattern over the hosts of a scope that reported it. */
export interface PatternSummary {
  sum: number;
  count: number;
}

/** One plugin's summary in one scope (a service, or a label of it). */
export interface PluginSummary {
  /** Hosts with a fresh value of any metric of the plugin. */
  hosts: number;
  patterns: Map<string, PatternSummary>;
}

/** A service (`label` empty) or one label of it. */
export interface ScopeSummary {
  service: string;
  label: string;
  plugins: Map<string, PluginSummary>;
}

/**
 * A value counts while it is at most this old, the RRD files' heartbeat: a host that stops
 * sending leaves the sums when its own graphs turn unknown.
 */
export const FRESH_SECONDS = DS_HEARTBEAT;

/**
 * One metric's value as its graph shows it: a gauge as it is, a counter as a per-second rate
 * from the sample before (none when there is none within the heartbeat, or the counter was reset).
 */
export function metricRate(
  metric: string,
  latest: [number, number],
  previous: MetricValues | undefined,
): number | undefined {
  const type = metric.slice(metric.lastIndexOf('.') + 1);
  const [value, at] = latest;
  if (type === 'gauge') return value;
  const before = previous?.[metric];
  if (before === undefined) return undefined;
  const seconds = at - before[1];
  if (seconds <= 0 || seconds > DS_HEARTBEAT) return undefined;
  if (type === 'absolute') return value / seconds;
  const rate = (value - before[0]) / seconds;
  return rate < 0 ? undefined : rate;
}

function patternMatcher(pattern: string): (metric: string) => boolean {
  if (!pattern.includes(ALL_ITEMS)) return (metric) => metric === pattern;
  const [head, ...rest] = pattern.split(ALL_ITEMS);
  const tail = rest.join(ALL_ITEMS);
  return (metric) =>
    metric.length > head!.length + tail.length && metric.startsWith(head!) && metric.endsWith(tail);
}

/** The value one host contributes to `pattern`: the sum over the metrics it matches, if any. */
function hostValue(
  pattern: string,
  matches: (metric: string) => boolean,
  row: LatestValuesRow,
  freshSince: number,
): number | undefined {
  if (!pattern.includes(ALL_ITEMS)) {
    const sample = row.values[pattern];
    if (!sample || sample[1] < freshSince) return undefined;
    return metricRate(pattern, sample, row.previous?.values);
  }
  let total: number | undefined;
  for (const [metric, sample] of Object.entries(row.values)) {
    if (sample[1] < freshSince || !matches(metric)) continue;
    const rate = metricRate(metric, sample, row.previous?.values);
    if (rate !== undefined) total = (total ?? 0) + rate;
  }
  return total;
}

/**
 * Sums of every service and label over the latest values of their hosts at `now`. Rows of hosts
 * not in `hosts` (removed) are ignored; a plugin identifier counts under its plugin name
 * (`mysql:3306` and `mysql:3307` of one host are two instances of `mysql`).
 */
export function summarize(
  hosts: readonly ScopedHost[],
  rows: readonly LatestValuesRow[],
  specs: AggregateSpecs,
  now: number,
): ScopeSummary[] {
  const byAddress = new Map(hosts.map((h) => [h.address, h]));
  const scopes = new Map<string, ScopeSummary>();
  const scopeOf = (service: string, label: string): ScopeSummary => {
    const key = `${service}\u0000${label}`;
    let scope = scopes.get(key);
    if (!scope) {
      scope = { service, label, plugins: new Map() };
      scopes.set(key, scope);
    }
    return scope;
  };
  const freshSince = now - FRESH_SECONDS;
  const matchers = new Map<string, (metric: string) => boolean>();
  /** scope key + plugin → hosts counted, so two instances on one host count one host. */
  const counted = new Set<string>();
  for (const row of rows) {
    const host = byAddress.get(row.host);
    const plugin = pluginName(row.plugin);
    const patterns = specs.get(plugin);
    if (!host || !patterns) continue;
    const targets = [scopeOf(host.service, '')];
    if (host.label !== '') targets.push(scopeOf(host.service, host.label));
    const values = new Map<string, number>();
    if (row.at >= freshSince) {
      for (const pattern of patterns) {
        let matches = matchers.get(pattern);
        if (!matches) {
          matches = patternMatcher(pattern);
          matchers.set(pattern, matches);
        }
        const value = hostValue(pattern, matches, row, freshSince);
        if (value !== undefined) values.set(pattern, value);
      }
    }
    for (const scope of targets) {
      let summary = scope.plugins.get(plugin);
      if (!summary) {
        summary = { hosts: 0, patterns: new Map(patterns.map((p) => [p, { sum: 0, count: 0 }])) };
        scope.plugins.set(plugin, summary);
      }
      const hostKey = `${scope.service}\u0000${scope.label}\u0000${plugin}\u0000${row.host}`;
      if (row.at >= freshSince && !counted.has(hostKey)) {
        counted.add(hostKey);
        summary.hosts++;
      }
      for (const [pattern, value] of values) {
        const entry = summary.patterns.get(pattern)!;
        entry.sum += value;
        entry.count++;
      }
    }
  }
  return [...scopes.values()];
}
