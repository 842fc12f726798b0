import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { GraphService } from '../core/graphs/types.js';

/** Kurado's own health for `/metrics`, one registry per server (tests run several). */
export interface WebMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  renderDuration: Histogram<'kind'>;
  renderErrors: Counter<'kind' | 'reason'>;
  rendersInFlight: Gauge<'kind'>;
  notModified: Counter;
  authFailures: Counter<'reason'>;
}

/** Optional statistics a GraphService may offer about its `rrdtool -` pool. */
interface PoolStats {
  size?: number;
  busy?: number;
  queued?: number;
}

export function createWebMetrics(graphs: GraphService): WebMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kurado_' });
  const metrics: WebMetrics = {
    registry,
    requests: new Counter({
      name: 'kurado_web_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    renderDuration: new Histogram({
      name: 'kurado_graph_render_duration_seconds',
      help: 'Time to draw a PNG (kind="png") or export graph data (kind="data") with rrdtool.',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    renderErrors: new Counter({
      name: 'kurado_graph_render_errors_total',
      help: 'Graph requests that failed: reason="not_found" (404), "bad_request" (400), "too_many" (429: the client has --renders-per-client graphs in progress) or "error" (500).',
      labelNames: ['kind', 'reason'],
      registers: [registry],
    }),
    rendersInFlight: new Gauge({
      name: 'kurado_graph_renders_in_flight',
      help: 'Graph renders/exports waiting for or running in the rrdtool pool right now.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    notModified: new Counter({
      name: 'kurado_graph_not_modified_total',
      help: 'PNG requests answered 304 from If-None-Match without drawing.',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'kurado_web_access_denied_total',
      help: 'Requests refused by access control: reason="allow_from" (403), "auth" (401), "rate_limited" (429: too many wrong passwords from the client), "busy" (503: too many password checks queued).',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
  // The render pool of createGraphService (`pool.size`), or a `stats()` another service offers.
  const service = graphs as GraphService & { stats?: () => PoolStats; pool?: { size?: number } };
  if (typeof service.stats === 'function' || typeof service.pool?.size === 'number') {
    new Gauge({
      name: 'kurado_graph_pool_processes',
      help: 'rrdtool processes in the render pool (state="total"), and busy/queued when the pool tells.',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const stats: PoolStats =
          typeof service.stats === 'function' ? service.stats() : { size: service.pool?.size };
        if (typeof stats.size === 'number') this.set({ state: 'total' }, stats.size);
        if (typeof stats.busy === 'number') this.set({ state: 'busy' }, stats.busy);
        if (typeof stats.queued === 'number') this.set({ state: 'queued' }, stats.queued);
      },
    });
  }
  return metrics;
}
