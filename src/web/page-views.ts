/**
 * What the HTML pages show, built from what the store and the graph service returned: pure
 * functions of their input (no store, no server), so every page's content is tested directly.
 */
import { createHash } from 'node:crypto';
import { formatRankingValue } from '../core/aggregate/ranking-format.js';
import { RANKING_METRICS, type Ranking } from '../core/aggregate/rankings.js';
import type { PluginGraphs, Term } from '../core/graphs/types.js';
import { BASE_PLUGIN, baseState } from '../core/store/status.js';
import {
  type HostRecord,
  type HostStatus,
  type HostStatusReport,
  type MetaEntry,
  STALE_AFTER_SECONDS,
  UNREGISTERED_SERVICE,
} from '../core/store/types.js';
import {
  COMPARE_WIDTHS,
  DEFAULT_COMPARE_WIDTH,
  DEFAULT_PAGE_WIDTH,
  graphDataUrl,
  graphPngUrl,
  graphViewUrl,
  hostUrl,
  localInputValue,
  localTimeText,
  MAX_COMPARE_HOSTS,
  metaBadges,
  queryString,
  type RangeQuery,
  rangeParams,
  serviceGraphDataUrl,
  serviceGraphPngUrl,
  serviceUrl,
  shortPlugin,
  TERM_BUTTONS,
  WIDTHS,
} from './format.js';
import { capped } from './limits.js';
import { nextPage, type Page, pageItems, previousPage } from './paging.js';

export const STATUS_LABEL: Record<HostStatus, string> = {
  ok: 'OK',
  warn: 'Warning',
  critical: 'Critical',
  unknown: 'Unknown (never seen)',
};

/** The custom-range pickers open on the last PICKER_SPAN_SECONDS, ending on a quarter hour. */
const PICKER_ROUND_SECONDS = 15 * 60;
const PICKER_SPAN_SECONDS = 32 * 3600;

/** The terms the single-graph page shows, one above the other. */
export const GRAPH_VIEW_TERMS: { term: Term; label: string }[] = [
  { term: '8hours', label: '8 hours' },
  { term: 'day', label: 'Day' },
  { term: 'week', label: 'Week' },
  { term: 'month', label: 'Month' },
  { term: 'year', label: 'Year' },
];

type Params = Record<string, string | number | undefined>;

function anchorId(prefix: string, value: string): string {
  return `${prefix}-${createHash('sha1').update(value).digest('hex').slice(0, 10)}`;
}

function byName(a: string, b: string): number {
  return a.localeCompare(b, undefined, { sensitivity: 'base' });
}

/** Services by name, the "unregistered" one last. */
function sortServices(a: string, b: string): number {
  if (a === UNREGISTERED_SERVICE && b !== UNREGISTERED_SERVICE) return 1;
  if (b === UNREGISTERED_SERVICE && a !== UNREGISTERED_SERVICE) return -1;
  return byName(a, b);
}

/** The values of the custom-range pickers: the page's own range, or the default span. */
function pickerValues(range: RangeQuery, now: number) {
  const to = range.to ?? Math.floor(now / PICKER_ROUND_SECONDS) * PICKER_ROUND_SECONDS;
  const from = range.from ?? to - PICKER_SPAN_SECONDS;
  return { fromValue: localInputValue(from), toValue: localInputValue(to), fromEpoch: from, toEpoch: to };
}

/** Term buttons and width choices of a page whose URL for other parameters is `here`. */
function rangeChoices(range: RangeQuery, widths: readonly number[], here: (extra: Params) => string) {
  return {
    terms: TERM_BUTTONS.map((button) => ({
      ...button,
      url: here({ term: button.term, from: undefined, to: undefined }),
      active: range.term === button.term,
    })),
    widths: widths.map((width) => ({ width, url: here({ width }), active: range.width === width })),
  };
}

/* ---------- fleet ---------- */

export interface FleetHostView extends HostRecord {
  status: HostStatus;
  statusTitle: string;
  url: string;
}

export interface ServiceView {
  name: string;
  id: string;
  /** Hosts of the service. */
  count: number;
  labels: { name: string; hosts: FleetHostView[] }[];
}

export interface FleetQuery {
  /** Only this service. */
  service: string | undefined;
  /** Words every shown host must contain (address, hostname, comments, role, service or label). */
  q: string;
  page: Page;
  /** The page's query, for the URLs of the other pages. */
  query: Record<string, unknown>;
  /** Most services listed in the sidebar. */
  maxServices: number;
}

/** What the fleet search looks in, lower case: what a row shows, plus its service and label. */
function fleetSearchText(host: HostRecord): string {
  return `${host.address} ${host.hostname} ${host.comments} ${host.role} ${host.service} ${host.label}`.toLowerCase();
}

/**
 * The fleet page: services → labels → hosts with their status. `service` and the words of `q`
 * narrow what is shown, and one page shows at most `page.limit` of the hosts that match, so the
 * page stays small whatever the size of the fleet; the sidebar and the status counts are the
 * whole fleet's (or the service's).
 */
export function fleetView(hosts: HostRecord[], statuses: Map<string, HostStatusReport>, options: FleetQuery) {
  const { service, q, page } = options;
  const services = new Map<string, Map<string, HostRecord[]>>();
  for (const host of hosts) {
    let labels = services.get(host.service);
    if (!labels) {
      labels = new Map();
      services.set(host.service, labels);
    }
    const inLabel = labels.get(host.label);
    if (inLabel) inLabel.push(host);
    else labels.set(host.label, [host]);
  }
  const ordered = [...services]
    .sort(([a], [b]) => sortServices(a, b))
    .map(([name, labels]) => ({
      name,
      id: anchorId('service', name),
      count: [...labels.values()].reduce((sum, members) => sum + members.length, 0),
      labels: [...labels].sort(([a], [b]) => byName(a, b)),
    }));
  const counts: Record<HostStatus, number> = { ok: 0, warn: 0, critical: 0, unknown: 0 };
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  // Every host shown on some page, in page order: service, label, then as listed.
  const matching: HostRecord[] = [];
  for (const entry of ordered) {
    if (service !== undefined && entry.name !== service) continue;
    for (const [, members] of entry.labels) {
      for (const host of members) {
        counts[statuses.get(host.address)?.status ?? 'unknown']++;
        if (words.length > 0) {
          const text = fleetSearchText(host);
          if (!words.every((word) => text.includes(word))) continue;
        }
        matching.push(host);
      }
    }
  }
  const onPage = pageItems(matching, page);
  const shown: ServiceView[] = [];
  for (const host of onPage) {
    let view = shown[shown.length - 1];
    if (view?.name !== host.service) {
      const entry = ordered.find((candidate) => candidate.name === host.service)!;
      view = { name: entry.name, id: entry.id, count: entry.count, labels: [] };
      shown.push(view);
    }
    let label = view.labels[view.labels.length - 1];
    if (label?.name !== host.label) {
      label = { name: host.label, hosts: [] };
      view.labels.push(label);
    }
    const report = statuses.get(host.address);
    const status = report?.status ?? 'unknown';
    label.hosts.push({
      ...host,
      status,
      statusTitle: report?.reason ? `${STATUS_LABEL[status]}: ${report.reason}` : STATUS_LABEL[status],
      url: hostUrl(host.address),
    });
  }
  const sidebar = capped(
    ordered.map(({ name, id, count }) => ({ name, id, count })),
    options.maxServices,
  );
  return {
    title: 'Kurado',
    services: sidebar.items,
    moreServices: ordered.length - sidebar.items.length,
    /** Whether the chosen service exists (an unknown one is a 404). */
    serviceFound: service === undefined || services.has(service),
    shown,
    selectedService: service,
    total: hosts.length,
    counts,
    q,
    pager: {
      first: onPage.length === 0 ? 0 : page.offset + 1,
      last: page.offset + onPage.length,
      matching: matching.length,
      previous: previousPage('/', options.query, page),
      next: nextPage('/', options.query, page, matching.length),
    },
    statusLabel: STATUS_LABEL,
    maxCompare: MAX_COMPARE_HOSTS,
    queryString,
    serviceUrl,
  };
}

/* ---------- host ---------- */

export interface PluginView {
  plugin: string;
  short: string;
  id: string;
  badges: ReturnType<typeof metaBadges>;
  warnings: { name: string; message: string; time: string }[];
  groups: {
    title: string;
    graphs: { key: string; title: string; src: string; data: string; view: string }[];
  }[];
}

export interface Warning {
  plugin: string;
  name: string;
  message: string;
  timestamp: number;
}

/** The role's plugins first, then those with graphs or warnings only, each with its graphs. */
export function pluginViews(
  host: HostRecord,
  listed: PluginGraphs[],
  meta: MetaEntry[],
  warnings: Warning[],
  params: Params,
): PluginView[] {
  const order = [...host.plugins];
  for (const entry of listed) if (!order.includes(entry.plugin)) order.push(entry.plugin);
  for (const warning of warnings) if (!order.includes(warning.plugin)) order.push(warning.plugin);
  return order.map((plugin) => {
    const graphsOf = listed.find((entry) => entry.plugin === plugin);
    return {
      plugin,
      short: shortPlugin(plugin),
      id: anchorId('plugin', plugin),
      badges: metaBadges(meta.filter((entry) => entry.plugin === plugin)),
      warnings: warnings
        .filter((warning) => warning.plugin === plugin)
        .map((warning) => ({
          name: warning.name,
          message: warning.message,
          time: localTimeText(warning.timestamp),
        })),
      groups: (graphsOf?.groups ?? []).map((group) => ({
        title: group.title,
        graphs: group.graphs.map((graph) => ({
          key: graph.key,
          title: graph.title,
          src: graphPngUrl(host.address, graph.plugin || plugin, graph.key, params),
          data: graphDataUrl(host.address, graph.plugin || plugin, graph.key, params),
          view: graphViewUrl(host.address, graph.plugin || plugin, graph.key),
        })),
      })),
    };
  });
}

/** The "stale agent" warning of the host page, from the status rule on `base`. */
export function staleAgentNotice(
  host: HostRecord,
  lastReceived: { plugin: string; at: number }[],
  now: number,
): string | undefined {
  const base = baseState(host.plugins, lastReceived.find((entry) => entry.plugin === BASE_PLUGIN)?.at, now);
  if (base.state === 'stale')
    return `Metrics are not updated in the last ${STALE_AFTER_SECONDS / 60} minutes. This host or its agent has been down. Last updated: ${localTimeText(base.receivedAt)}`;
  if (base.state === 'never') return 'No metrics were ever received from this host.';
  return undefined;
}

export interface HostPageInput {
  host: HostRecord;
  range: RangeQuery;
  /** The `plugin=` filter. */
  plugin: string | undefined;
  listed: PluginGraphs[];
  meta: MetaEntry[];
  warnings: Warning[];
  lastReceived: { plugin: string; at: number }[];
  report: HostStatusReport | undefined;
  limits: { metaPerHost: number; warningsPerHost: number };
  now: number;
}

/** The host page: status, stale-agent warning, per-plugin meta, warnings and graphs. */
export function hostView(input: HostPageInput) {
  const { host, range, plugin: pluginFilter } = input;
  const params = { ...rangeParams(range), width: range.width };
  // A host that sent 100,000 warnings still gets a page of bounded size.
  const metaShown = capped(input.meta, input.limits.metaPerHost);
  const warningsShown = capped(input.warnings, input.limits.warningsPerHost);
  const plugins = pluginViews(host, input.listed, metaShown.items, warningsShown.items, params);
  const truncated =
    metaShown.truncated || warningsShown.truncated
      ? `Showing ${metaShown.items.length} of ${input.meta.length} meta values and ${warningsShown.items.length} of ${input.warnings.length} warnings.`
      : undefined;
  const here = (extra: Params) =>
    hostUrl(host.address, {
      ...rangeParams(range),
      width: range.width === DEFAULT_PAGE_WIDTH ? undefined : range.width,
      plugin: pluginFilter,
      ...extra,
    });
  const status = input.report?.status ?? 'unknown';
  return {
    title: `${host.hostname} (${host.address}) - Kurado`,
    host,
    status,
    statusReason: input.report?.reason ?? '',
    statusLabel: STATUS_LABEL,
    plugins,
    shown: pluginFilter ? plugins.filter((p) => p.plugin === pluginFilter) : plugins,
    pluginFilter,
    stale: staleAgentNotice(host, input.lastReceived, input.now),
    truncated,
    range,
    ...rangeChoices(range, WIDTHS, here),
    pluginUrl: (plugin?: string) => here({ plugin }),
    ...pickerValues(range, input.now),
    fleetUrl: `/${queryString({ service: host.service })}`,
    apiUrl: `/api/hosts/${encodeURIComponent(host.address)}/graphs${queryString(params)}`,
    serviceUrl: serviceUrl(host.service, { label: host.label || undefined }),
  };
}

/* ---------- one graph over several terms ---------- */

/** The single-graph page, or undefined when the host has no such graph. */
export function graphView(
  host: HostRecord,
  plugin: string,
  graph: string,
  listed: PluginGraphs[],
  range: RangeQuery,
) {
  const info = listed
    .find((entry) => entry.plugin === plugin)
    ?.groups.flatMap((group) => group.graphs.map((g) => ({ ...g, group: group.title })))
    .find((g) => g.key === graph);
  if (!info) return undefined;
  const here = (width: number) => `${graphViewUrl(host.address, plugin, graph)}${queryString({ width })}`;
  return {
    title: `${info.title} - ${host.hostname} - Kurado`,
    host,
    plugin,
    info,
    hostUrl: hostUrl(host.address),
    pluginUrl: hostUrl(host.address, { plugin }),
    fleetUrl: `/${queryString({ service: host.service })}`,
    terms: GRAPH_VIEW_TERMS.map((t) => ({
      ...t,
      src: graphPngUrl(host.address, plugin, graph, { term: t.term, width: range.width }),
      data: graphDataUrl(host.address, plugin, graph, { term: t.term }),
    })),
    widths: WIDTHS.map((width) => ({ width, url: here(width), active: range.width === width })),
  };
}

/* ---------- rankings ---------- */

/** The rows of a ranking table: value, link to the host page, sparkline PNG of the last 4 hours. */
export function rankingRows(ranking: Ranking) {
  const { metric } = ranking;
  return ranking.top.map((entry, index) => ({
    rank: index + 1,
    address: entry.host.address,
    hostname: entry.host.hostname,
    service: entry.host.service,
    label: entry.host.label,
    value: entry.value,
    text: formatRankingValue(entry.value, metric.unit),
    url: hostUrl(entry.host.address, metric.plugin === 'base' ? {} : { plugin: entry.plugin }),
    sparkline: metric.graph
      ? graphPngUrl(entry.host.address, entry.plugin, metric.graph, {
          term: '4hours',
          width: 120,
          height: 40,
          sparkline: 1,
        })
      : undefined,
  }));
}

/** The ranking section of the fleet and service pages (`here` builds the page's URL for a `by`). */
export function rankingView(ranking: Ranking, here: (by: string) => string, apiUrl: string) {
  return {
    by: ranking.metric.key,
    title: ranking.metric.title,
    choices: [
      ...RANKING_METRICS.map((m) => ({ key: m.key, title: m.title })),
      ...(RANKING_METRICS.some((m) => m.key === ranking.metric.key)
        ? []
        : [{ key: ranking.metric.key, title: ranking.metric.title }]),
    ].map((choice) => ({ ...choice, url: here(choice.key), selected: choice.key === ranking.metric.key })),
    rows: rankingRows(ranking),
    hosts: ranking.hosts,
    missing: ranking.missing,
    apiUrl,
  };
}

/* ---------- service ---------- */

export interface ServicePageInput {
  service: string;
  /** Hosts of the service (its labels come from them). */
  hosts: HostRecord[];
  /** The `label=` asked for ('' = the whole service). */
  label: string;
  range: RangeQuery;
  listed: PluginGraphs[];
  statuses: Map<string, HostStatusReport>;
  now: number;
  ranking: Ranking;
}

/**
 * The service page: the service's (or one label's) graphs over all its hosts, with the same
 * terms, custom range and widths as a host page, and a link per label.
 */
export function serviceView(input: ServicePageInput) {
  const { service, label, range } = input;
  const members = input.hosts.filter((h) => label === '' || h.label === label);
  const labelNames = [...new Set(input.hosts.map((h) => h.label).filter(Boolean))].sort(byName);
  const params = { ...rangeParams(range), width: range.width, label: label || undefined };
  const here = (extra: Params) =>
    serviceUrl(service, {
      ...rangeParams(range),
      width: range.width === DEFAULT_PAGE_WIDTH ? undefined : range.width,
      label: label || undefined,
      ...extra,
    });
  const counts: Record<HostStatus, number> = { ok: 0, warn: 0, critical: 0, unknown: 0 };
  for (const host of members) counts[input.statuses.get(host.address)?.status ?? 'unknown']++;
  return {
    title: `${label ? `${service} / ${label}` : service} - Kurado`,
    service,
    label,
    hostCount: members.length,
    counts,
    statusLabel: STATUS_LABEL,
    labels: [
      { name: 'all hosts', url: here({ label: undefined }), active: label === '' },
      ...labelNames.map((name) => ({ name, url: here({ label: name }), active: label === name })),
    ],
    plugins: input.listed.map((entry) => ({
      plugin: entry.plugin,
      id: anchorId('plugin', entry.plugin),
      groups: entry.groups.map((group) => ({
        title: group.title,
        graphs: group.graphs.map((graph) => ({
          key: graph.key,
          title: graph.title,
          src: serviceGraphPngUrl(service, entry.plugin, graph.key, params),
          data: serviceGraphDataUrl(service, entry.plugin, graph.key, {
            ...rangeParams(range),
            label: label || undefined,
          }),
        })),
      })),
    })),
    range,
    ...rangeChoices(range, WIDTHS, here),
    ...pickerValues(range, input.now),
    formAction: serviceUrl(service),
    hiddenFields: [
      { name: 'width', value: range.width },
      ...(label ? [{ name: 'label', value: label }] : []),
    ],
    ranking: rankingView(
      input.ranking,
      (by) => `${here({ by: by === 'load' ? undefined : by })}#ranking`,
      `/api/top${queryString({ service, label: label || undefined, by: input.ranking.metric.key })}`,
    ),
    fleetUrl: `/${queryString({ service })}`,
    apiUrl: `/api/services/${encodeURIComponent(service)}/graphs${queryString({ ...params, width: range.width })}`,
  };
}

/* ---------- compare ---------- */

export interface ComparePageInput {
  /** Found hosts, one per address, in the order asked. */
  hosts: HostRecord[];
  /** Names asked for that no host has. */
  missing: string[];
  /** Graphs of every host, in the order of `hosts`. */
  listed: PluginGraphs[][];
  statuses: Map<string, HostStatus>;
  range: RangeQuery;
  /** The `plugin=` asked for. */
  plugin: string | undefined;
  now: number;
}

/** Hosts side by side: one row per graph key of the chosen plugin, one cell per host. */
export function compareView(input: ComparePageInput) {
  const { hosts, listed, range } = input;
  const pluginNames: string[] = [];
  for (const [index, host] of hosts.entries()) {
    for (const plugin of host.plugins) if (!pluginNames.includes(plugin)) pluginNames.push(plugin);
    for (const entry of listed[index] ?? [])
      if (!pluginNames.includes(entry.plugin)) pluginNames.push(entry.plugin);
  }
  const requested = input.plugin;
  const plugin = requested && pluginNames.includes(requested) ? requested : (pluginNames[0] ?? BASE_PLUGIN);
  const params = { ...rangeParams(range), width: range.width };
  // Graph rows: every graph key of the plugin over all hosts, in first-seen order.
  const rows: {
    key: string;
    title: string;
    group: string;
    cells: { host: HostRecord; src: string; url: string; status: HostStatus }[];
  }[] = [];
  for (const [index, host] of hosts.entries()) {
    const entry = (listed[index] ?? []).find((p) => p.plugin === plugin);
    for (const group of entry?.groups ?? []) {
      for (const graph of group.graphs) {
        let row = rows.find((r) => r.key === graph.key);
        if (!row) {
          row = { key: graph.key, title: graph.title, group: group.title, cells: [] };
          rows.push(row);
        }
        row.cells.push({
          host,
          src: graphPngUrl(host.address, graph.plugin || plugin, graph.key, params),
          url: hostUrl(host.address, { ...rangeParams(range), plugin }),
          status: input.statuses.get(host.address) ?? 'unknown',
        });
      }
    }
  }
  const hostParams = hosts.map((h) => h.address);
  const here = (extra: Params) =>
    `/compare${queryString({
      host: hostParams,
      plugin,
      ...rangeParams(range),
      width: range.width === DEFAULT_COMPARE_WIDTH ? undefined : range.width,
      ...extra,
    })}`;
  return {
    title: `Compare ${hosts.length} hosts - Kurado`,
    hosts,
    missing: input.missing,
    plugin,
    plugins: pluginNames.map((name) => ({
      name,
      short: shortPlugin(name),
      url: here({ plugin: name }),
      active: name === plugin,
    })),
    rows,
    range,
    statusLabel: STATUS_LABEL,
    ...rangeChoices(range, COMPARE_WIDTHS, here),
    hostParams,
    ...pickerValues(range, input.now),
  };
}
