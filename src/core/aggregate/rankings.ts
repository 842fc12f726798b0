import { pluginName } from '../graphs/graphs.js';
import { CPU_COLUMNS } from '../protocol/index.js';
import type { HostRecord, LatestValuesRow, MetricValues } from '../store/types.js';
import { FRESH_SECONDS, metricRate } from './summary.js';

/**
 * "Which hosts are on fire": hosts ranked by a value right now, from the latest values the
 * Ingestor keeps in the store (one read of the store, no RRD file). Built in: load, CPU busy,
 * memory used, traffic, disk IO; or any metric of a plugin as `<plugin>:<name.type>`.
 */
export interface RankingMetric {
  /** What `--by` / `by=` takes. */
  key: string;
  title: string;
  unit: string;
  /** Plugin name whose latest values it reads. */
  plugin: string;
  /** Graph a row's sparkline and link show. */
  graph?: string;
  /** The host's value from one plugin instance's latest values, if it has a fresh one. */
  value(latest: MetricValues, previous: MetricValues | undefined, freshSince: number): number | undefined;
}

function fresh(latest: MetricValues, metric: string, freshSince: number): [number, number] | undefined {
  const sample = latest[metric];
  return sample && sample[1] >= freshSince ? sample : undefined;
}

/** Sum of the rates of every fresh metric matching `test` (interfaces, devices). */
function sumOf(
  latest: MetricValues,
  previous: MetricValues | undefined,
  freshSince: number,
  test: (metric: string) => boolean,
): number | undefined {
  let total: number | undefined;
  for (const [metric, sample] of Object.entries(latest)) {
    if (sample[1] < freshSince || !test(metric)) continue;
    const rate = metricRate(metric, sample, previous);
    if (rate !== undefined) total = (total ?? 0) + rate;
  }
  return total;
}

export const RANKING_METRICS: readonly RankingMetric[] = [
  {
    key: 'load',
    title: 'Load average (1 min)',
    unit: '',
    plugin: 'base',
    graph: 'loadavg-1',
    value: (latest, _previous, since) => fresh(latest, 'loadavg-1.gauge', since)?.[0],
  },
  {
    key: 'cpu',
    title: 'CPU busy',
    unit: '%',
    plugin: 'base',
    graph: 'cpu',
    value(latest, previous, since) {
      let total = 0;
      let idle = 0;
      for (const state of CPU_COLUMNS) {
        const metric = `cpu-${state}.derive`;
        const sample = fresh(latest, metric, since);
        const rate = sample && metricRate(metric, sample, previous);
        if (rate === undefined) {
          if (state === 'idle' || state === 'user' || state === 'system') return undefined;
          continue;
        }
        total += rate;
        if (state === 'idle') idle = rate;
      }
      return total > 0 ? (100 * (total - idle)) / total : undefined;
    },
  },
  {
    key: 'memory',
    title: 'Memory used',
    unit: '%',
    plugin: 'base',
    graph: 'memory-usage',
    value(latest, _previous, since) {
      const used = fresh(latest, 'memory-used.gauge', since)?.[0];
      const total = fresh(latest, 'memory-total.gauge', since)?.[0];
      return used !== undefined && total ? (100 * used) / total : undefined;
    },
  },
  {
    key: 'traffic',
    title: 'Traffic in + out',
    unit: 'bit/s',
    plugin: 'base',
    graph: 'traffic',
    value: (latest, previous, since) => {
      const bytes = sumOf(latest, previous, since, (m) => /^traffic-.+-(rx|tx)bytes\.derive$/.test(m));
      return bytes === undefined ? undefined : bytes * 8;
    },
  },
  {
    key: 'disk',
    title: 'Disk IO read + write',
    unit: 'B/s',
    plugin: 'base',
    graph: 'disk-io-byte',
    value: (latest, previous, since) => {
      // The kernel counts 512-byte sectors.
      const sectors = sumOf(latest, previous, since, (m) =>
        /^disk-io-.+-(read|write)-sectors\.derive$/.test(m),
      );
      return sectors === undefined ? undefined : sectors * 512;
    },
  },
];

export class RankingError extends Error {
  override name = 'RankingError';
}

/** `load`, `cpu`…, or `<plugin>:<name.type>` (`nginx:reqs.derive`): any metric of a plugin. */
export function rankingMetric(by: string): RankingMetric {
  const builtIn = RANKING_METRICS.find((m) => m.key === by);
  if (builtIn) return builtIn;
  const colon = by.indexOf(':');
  const plugin = by.slice(0, colon);
  const metric = by.slice(colon + 1);
  if (
    colon <= 0 ||
    !/^[A-Za-z0-9_-]+$/.test(plugin) ||
    !/^.+\.(gauge|counter|derive|absolute)$/.test(metric)
  ) {
    throw new RankingError(
      `unknown ranking "${by}": use one of ${RANKING_METRICS.map((m) => m.key).join(', ')} or <plugin>:<name.type> (e.g. nginx:reqs.derive)`,
    );
  }
  return {
    key: by,
    title: `${plugin} ${metric}`,
    unit: metric.endsWith('.gauge') ? '' : '/s',
    plugin,
    graph: metric,
    value: (latest, previous, since) => {
      const sample = fresh(latest, metric, since);
      return sample && metricRate(metric, sample, previous);
    },
  };
}

export interface RankedHost {
  host: HostRecord;
  value: number;
  /** The plugin identifier the value came from (the first, when several instances are summed). */
  plugin: string;
  /** Newest sample time the value rests on. */
  at: number;
}

export interface Ranking {
  metric: RankingMetric;
  /** Highest first; equal values by hostname, then address. */
  top: RankedHost[];
  /** Hosts asked about. */
  hosts: number;
  /** Hosts with no fresh value for the metric (silent, or they do not have it). */
  missing: number;
}

/**
 * Rank `hosts` by `metric` at `now`: several instances of the plugin on one host (mysql:3306 and
 * mysql:3307) are summed; a host without a value within FRESH_SECONDS is counted as missing.
 */
export function rankHosts(
  hosts: readonly HostRecord[],
  rows: readonly LatestValuesRow[],
  metric: RankingMetric,
  now: number,
  limit: number,
): Ranking {
  const byAddress = new Map(hosts.map((h) => [h.address, h]));
  const values = new Map<string, RankedHost>();
  const since = now - FRESH_SECONDS;
  for (const row of rows) {
    const host = byAddress.get(row.host);
    if (!host || pluginName(row.plugin) !== metric.plugin || row.at < since) continue;
    const value = metric.value(row.values, row.previous?.values, since);
    if (value === undefined || !Number.isFinite(value)) continue;
    const before = values.get(row.host);
    if (before) {
      before.value += value;
      before.at = Math.max(before.at, row.at);
    } else values.set(row.host, { host, value, plugin: row.plugin, at: row.at });
  }
  const ranked = [...values.values()].sort(
    (a, b) =>
      b.value - a.value ||
      a.host.hostname.localeCompare(b.host.hostname) ||
      a.host.address.localeCompare(b.host.address),
  );
  return { metric, top: ranked.slice(0, limit), hosts: hosts.length, missing: hosts.length - values.size };
}
