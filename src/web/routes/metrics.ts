/**
 * What operators and their tools poll: Prometheus metrics and a liveness check.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './shared.js';

export function registerMetricsRoutes(app: FastifyInstance, context: RouteContext): void {
  const { metrics } = context;

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).header('Cache-Control', 'no-cache').send(text);
  });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('ok\n'));
}
