/**
 * The HTML pages: the fleet, one host, one graph over several terms, and hosts side by side.
 * Each route asks the store and the graph service, then hands the answers to a view builder
 * (../page-views.ts) and renders its result.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Ranking, RankingError } from '../../core/aggregate/rankings.js';
import type { HostRecord } from '../../core/store/types.js';
import {
  DEFAULT_COMPARE_WIDTH,
  DEFAULT_GRAPH_PAGE_WIDTH,
  DEFAULT_PAGE_WIDTH,
  list,
  MAX_COMPARE_HOSTS,
  parseRange,
  QueryError,
  queryString,
  type RangeQuery,
  single,
} from '../format.js';
import { reusedFor } from '../limits.js';
import { compareView, fleetView, graphView, hostView, rankingView, serviceView } from '../page-views.js';
import { pageOf } from '../paging.js';
import { PAGE_RANKING_ROWS, readRanking } from './rankings.js';
import type { RouteContext } from './shared.js';

/** Store lookups of the compare page in flight at once. */
const STORE_CONCURRENCY = 16;

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

export function registerPageRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, graphs, nowSeconds, page, htmlError } = context;

  /** The ranking a page shows, or a 400 page for a bad `by` (then undefined). */
  const pageRanking = async (
    hosts: HostRecord[],
    by: string | undefined,
    reply: FastifyReply,
  ): Promise<Ranking | undefined> => {
    try {
      return await readRanking(context, hosts, by, PAGE_RANKING_ROWS);
    } catch (error) {
      if (!(error instanceof RankingError)) throw error;
      htmlError(reply, 400, 'Bad request', error.message);
      return undefined;
    }
  };

  /** The page's range from its query, or a 400 page (then undefined). */
  const pageRange = (query: unknown, defaultWidth: number, reply: FastifyReply): RangeQuery | undefined => {
    try {
      return parseRange(query as Record<string, unknown>, defaultWidth);
    } catch (error) {
      if (!(error instanceof QueryError)) throw error;
      htmlError(reply, 400, 'Bad request', error.message);
      return undefined;
    }
  };

  const fleetSnapshot = reusedFor(context.limits.fleetSnapshotMs, () =>
    Promise.all([store.listHosts(), store.statusReports(nowSeconds())]),
  );

  app.get('/', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const service = single(query.service);
    const pageQuery = pageOf(query, context.limits.fleetPageSize);
    if (typeof pageQuery === 'string') return htmlError(reply, 400, 'Bad request', pageQuery);
    const [hosts, statuses] = await fleetSnapshot();
    const view = fleetView(hosts, statuses, {
      service,
      q: single(query.q) ?? '',
      page: pageQuery,
      query,
      maxServices: context.limits.pageSize,
    });
    if (!view.serviceFound) {
      return htmlError(reply, 404, 'Unknown service', `There is no service "${service}".`);
    }
    const by = single(query.by);
    const ranking = await pageRanking(
      service === undefined ? hosts : hosts.filter((h) => h.service === service),
      by,
      reply,
    );
    if (!ranking) return reply;
    return page(reply, 'fleet', {
      ...view,
      ranking: rankingView(
        ranking,
        (choice) =>
          `/${queryString({ service, q: single(query.q), by: choice === 'load' ? undefined : choice })}#ranking`,
        `/api/top${queryString({ service, by: ranking.metric.key })}`,
      ),
    });
  });

  app.get('/host/:host', async (request, reply) => {
    const { host: key } = request.params as { host: string };
    const query = request.query as Record<string, unknown>;
    const range = pageRange(query, DEFAULT_PAGE_WIDTH, reply);
    if (!range) return reply;
    const host = await store.findHost(key);
    if (!host) return htmlError(reply, 404, 'Unknown host', `There is no host "${key}".`);
    const now = nowSeconds();
    const [meta, warnings, lastReceived, statuses] = await Promise.all([
      store.meta(host.address, now),
      store.warnings(host.address, now),
      store.lastReceived(host.address),
      store.statusReports(now, [host.address]),
    ]);
    const listed = await graphs.list(host.address, meta);
    return page(
      reply,
      'host',
      hostView({
        host,
        range,
        plugin: single(query.plugin),
        listed,
        meta,
        warnings,
        lastReceived,
        report: statuses.get(host.address),
        limits: context.limits,
        now,
      }),
    );
  });

  app.get('/service/:service', async (request, reply) => {
    const { service } = request.params as { service: string };
    const query = request.query as Record<string, unknown>;
    const range = pageRange(query, DEFAULT_PAGE_WIDTH, reply);
    if (!range) return reply;
    const label = single(query.label) ?? '';
    const hosts = (await store.listHosts()).filter((h) => h.service === service);
    if (hosts.length === 0)
      return htmlError(reply, 404, 'Unknown service', `There is no service "${service}".`);
    if (label !== '' && !hosts.some((h) => h.label === label)) {
      return htmlError(reply, 404, 'Unknown label', `Service "${service}" has no label "${label}".`);
    }
    const now = nowSeconds();
    const statuses = await store.statusReports(
      now,
      hosts.map((h) => h.address),
    );
    const listed = await graphs.listAggregate({ service, label });
    const members = hosts.filter((h) => label === '' || h.label === label);
    const ranking = await pageRanking(members, single(query.by), reply);
    if (!ranking) return reply;
    return page(
      reply,
      'service',
      serviceView({ service, hosts, label, range, listed, statuses, now, ranking }),
    );
  });

  app.get('/host/:host/graph/:plugin/:graph', async (request, reply) => {
    const { host: key, plugin, graph } = request.params as { host: string; plugin: string; graph: string };
    const range = pageRange(request.query, DEFAULT_GRAPH_PAGE_WIDTH, reply);
    if (!range) return reply;
    const host = await store.findHost(key);
    if (!host) return htmlError(reply, 404, 'Unknown host', `There is no host "${key}".`);
    const listed = await graphs.list(host.address, await store.meta(host.address, nowSeconds()));
    const view = graphView(host, plugin, graph, listed, range);
    if (!view) {
      return htmlError(
        reply,
        404,
        'Unknown graph',
        `Host ${host.hostname} has no graph "${graph}" for plugin "${plugin}".`,
      );
    }
    return page(reply, 'graph', view);
  });

  app.get('/compare', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const range = pageRange(query, DEFAULT_COMPARE_WIDTH, reply);
    if (!range) return reply;
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
    const found = await mapLimit(keys, STORE_CONCURRENCY, (key) => store.findHost(key));
    const missing = keys.filter((_key, index) => !found[index]);
    const hosts = [
      ...new Map(found.filter((h): h is HostRecord => Boolean(h)).map((h) => [h.address, h])).values(),
    ];
    if (hosts.length === 0)
      return htmlError(reply, 404, 'Unknown hosts', `None of ${keys.join(', ')} is known.`);
    const now = nowSeconds();
    const statuses = await store.statuses(
      now,
      hosts.map((h) => h.address),
    );
    const listed = await mapLimit(hosts, STORE_CONCURRENCY, async (host) =>
      graphs.list(host.address, await store.meta(host.address, now)),
    );
    return page(
      reply,
      'compare',
      compareView({ hosts, missing, listed, statuses, range, plugin: single(query.plugin), now }),
    );
  });
}
