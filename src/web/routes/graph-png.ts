/**
 * GET /graph/<host>/<plugin>/<graph>.png: one graph drawn by rrdtool, with an ETag per minute.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
  const { store, graphs, nowSeconds } = context;

  app.get('/graph/:host/:plugin/:file', async (request, reply) => {
    const target = await graphTarget(context, request, reply, '.png', false, 'png');
    if (!target) return reply;
    const { host, plugin, graph, range } = target;
    return sendPng(
      context,
      request,
      reply,
      [
        host.address,
        host.hostname,
        plugin,
        graph,
        range.term,
        range.from,
        range.to,
        range.width,
        range.height,
        target.onlyGraph === true,
      ],
      async () =>
        graphs.renderPng(graphRequest(target), await store.meta(host.address, nowSeconds(), plugin)),
    );
  });

  app.get('/service-graph/:service/:plugin/:file', async (request, reply) => {
    const target = serviceGraphTarget(context, request, reply, '.png', false, 'png');
    if (!target) return reply;
    const { service, label, plugin, graph, term, from, to, width, height } = target;
    return sendPng(
      context,
      request,
      reply,
      ['service', service, label, plugin, graph, term, from, to, width, height],
      () => graphs.renderAggregatePng(target),
    );
  });
}

/**
 * Answer 304 when the client holds this minute's drawing of the same request, else draw it under
 * the render limits. Graphs change once a minute: the ETag names the request and the minute.
 */
async function sendPng(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  requestParts: readonly unknown[],
  render: () => Promise<Buffer>,
): Promise<FastifyReply> {
  const minute = Math.floor(context.now() / 60_000);
  const etag = `"${createHash('sha1')
    .update([context.bootId, minute, ...requestParts].join('\n'))
    .digest('base64url')}"`;
  const match = request.headers['if-none-match'];
  if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) {
    context.metrics.notModified.inc();
    return reply.code(304).header('ETag', etag).header('Cache-Control', graphCacheControl(context)).send();
  }
  const release = claimRender(context, request, reply, 'png');
  if (!release) return reply;
  let png: Buffer | undefined;
  try {
    png = await runGraph(context, 'png', reply, render);
  } finally {
    release();
  }
  if (!png) return reply;
  return reply
    .type('image/png')
    .header('ETag', etag)
    .header('Cache-Control', graphCacheControl(context))
    .send(png);
}
