/**
 * GET /graph/<host>/<plugin>/<graph>.png: one graph drawn by rrdtool, with an ETag per minute.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  claimRender,
  graphCacheControl,
  graphRequest,
  graphTarget,
  type RouteContext,
  runGraph,
  serviceGraphTarget,
} from './shared.js';

export function registerGraphPngRoute(app: FastifyInstance, context: RouteContext): void {
  const { store, graphs, metrics, now, nowSeconds, bootId } = context;

  app.get('/graph/:host/:plugin/:file', async (request, reply) => {
    const target = await graphTarget(context, request, reply, '.png', false, 'png');
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
          target.onlyGraph === true,
        ].join('\n'),
      )
      .digest('base64url')}"`;
    const match = request.headers['if-none-match'];
    if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) {
      metrics.notModified.inc();
      return reply.code(304).header('ETag', etag).header('Cache-Control', graphCacheControl(context)).send();
    }
    const release = claimRender(context, request, reply, 'png');
    if (!release) return reply;
    let png: Buffer | undefined;
    try {
      const meta = await store.meta(target.host.address, nowSeconds(), target.plugin);
      png = await runGraph(context, 'png', reply, () => graphs.renderPng(graphRequest(target), meta));
    } finally {
      release();
    }
    if (!png) return reply;
    return reply
      .type('image/png')
      .header('ETag', etag)
      .header('Cache-Control', graphCacheControl(context))
      .send(png);
  });

  app.get('/service-graph/:service/:plugin/:file', async (request, reply) => {
    const target = serviceGraphTarget(context, request, reply, '.png', false, 'png');
    if (!target) return reply;
    const minute = Math.floor(now() / 60_000);
    const etag = `"${createHash('sha1')
      .update(
        [
          bootId,
          minute,
          'service',
          target.service,
          target.label,
          target.plugin,
          target.graph,
          target.term,
          target.from,
          target.to,
          target.width,
          target.height,
        ].join('\n'),
      )
      .digest('base64url')}"`;
    const match = request.headers['if-none-match'];
    if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) {
      metrics.notModified.inc();
      return reply.code(304).header('ETag', etag).header('Cache-Control', graphCacheControl(context)).send();
    }
    const release = claimRender(context, request, reply, 'png');
    if (!release) return reply;
    let png: Buffer | undefined;
    try {
      png = await runGraph(context, 'png', reply, () => graphs.renderAggregatePng(target));
    } finally {
      release();
    }
    if (!png) return reply;
    return reply
      .type('image/png')
      .header('ETag', etag)
      .header('Cache-Control', graphCacheControl(context))
      .send(png);
  });
}
