/**
 * The JSON API (and the plain-text server list) under /api/.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HostRecord, HostStatus } from '../../core/store/types.js';
import {
  DEFAULT_PNG_WIDTH,
  graphDataUrl,
  graphPngUrl,
  hostUrl,
  list,
  parseRange,
  QueryError,
  type RangeQuery,
  rangeParams,
  serviceGraphDataUrl,
  serviceGraphPngUrl,
  single,
} from '../format.js';
import { capped, cutText } from '../limits.js';
import { nextPage, pageItems, pageOf } from '../paging.js';
import {
  claimRender,
  graphCacheControl,
  graphRequest,
  graphTarget,
  type RouteContext,
  runGraph,
  serviceGraphTarget,
  textError,
} from './shared.js';

function hostJson(host: HostRecord, status: HostStatus) {
  return {
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
  };
}

/** POST /api/status: `{"hosts": ["10.0.0.1", "web01", …]}` (or `"host"`), nothing else. */
function statusBodySchema(hostsPerRequest: number, hostLength: number) {
  const name = { type: 'string', minLength: 1, maxLength: hostLength };
  const names = { type: 'array', maxItems: hostsPerRequest, items: name };
  return {
    type: 'object',
    additionalProperties: false,
    properties: { hosts: names, host: { anyOf: [name, names] } },
  } as const;
}

export function registerApiRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, graphs, nowSeconds, limits } = context;

  app.get('/api/hosts', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const service = single(query.service);
    const page = pageOf(query, limits.pageSize);
    if (typeof page === 'string') return textError(reply, 400, `400 Bad Request: ${page}`);
    const [hosts, statuses] = await Promise.all([store.listHosts(), store.statuses(nowSeconds())]);
    const shown = hosts.filter((host) => service === undefined || host.service === service);
    return reply.header('Cache-Control', 'no-cache').send({
      total: shown.length,
      offset: page.offset,
      limit: page.limit,
      next: nextPage('/api/hosts', query, page, shown.length),
      hosts: pageItems(shown, page).map((host) => hostJson(host, statuses.get(host.address) ?? 'unknown')),
    });
  });

  // Text, one line per host, paged like /api/hosts: the `Link` header names the next page
  // (RFC 8288) and `X-Total-Count` how many hosts there are.
  app.get('/api/servers', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const service = single(query.service);
    const page = pageOf(query, limits.pageSize);
    if (typeof page === 'string') return textError(reply, 400, `400 Bad Request: ${page}`);
    const hosts = (await store.listHosts()).filter(
      (host) => service === undefined || host.service === service,
    );
    const next = nextPage('/api/servers', query, page, hosts.length);
    if (next !== null) reply.header('Link', `<${next}>; rel="next"`);
    return reply
      .header('X-Total-Count', String(hosts.length))
      .type('text/plain; charset=utf-8')
      .send(
        pageItems(hosts, page)
          .map((h) => `${[h.address, h.hostname, h.comments].filter(Boolean).join(' ')}\n`)
          .join(''),
      );
  });

  const statusHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = (request.body ?? {}) as { hosts?: string[]; host?: string | string[] };
    const query = request.query as Record<string, unknown>;
    const wanted = [...new Set([...list(query.host), ...list(body.hosts), ...list(body.host)])];
    if (wanted.length > limits.hostsPerRequest) {
      return textError(
        reply,
        400,
        `400 Bad Request: at most ${limits.hostsPerRequest} hosts per request, not ${wanted.length}; leave them out for every host, page by page`,
      );
    }
    const tooLong = wanted.find((host) => host.length > limits.hostParamLength);
    if (tooLong !== undefined)
      return textError(
        reply,
        400,
        `400 Bad Request: a host name is longer than ${limits.hostParamLength} characters`,
      );
    const page = pageOf(query, limits.pageSize);
    if (typeof page === 'string') return textError(reply, 400, `400 Bad Request: ${page}`);
    const nowS = nowSeconds();
    const reports = await store.statusReports(nowS, wanted.length ? wanted : undefined);
    const addresses = wanted.length ? wanted : [...reports.keys()].sort();
    const shown = wanted.length ? addresses : pageItems(addresses, page);
    const statuses: Record<string, HostStatus> = {};
    const reasons: Record<string, string> = {};
    for (const address of shown) {
      const report = reports.get(address);
      statuses[address] = report?.status ?? 'unknown';
      if (report?.reason) reasons[address] = cutText(report.reason, limits.valueLength);
    }
    return reply.header('Cache-Control', 'no-cache').send({
      at: nowS,
      total: addresses.length,
      next: wanted.length ? null : nextPage('/api/status', query, page, addresses.length),
      statuses,
      reasons,
    });
  };
  app.get('/api/status', statusHandler);
  app.post(
    '/api/status',
    { schema: { body: statusBodySchema(limits.hostsPerRequest, limits.hostParamLength) } },
    statusHandler,
  );

  app.get('/api/hosts/:host', async (request, reply) => {
    const { host: key } = request.params as { host: string };
    const host = await store.findHost(key);
    if (!host) return textError(reply, 404, `404 Not Found: unknown host "${key}"`);
    const nowS = nowSeconds();
    const [meta, warnings, lastReceived, statuses] = await Promise.all([
      store.meta(host.address, nowS),
      store.warnings(host.address, nowS),
      store.lastReceived(host.address),
      store.statuses(nowS, [host.address]),
    ]);
    const metaShown = capped(meta, limits.metaPerHost);
    const warningsShown = capped(warnings, limits.warningsPerHost);
    return reply.header('Cache-Control', 'no-cache').send({
      ...hostJson(host, statuses.get(host.address) ?? 'unknown'),
      meta: metaShown.items.map(({ plugin, name, value, timestamp }) => ({
        plugin,
        name,
        value: cutText(value, limits.valueLength),
        timestamp,
      })),
      warnings: warningsShown.items.map(({ plugin, name, message, timestamp }) => ({
        plugin,
        name,
        message: cutText(message, limits.valueLength),
        timestamp,
      })),
      // More meta or warnings than one answer carries: the counts say how many there are.
      truncated: { meta: metaShown.truncated, warnings: warningsShown.truncated },
      counts: { meta: meta.length, warnings: warnings.length },
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
    const host = await store.findHost(key);
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
    const target = await graphTarget(context, request, reply, '.json', true, 'data');
    if (!target) return reply;
    const release = claimRender(context, request, reply, 'data');
    if (!release) return reply;
    let data: Awaited<ReturnType<typeof graphs.exportData>> | undefined;
    try {
      const meta = await store.meta(target.host.address, nowSeconds(), target.plugin);
      data = await runGraph(context, 'data', reply, () => graphs.exportData(graphRequest(target), meta));
    } finally {
      release();
    }
    if (!data) return reply;
    reply.header('Cache-Control', graphCacheControl(context));
    return reply.send({
      host: target.host.address,
      plugin: target.plugin,
      graph: target.graph,
      term: target.range.term,
      ...data,
    });
  });

  app.get('/api/services/:service/graphs', async (request, reply) => {
    const { service } = request.params as { service: string };
    const query = request.query as Record<string, unknown>;
    let range: RangeQuery;
    try {
      range = parseRange(query, DEFAULT_PNG_WIDTH);
    } catch (error) {
      if (error instanceof QueryError) return textError(reply, 400, `400 Bad Request: ${error.message}`);
      throw error;
    }
    const label = single(query.label) ?? '';
    const hosts = (await store.listHosts()).filter((h) => h.service === service);
    if (hosts.length === 0) return textError(reply, 404, `404 Not Found: unknown service "${service}"`);
    if (label !== '' && !hosts.some((h) => h.label === label))
      return textError(reply, 404, `404 Not Found: service "${service}" has no label "${label}"`);
    const listed = await graphs.listAggregate({ service, label });
    const params = {
      ...rangeParams(range),
      width: range.width,
      height: range.height === 100 ? undefined : range.height,
      label: label || undefined,
    };
    return reply.header('Cache-Control', 'no-cache').send({
      service,
      label,
      hosts: label === '' ? hosts.length : hosts.filter((h) => h.label === label).length,
      plugins: listed.map((entry) => ({
        plugin: entry.plugin,
        groups: entry.groups.map((group) => ({
          title: group.title,
          graphs: group.graphs.map((graph) => ({
            plugin: entry.plugin,
            key: graph.key,
            title: graph.title,
            png: serviceGraphPngUrl(service, entry.plugin, graph.key, params),
            data: serviceGraphDataUrl(service, entry.plugin, graph.key, {
              ...rangeParams(range),
              label: label || undefined,
            }),
          })),
        })),
      })),
    });
  });

  app.get('/api/service-graph/:service/:plugin/:file', async (request, reply) => {
    const target = serviceGraphTarget(context, request, reply, '.json', true, 'data');
    if (!target) return reply;
    const release = claimRender(context, request, reply, 'data');
    if (!release) return reply;
    let data: Awaited<ReturnType<typeof graphs.exportAggregateData>> | undefined;
    try {
      data = await runGraph(context, 'data', reply, () => graphs.exportAggregateData(target));
    } finally {
      release();
    }
    if (!data) return reply;
    reply.header('Cache-Control', graphCacheControl(context));
    return reply.send({
      service: target.service,
      label: target.label,
      plugin: target.plugin,
      graph: target.graph,
      term: target.term,
      ...data,
    });
  });
}
