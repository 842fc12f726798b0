/**
 * The HTML pages: the fleet, one host, one graph over several terms, and hosts side by side.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { PluginGraphs, Term } from '../../core/graphs/types.js';
import { BASE_PLUGIN, baseState } from '../../core/store/status.js';
import {
  type HostRecord,
  type HostStatus,
  type MetaEntry,
  STALE_AFTER_SECONDS,
  UNREGISTERED_SERVICE,
} from '../../core/store/types.js';
import {
  DEFAULT_COMPARE_WIDTH,
  DEFAULT_PAGE_WIDTH,
  graphDataUrl,
  graphPngUrl,
  graphViewUrl,
  hostUrl,
  list,
  localInputValue,
  localTimeText,
  MAX_COMPARE_HOSTS,
  metaBadges,
  parseRange,
  QueryError,
  queryString,
  type RangeQuery,
  shortPlugin,
  single,
  TERM_BUTTONS,
  WIDTHS,
} from '../format.js';
import { capped } from '../limits.js';
import { type RouteContext, rangeParams } from './shared.js';

const STATUS_LABEL: Record<HostStatus, string> = {
  ok: 'OK',
  warn: 'Warning',
  critical: 'Critical',
  unknown: 'Unknown (never seen)',
};

interface ServiceView {
  name: string;
  id: string;
  count: number;
  labels: {
    name: string;
    hosts: (HostRecord & { status: HostStatus; statusTitle: string; url: string })[];
  }[];
}

function sortServices(a: string, b: string): number {
  if (a === UNREGISTERED_SERVICE && b !== UNREGISTERED_SERVICE) return 1;
  if (b === UNREGISTERED_SERVICE && a !== UNREGISTERED_SERVICE) return -1;
  return a.localeCompare(b, undefined, { sensitivity: 'base' });
}

function anchorId(prefix: string, value: string): string {
  return `${prefix}-${createHash('sha1').update(value).digest('hex').slice(0, 10)}`;
}

/** Run `fn` over `items` with at most `limit` in flight, keeping the order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

interface PluginView {
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

function pluginViews(
  host: HostRecord,
  listed: PluginGraphs[],
  meta: MetaEntry[],
  warnings: { plugin: string; name: string; message: string; timestamp: number }[],
  params: Record<string, string | number | undefined>,
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

/** The terms the single-graph page shows, one above the other. */
const GRAPH_VIEW_TERMS: { term: Term; label: string }[] = [
  { term: '8hours', label: '8 hours' },
  { term: 'day', label: 'Day' },
  { term: 'week', label: 'Week' },
  { term: 'month', label: 'Month' },
  { term: 'year', label: 'Year' },
];

export function registerPageRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, graphs, nowSeconds, page, htmlError } = context;

  /* ---------- fleet ---------- */

  async function fleetData(serviceFilter?: string) {
    const [hosts, statuses] = await Promise.all([store.listHosts(), store.statusReports(nowSeconds())]);
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
    const counts: Record<HostStatus, number> = { ok: 0, warn: 0, critical: 0, unknown: 0 };
    const views: ServiceView[] = [...services.keys()].sort(sortServices).map((name) => {
      const labels = services.get(name)!;
      let count = 0;
      return {
        name,
        id: anchorId('service', name),
        get count() {
          return count;
        },
        labels: [...labels.keys()]
          .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }))
          .map((label) => ({
            name: label,
            hosts: labels.get(label)!.map((host) => {
              count++;
              const report = statuses.get(host.address);
              const status = report?.status ?? 'unknown';
              if (serviceFilter === undefined || serviceFilter === name) counts[status]++;
              return {
                ...host,
                status,
                statusTitle: report?.reason
                  ? `${STATUS_LABEL[status]}: ${report.reason}`
                  : STATUS_LABEL[status],
                url: hostUrl(host.address),
              };
            }),
          })),
      };
    });
    return { services: views, total: hosts.length, counts };
  }

  app.get('/', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const service = single(query.service);
    const data = await fleetData(service);
    if (service !== undefined && !data.services.some((s) => s.name === service)) {
      return htmlError(reply, 404, 'Unknown service', `There is no service "${service}".`);
    }
    return page(reply, 'fleet', {
      title: 'Kurado',
      services: data.services,
      shown: service === undefined ? data.services : data.services.filter((s) => s.name === service),
      selectedService: service,
      total: data.total,
      counts: data.counts,
      q: single(query.q) ?? '',
      statusLabel: STATUS_LABEL,
      maxCompare: MAX_COMPARE_HOSTS,
      queryString,
    });
  });

  /* ---------- host ---------- */

  app.get('/host/:host', async (request, reply) => {
    const { host: key } = request.params as { host: string };
    const query = request.query as Record<string, unknown>;
    let range: RangeQuery;
    try {
      range = parseRange(query, DEFAULT_PAGE_WIDTH);
    } catch (error) {
      if (error instanceof QueryError) return htmlError(reply, 400, 'Bad request', error.message);
      throw error;
    }
    const host = await store.findHost(key);
    if (!host) return htmlError(reply, 404, 'Unknown host', `There is no host "${key}".`);
    const nowS = nowSeconds();
    const [meta, warnings, lastReceived, statuses] = await Promise.all([
      store.meta(host.address, nowS),
      store.warnings(host.address, nowS),
      store.lastReceived(host.address),
      store.statusReports(nowS, [host.address]),
    ]);
    const listed = await graphs.list(host.address, meta);
    const report = statuses.get(host.address);
    const params = { ...rangeParams(range), width: range.width };
    // A host that sent 100,000 warnings still gets a page of bounded size.
    const metaShown = capped(meta, context.limits.metaPerHost);
    const warningsShown = capped(warnings, context.limits.warningsPerHost);
    const plugins = pluginViews(host, listed, metaShown.items, warningsShown.items, params);
    const truncated =
      metaShown.truncated || warningsShown.truncated
        ? `Showing ${metaShown.items.length} of ${meta.length} meta values and ${warningsShown.items.length} of ${warnings.length} warnings.`
        : undefined;
    const pluginFilter = single(query.plugin);
    const base = baseState(
      host.plugins,
      lastReceived.find((entry) => entry.plugin === BASE_PLUGIN)?.at,
      nowS,
    );
    const stale =
      base.state === 'stale'
        ? `Metrics are not updated in the last ${STALE_AFTER_SECONDS / 60} minutes. This host or its agent has been down. Last updated: ${localTimeText(base.receivedAt)}`
        : base.state === 'never'
          ? 'No metrics were ever received from this host.'
          : undefined;
    const to = range.to ?? Math.floor(nowS / 900) * 900;
    const from = range.from ?? to - 32 * 3600;
    const here = (extra: Record<string, string | number | undefined>) =>
      hostUrl(host.address, {
        ...rangeParams(range),
        width: range.width === DEFAULT_PAGE_WIDTH ? undefined : range.width,
        plugin: pluginFilter,
        ...extra,
      });
    return page(reply, 'host', {
      title: `${host.hostname} (${host.address}) - Kurado`,
      host,
      status: report?.status ?? 'unknown',
      statusReason: report?.reason ?? '',
      statusLabel: STATUS_LABEL,
      plugins,
      shown: pluginFilter ? plugins.filter((p) => p.plugin === pluginFilter) : plugins,
      pluginFilter,
      stale,
      truncated,
      range,
      terms: TERM_BUTTONS.map((button) => ({
        ...button,
        url: here({ term: button.term, from: undefined, to: undefined }),
        active: range.term === button.term,
      })),
      widths: WIDTHS.map((width) => ({ width, url: here({ width }), active: range.width === width })),
      pluginUrl: (plugin?: string) => here({ plugin }),
      fromValue: localInputValue(from),
      toValue: localInputValue(to),
      fromEpoch: from,
      toEpoch: to,
      fleetUrl: `/${queryString({ service: host.service })}`,
      apiUrl: `/api/hosts/${encodeURIComponent(host.address)}/graphs${queryString(params)}`,
    });
  });

  /* ---------- one graph over several terms ---------- */

  app.get('/host/:host/graph/:plugin/:graph', async (request, reply) => {
    const { host: key, plugin, graph } = request.params as { host: string; plugin: string; graph: string };
    let range: RangeQuery;
    try {
      range = parseRange(request.query as Record<string, unknown>, 700);
    } catch (error) {
      if (error instanceof QueryError) return htmlError(reply, 400, 'Bad request', error.message);
      throw error;
    }
    const host = await store.findHost(key);
    if (!host) return htmlError(reply, 404, 'Unknown host', `There is no host "${key}".`);
    const listed = await graphs.list(host.address, await store.meta(host.address, nowSeconds()));
    const info = listed
      .find((entry) => entry.plugin === plugin)
      ?.groups.flatMap((group) => group.graphs.map((g) => ({ ...g, group: group.title })))
      .find((g) => g.key === graph);
    if (!info) {
      return htmlError(
        reply,
        404,
        'Unknown graph',
        `Host ${host.hostname} has no graph "${graph}" for plugin "${plugin}".`,
      );
    }
    const here = (width: number) => `${graphViewUrl(host.address, plugin, graph)}${queryString({ width })}`;
    return page(reply, 'graph', {
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
    });
  });

  /* ---------- compare ---------- */

  app.get('/compare', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    let range: RangeQuery;
    try {
      range = parseRange(query, DEFAULT_COMPARE_WIDTH);
    } catch (error) {
      if (error instanceof QueryError) return htmlError(reply, 400, 'Bad request', error.message);
      throw error;
    }
    const keys = [...new Set(list(query.host))];
    if (keys.length === 0)
      return htmlError(reply, 400, 'Bad request', 'Choose hosts to compare: /compare?host=A&host=B');
    if (keys.length > MAX_COMPARE_HOSTS) {
      return htmlError(
        reply,
        400,
        'Bad request',
        `At most ${MAX_COMPARE_HOSTS} hosts can be compared, not ${keys.length}.`,
      );
    }
    const found = await mapLimit(keys, 16, (key) => store.findHost(key));
    const missing = keys.filter((_key, index) => !found[index]);
    const hosts = [
      ...new Map(found.filter((h): h is HostRecord => Boolean(h)).map((h) => [h.address, h])).values(),
    ];
    if (hosts.length === 0)
      return htmlError(reply, 404, 'Unknown hosts', `None of ${keys.join(', ')} is known.`);
    const nowS = nowSeconds();
    const statuses = await store.statuses(
      nowS,
      hosts.map((h) => h.address),
    );
    const listed = await mapLimit(hosts, 16, async (host) =>
      graphs.list(host.address, await store.meta(host.address, nowS)),
    );
    const pluginNames: string[] = [];
    for (const [index, host] of hosts.entries()) {
      for (const plugin of host.plugins) if (!pluginNames.includes(plugin)) pluginNames.push(plugin);
      for (const entry of listed[index] ?? [])
        if (!pluginNames.includes(entry.plugin)) pluginNames.push(entry.plugin);
    }
    const requested = single(query.plugin);
    const plugin = requested && pluginNames.includes(requested) ? requested : (pluginNames[0] ?? 'base');
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
            status: statuses.get(host.address) ?? 'unknown',
          });
        }
      }
    }
    const hostParams = hosts.map((h) => h.address);
    const here = (extra: Record<string, string | number | undefined>) =>
      `/compare${queryString({
        host: hostParams,
        plugin,
        ...rangeParams(range),
        width: range.width === DEFAULT_COMPARE_WIDTH ? undefined : range.width,
        ...extra,
      })}`;
    const to = range.to ?? Math.floor(nowS / 900) * 900;
    const from = range.from ?? to - 32 * 3600;
    return page(reply, 'compare', {
      title: `Compare ${hosts.length} hosts - Kurado`,
      hosts,
      missing,
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
      terms: TERM_BUTTONS.map((button) => ({
        ...button,
        url: here({ term: button.term, from: undefined, to: undefined }),
        active: range.term === button.term,
      })),
      widths: [300, DEFAULT_COMPARE_WIDTH, 500, 700].map((width) => ({
        width,
        url: here({ width }),
        active: range.width === width,
      })),
      hostParams,
      fromValue: localInputValue(from),
      toValue: localInputValue(to),
      fromEpoch: from,
      toEpoch: to,
    });
  });
}
