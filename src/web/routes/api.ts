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
  single,
} from '../format.js';
import {
  graphCacheControl,
  graphRequest,
  graphTarget,
  type RouteContext,
  rangeParams,
  runGraph,
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

export function registerApiRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, graphs, nowSeconds } = context;

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
    const host = await store.findHost(key);
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
    const meta = await store.meta(target.host.address, nowSeconds(), target.plugin);
    const data = await runGraph(context, 'data', reply, () => graphs.exportData(graphRequest(target), meta));
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
}
