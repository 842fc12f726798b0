/**
 * Rankings ("which hosts are on fire"): GET /api/top, and the ranking the fleet and service
 * pages show. They read the latest values the store keeps (one query), never RRD files.
 */
import type { FastifyInstance } from 'fastify';
import { formatRankingValue, MAX_RANKING_ROWS } from '../../core/aggregate/ranking-format.js';
import { type Ranking, RankingError, rankHosts, rankingMetric } from '../../core/aggregate/rankings.js';
import type { HostRecord } from '../../core/store/types.js';
import { single } from '../format.js';
import { rankingRows } from '../page-views.js';
import type { RouteContext } from './shared.js';
import { textError } from './shared.js';

/** Hosts a page's ranking shows. */
export const PAGE_RANKING_ROWS = 10;

/** The ranking of `hosts` by the query's `by` (default load); a bad `by` is a RankingError. */
export async function readRanking(
  context: RouteContext,
  hosts: readonly HostRecord[],
  by: string | undefined,
  limit: number,
): Promise<Ranking> {
  const metric = rankingMetric(by ?? 'load');
  const rows = await context.store.latestValues([metric.plugin]);
  return rankHosts(hosts, rows, metric, context.nowSeconds(), limit);
}

export function registerRankingRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get('/api/top', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const service = single(query.service);
    const label = single(query.label);
    const limitText = single(query.limit) ?? String(PAGE_RANKING_ROWS);
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_RANKING_ROWS)
      return textError(reply, 400, `400 Bad Request: limit must be an integer from 1 to ${MAX_RANKING_ROWS}`);
    const hosts = (await context.store.listHosts()).filter(
      (h) => (service === undefined || h.service === service) && (label === undefined || h.label === label),
    );
    let ranking: Ranking;
    try {
      ranking = await readRanking(context, hosts, single(query.by), limit);
    } catch (error) {
      if (error instanceof RankingError) return textError(reply, 400, `400 Bad Request: ${error.message}`);
      throw error;
    }
    const { metric } = ranking;
    return reply.header('Cache-Control', 'no-cache').send({
      by: metric.key,
      title: metric.title,
      unit: metric.unit,
      at: context.nowSeconds(),
      hosts: ranking.hosts,
      missing: ranking.missing,
      top: rankingRows(ranking).map((row) => ({
        rank: row.rank,
        address: row.address,
        hostname: row.hostname,
        service: row.service,
        label: row.label,
        value: row.value,
        text: formatRankingValue(row.value, metric.unit),
        url: row.url,
        sparkline: row.sparkline,
      })),
    });
  });
}
