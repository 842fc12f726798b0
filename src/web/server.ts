import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import fastifyStatic from '@fastify/static';
import { Eta } from 'eta';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { KuradoConfig } from '../core/config.js';
import {
  GraphNotFoundError,
  type GraphRequest,
  GraphRequestError,
  type GraphService,
  type PluginGraphs,
  type Term,
} from '../core/graphs/types.js';
import type { Logger } from '../core/log.js';
import {
  type HostRecord,
  type HostStatus,
  type MetaEntry,
  type MetaStore,
  STALE_AFTER_SECONDS,
  UNREGISTERED_SERVICE,
} from '../core/store/types.js';
import { AllowList, UsersFileWatcher } from './access.js';
import {
  DEFAULT_COMPARE_WIDTH,
  DEFAULT_PAGE_WIDTH,
  DEFAULT_PNG_WIDTH,
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
  secondsToNextMinute,
  shortPlugin,
  single,
  TERM_BUTTONS,
  WIDTHS,
} from './format.js';
import { createWebMetrics, type WebMetrics } from './metrics.js';

export interface WebServerOptions {
  store: MetaStore;
  graphs: GraphService;
  config: Pick<KuradoConfig, 'web'>;
  logger?: Logger;
  /** Epoch milliseconds; tests pin the clock. */
  now?: () => number;
  /** How often the users file is checked for changes (default 5 s). */
  usersFileCheckMs?: number;
}

const gzip = promisify(gzipCallback);

function findDir(name: string): string {
  // Source tree (tsx, tests) or a build that copied views/static next to the compiled file.
  for (const candidate of [`./${name}`, `../../src/web/${name}`]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error(
    `kurado serve: cannot find the web ${name} directory next to ${fileURLToPath(import.meta.url)}`,
  );
}

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

function rangeParams(range: RangeQuery): Record<string, string | number | undefined> {
  return {
    term: range.term,
    from: range.term === 'custom' ? range.from : undefined,
    to: range.term === 'custom' ? range.to : undefined,
  };
}

/**
 * The web UI, JSON API, PNG endpoint and `/metrics` of `kurado serve`. The caller owns the
 * store and the graph service (and closes them); `listen()` is up to the caller too.
 */
export async function createWebServer(options: WebServerOptions): Promise<FastifyInstance> {
  const { store, graphs, config } = options;
  const now = options.now ?? (() => Date.now());
  const nowSeconds = () => Math.floor(now() / 1000);
  const bootId = randomBytes(6).toString('hex');
  const app: FastifyInstance = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    // One log line per PNG would drown the journal; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // Plugin identifiers like `nginx:8080:/nginx_status` make long path segments.
    routerOptions: { maxParamLength: 1000 },
  }) as unknown as FastifyInstance;
  const metrics: WebMetrics = createWebMetrics(graphs);
  const eta = new Eta({ views: findDir('views'), cache: true, autoEscape: true, autoTrim: [false, 'nl'] });

  const allowList = new AllowList(config.web.allowFrom);
  const authenticator =
    config.web.auth === 'basic'
      ? (() => {
          if (!config.web.usersFile)
            throw new Error('--auth basic needs --users-file (lines from "kurado web passwd")');
          return new UsersFileWatcher(
            config.web.usersFile,
            (message) => options.logger?.error(message),
            options.usersFileCheckMs,
          );
        })()
      : undefined;
  const proxyHeader = config.web.trustedProxyHeader?.toLowerCase();
  if (proxyHeader && allowList.empty) {
    options.logger?.warn(
      { header: config.web.trustedProxyHeader },
      'trusted proxy header set without --allow-from: anyone who reaches this port can forge it',
    );
  }
  const privateCache = Boolean(authenticator || proxyHeader);

  app.addHook('onRequest', async (request, reply) => {
    if (!allowList.allows(request.socket.remoteAddress)) {
      metrics.authFailures.inc({ reason: 'allow_from' });
      return reply
        .code(403)
        .type('text/plain; charset=utf-8')
        .send(`403 Forbidden: ${request.socket.remoteAddress} is not in --allow-from\n`);
    }
    if (proxyHeader) {
      const user = request.headers[proxyHeader];
      if (typeof user !== 'string' || user.trim() === '') {
        metrics.authFailures.inc({ reason: 'auth' });
        return reply
          .code(401)
          .type('text/plain; charset=utf-8')
          .send(
            `401 Unauthorized: requests must come through the authenticating proxy (${config.web.trustedProxyHeader})\n`,
          );
      }
    }
    if (authenticator) {
      const user = await authenticator.check(request.headers.authorization);
      if (!user) {
        metrics.authFailures.inc({ reason: 'auth' });
        return reply
          .code(401)
          .header('WWW-Authenticate', 'Basic realm="Kurado", charset="UTF-8"')
          .type('text/plain; charset=utf-8')
          .send('401 Unauthorized\n');
      }
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({
      route: request.routeOptions.url ?? 'unmatched',
      method: request.method,
      status: String(reply.statusCode),
    });
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    const type = String(reply.getHeader('content-type') ?? '');
    // The fleet page of 3,000 hosts is ~1.3 MB of HTML and ~10% of it gzipped; PNGs are compressed already.
    if (
      typeof payload === 'string' &&
      payload.length >= 2048 &&
      /^(text\/html|application\/json|text\/plain)/.test(type) &&
      /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? '')) &&
      !reply.getHeader('content-encoding')
    ) {
      reply.header('Content-Encoding', 'gzip');
      reply.header('Vary', 'Accept-Encoding');
      reply.removeHeader('content-length');
      payload = await gzip(payload, { level: 4 });
    }
    if (type.startsWith('text/html')) {
      reply.header('X-Frame-Options', 'DENY');
      reply.header('Referrer-Policy', 'same-origin');
      reply.header(
        'Content-Security-Policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'",
      );
    }
    return payload;
  });

  await app.register(fastifyStatic, { root: findDir('static'), prefix: '/static/', maxAge: 3600_000 });

  const textError = (reply: FastifyReply, code: number, message: string) =>
    reply.code(code).type('text/plain; charset=utf-8').send(`${message}\n`);

  const page = (reply: FastifyReply, view: string, data: Record<string, unknown>) =>
    reply
      .type('text/html; charset=utf-8')
      .header('Cache-Control', 'no-cache')
      .send(eta.render(view, { ...data, privateCache }));

  const htmlError = (reply: FastifyReply, code: number, title: string, message: string) =>
    reply.code(code).type('text/html; charset=utf-8').send(eta.render('error', { title, message, code }));

  async function findHost(key: string): Promise<HostRecord | undefined> {
    return store.findHost(key);
  }

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
    const host = await findHost(key);
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
    const plugins = pluginViews(host, listed, meta, warnings, params);
    const pluginFilter = single(query.plugin);
    const base = lastReceived.find((entry) => entry.plugin === 'base');
    const stale =
      host.plugins.includes('base') && (!base || nowS - base.at > STALE_AFTER_SECONDS)
        ? base
          ? `Metrics are not updated in the last 5 minutes. This host or its agent has been down. Last updated: ${localTimeText(base.at)}`
          : 'No metrics were ever received from this host.'
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

  const GRAPH_VIEW_TERMS: { term: Term; label: string }[] = [
    { term: '8hours', label: '8 hours' },
    { term: 'day', label: 'Day' },
    { term: 'week', label: 'Week' },
    { term: 'month', label: 'Month' },
    { term: 'year', label: 'Year' },
  ];

  app.get('/host/:host/graph/:plugin/:graph', async (request, reply) => {
    const { host: key, plugin, graph } = request.params as { host: string; plugin: string; graph: string };
    let range: RangeQuery;
    try {
      range = parseRange(request.query as Record<string, unknown>, 700);
    } catch (error) {
      if (error instanceof QueryError) return htmlError(reply, 400, 'Bad request', error.message);
      throw error;
    }
    const host = await findHost(key);
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
    const found = await mapLimit(keys, 16, (key) => findHost(key));
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

  /* ---------- graphs ---------- */

  interface GraphTarget {
    host: HostRecord;
    plugin: string;
    graph: string;
    range: RangeQuery;
  }

  /** Resolve `/graph/<host>/<plugin>/<graph>.<ext>`; replies with 400/404 text and returns undefined. */
  async function graphTarget(
    request: FastifyRequest,
    reply: FastifyReply,
    extension: string,
    optionalExtension: boolean,
    kind: 'png' | 'data',
  ): Promise<GraphTarget | undefined> {
    const params = request.params as { host: string; plugin: string; file: string };
    let graph = params.file;
    if (graph.endsWith(extension)) graph = graph.slice(0, -extension.length);
    else if (!optionalExtension) {
      metrics.renderErrors.inc({ kind, reason: 'not_found' });
      textError(reply, 404, `404 Not Found: graph URLs end in ${extension}`);
      return undefined;
    }
    let range: RangeQuery;
    try {
      range = parseRange(request.query as Record<string, unknown>, DEFAULT_PNG_WIDTH);
    } catch (error) {
      if (!(error instanceof QueryError)) throw error;
      metrics.renderErrors.inc({ kind, reason: 'bad_request' });
      textError(reply, 400, `400 Bad Request: ${error.message}`);
      return undefined;
    }
    if (graph === '' || params.plugin === '') {
      metrics.renderErrors.inc({ kind, reason: 'not_found' });
      textError(reply, 404, '404 Not Found: empty plugin or graph name');
      return undefined;
    }
    const host = await findHost(params.host);
    if (!host) {
      metrics.renderErrors.inc({ kind, reason: 'not_found' });
      textError(reply, 404, `404 Not Found: unknown host "${params.host}"`);
      return undefined;
    }
    return { host, plugin: params.plugin, graph, range };
  }

  function graphRequest(target: GraphTarget): GraphRequest {
    const request: GraphRequest = {
      host: target.host.address,
      plugin: target.plugin,
      graph: target.graph,
      term: target.range.term,
      width: target.range.width,
      height: target.range.height,
      hostname: target.host.hostname,
    };
    if (target.range.from !== undefined) request.from = target.range.from;
    if (target.range.to !== undefined) request.to = target.range.to;
    return request;
  }

  async function runGraph<T>(
    kind: 'png' | 'data',
    reply: FastifyReply,
    work: () => Promise<T>,
  ): Promise<T | undefined> {
    const end = metrics.renderDuration.startTimer({ kind });
    metrics.rendersInFlight.inc({ kind });
    try {
      const result = await work();
      end();
      return result;
    } catch (error) {
      if (error instanceof GraphNotFoundError) {
        metrics.renderErrors.inc({ kind, reason: 'not_found' });
        textError(reply, 404, `404 Not Found: ${error.message}`);
      } else if (error instanceof GraphRequestError) {
        metrics.renderErrors.inc({ kind, reason: 'bad_request' });
        textError(reply, 400, `400 Bad Request: ${error.message}`);
      } else {
        metrics.renderErrors.inc({ kind, reason: 'error' });
        logFailure(error);
        textError(reply, 500, `500 Internal Server Error: ${(error as Error).message}`);
      }
      return undefined;
    } finally {
      metrics.rendersInFlight.dec({ kind });
    }
  }

  function logFailure(error: unknown) {
    options.logger?.error({ err: error }, 'graph request failed');
  }

  const cacheControl = () =>
    `${privateCache ? 'private' : 'public'}, max-age=${secondsToNextMinute(now())}, must-revalidate`;

  app.get('/graph/:host/:plugin/:file', async (request, reply) => {
    const target = await graphTarget(request, reply, '.png', false, 'png');
    if (!target) return reply;
    const minute = Math.floor(now() / 60_000);
    // Graphs change once a minute: the ETag names the request and the minute it was drawn in.
    const etag = `"${createHash('sha1')
      .update(
        [
          bootId,
          minute,
          target.host.address,
          target.host.hostname,
          target.plugin,
          target.graph,
          target.range.term,
          target.range.from,
          target.range.to,
          target.range.width,
          target.range.height,
        ].join('\n'),
      )
      .digest('base64url')}"`;
    const match = request.headers['if-none-match'];
    if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) {
      metrics.notModified.inc();
      return reply.code(304).header('ETag', etag).header('Cache-Control', cacheControl()).send();
    }
    const meta = await store.meta(target.host.address, nowSeconds(), target.plugin);
    const png = await runGraph('png', reply, () => graphs.renderPng(graphRequest(target), meta));
    if (!png) return reply;
    return reply.type('image/png').header('ETag', etag).header('Cache-Control', cacheControl()).send(png);
  });

  /* ---------- JSON API ---------- */

  const hostJson = (host: HostRecord, status: HostStatus) => ({
    address: host.address,
    hostname: host.hostname,
    comments: host.comments,
    service: host.service,
    label: host.label,
    role: host.role,
    plugins: host.plugins,
    origin: host.origin,
    status,
    url: hostUrl(host.address),
  });

  app.get('/api/hosts', async (request, reply) => {
    const service = single((request.query as Record<string, unknown>).service);
    const [hosts, statuses] = await Promise.all([store.listHosts(), store.statuses(nowSeconds())]);
    return reply.header('Cache-Control', 'no-cache').send({
      hosts: hosts
        .filter((host) => service === undefined || host.service === service)
        .map((host) => hostJson(host, statuses.get(host.address) ?? 'unknown')),
    });
  });

  app.get('/api/servers', async (request, reply) => {
    const service = single((request.query as Record<string, unknown>).service);
    const hosts = (await store.listHosts()).filter(
      (host) => service === undefined || host.service === service,
    );
    return reply
      .type('text/plain; charset=utf-8')
      .send(hosts.map((h) => [h.address, h.hostname, h.comments].filter(Boolean).join(' ') + '\n').join(''));
  });

  const statusHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const query = request.query as Record<string, unknown>;
    const wanted = [...list(query.host), ...list(body.hosts), ...list(body.host)];
    const nowS = nowSeconds();
    const reports = await store.statusReports(nowS, wanted.length ? wanted : undefined);
    const statuses: Record<string, HostStatus> = {};
    const reasons: Record<string, string> = {};
    for (const address of wanted.length ? wanted : reports.keys()) {
      const report = reports.get(address);
      statuses[address] = report?.status ?? 'unknown';
      if (report?.reason) reasons[address] = report.reason;
    }
    return reply.header('Cache-Control', 'no-cache').send({ at: nowS, statuses, reasons });
  };
  app.get('/api/status', statusHandler);
  app.post('/api/status', statusHandler);

  app.get('/api/hosts/:host', async (request, reply) => {
    const { host: key } = request.params as { host: string };
    const host = await findHost(key);
    if (!host) return textError(reply, 404, `404 Not Found: unknown host "${key}"`);
    const nowS = nowSeconds();
    const [meta, warnings, lastReceived, statuses] = await Promise.all([
      store.meta(host.address, nowS),
      store.warnings(host.address, nowS),
      store.lastReceived(host.address),
      store.statuses(nowS, [host.address]),
    ]);
    return reply.header('Cache-Control', 'no-cache').send({
      ...hostJson(host, statuses.get(host.address) ?? 'unknown'),
      meta: meta.map(({ plugin, name, value, timestamp }) => ({ plugin, name, value, timestamp })),
      warnings: warnings.map(({ plugin, name, message, timestamp }) => ({
        plugin,
        name,
        message,
        timestamp,
      })),
      lastReceived: lastReceived.map(({ plugin, at }) => ({ plugin, at })),
    });
  });

  app.get('/api/hosts/:host/graphs', async (request, reply) => {
    const { host: key } = request.params as { host: string };
    let range: RangeQuery;
    try {
      range = parseRange(request.query as Record<string, unknown>, DEFAULT_PNG_WIDTH);
    } catch (error) {
      if (error instanceof QueryError) return textError(reply, 400, `400 Bad Request: ${error.message}`);
      throw error;
    }
    const host = await findHost(key);
    if (!host) return textError(reply, 404, `404 Not Found: unknown host "${key}"`);
    const meta = await store.meta(host.address, nowSeconds());
    const listed = await graphs.list(host.address, meta);
    const params = {
      ...rangeParams(range),
      width: range.width,
      height: range.height === 100 ? undefined : range.height,
    };
    return reply.header('Cache-Control', 'no-cache').send({
      host: host.address,
      hostname: host.hostname,
      plugins: listed.map((entry) => ({
        plugin: entry.plugin,
        groups: entry.groups.map((group) => ({
          title: group.title,
          graphs: group.graphs.map((graph) => ({
            plugin: graph.plugin || entry.plugin,
            key: graph.key,
            title: graph.title,
            png: graphPngUrl(host.address, graph.plugin || entry.plugin, graph.key, params),
            data: graphDataUrl(host.address, graph.plugin || entry.plugin, graph.key, rangeParams(range)),
          })),
        })),
      })),
    });
  });

  app.get('/api/graph/:host/:plugin/:file', async (request, reply) => {
    const target = await graphTarget(request, reply, '.json', true, 'data');
    if (!target) return reply;
    const meta = await store.meta(target.host.address, nowSeconds(), target.plugin);
    const data = await runGraph('data', reply, () => graphs.exportData(graphRequest(target), meta));
    if (!data) return reply;
    reply.header('Cache-Control', cacheControl());
    return reply.send({
      host: target.host.address,
      plugin: target.plugin,
      graph: target.graph,
      term: target.range.term,
      ...data,
    });
  });

  /* ---------- /metrics ---------- */

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).header('Cache-Control', 'no-cache').send(text);
  });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('ok\n'));

  app.setNotFoundHandler(async (request, reply) => {
    const accept = request.headers.accept ?? '';
    if (accept.includes('text/html')) return htmlError(reply, 404, 'Not found', `Nothing at ${request.url}.`);
    return textError(reply, 404, `404 Not Found: ${request.method} ${request.url}`);
  });

  app.setErrorHandler(async (error, request, reply) => {
    options.logger?.error({ err: error, url: request.url }, 'request failed');
    const status = (error as { statusCode?: number }).statusCode;
    const code = status && status >= 400 && status < 500 ? status : 500;
    return textError(reply, code, `${code} ${(error as Error).message}`);
  });

  return app;
}
