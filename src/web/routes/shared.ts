/**
 * What server.ts hands every route module, and the helpers more than one of them needs
 * (the PNG endpoint and the JSON data export resolve and render graphs the same way).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  type AggregateGraphRequest,
  GraphNotFoundError,
  GraphRenderError,
  type GraphRequest,
  GraphRequestError,
  type GraphService,
} from '../../core/graphs/types.js';
import type { Logger } from '../../core/log.js';
import type { HostRecord, MetaStore } from '../../core/store/types.js';
import {
  DEFAULT_PNG_WIDTH,
  parseRange,
  QueryError,
  type RangeQuery,
  secondsToNextMinute,
  single,
} from '../format.js';
import type { WebLimits } from '../limits.js';
import type { WebMetrics } from '../metrics.js';

export interface RouteContext {
  store: MetaStore;
  graphs: GraphService;
  metrics: WebMetrics;
  logger: Logger | undefined;
  /** Epoch milliseconds. */
  now: () => number;
  /** Epoch seconds. */
  nowSeconds: () => number;
  /** Random per process, so a restarted server never answers 304 to an ETag of the previous one. */
  bootId: string;
  /** Behind authentication, so caches between us and the browser must not share responses. */
  privateCache: boolean;
  /** Render a view of views/ as a whole HTML page. */
  page: (reply: FastifyReply, view: string, data: Record<string, unknown>) => FastifyReply;
  /** Render the error view with a status code. */
  htmlError: (reply: FastifyReply, code: number, title: string, message: string) => FastifyReply;
  limits: WebLimits;
  /** Who a request counts against: the proxy's or basic-auth user, else the client address. */
  clientOf: (request: FastifyRequest) => string;
  /** Graphs in the pool per client (claimRender). */
  rendersByClient: Map<string, number>;
}

/**
 * Claim one of the client's render slots (WebLimits.rendersPerClient). Past the limit the reply
 * is a 429 and the result undefined; otherwise call the result when the graph is done.
 */
export function claimRender(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: GraphKind,
): (() => void) | undefined {
  const max = context.limits.rendersPerClient;
  if (max <= 0) return () => undefined;
  const client = context.clientOf(request);
  const busy = context.rendersByClient.get(client) ?? 0;
  if (busy >= max) {
    context.metrics.renderErrors.inc({ kind, reason: 'too_many' });
    reply.header('Retry-After', '1');
    textError(
      reply,
      429,
      `429 Too Many Requests: ${max} graphs of this client are being drawn already; try again in a moment`,
    );
    return undefined;
  }
  context.rendersByClient.set(client, busy + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (context.rendersByClient.get(client) ?? 1) - 1;
    if (left <= 0) context.rendersByClient.delete(client);
    else context.rendersByClient.set(client, left);
  };
}

export function textError(reply: FastifyReply, code: number, message: string): FastifyReply {
  return reply.code(code).type('text/plain; charset=utf-8').send(`${message}\n`);
}

export type GraphKind = 'png' | 'data';

export interface GraphTarget {
  host: HostRecord;
  plugin: string;
  graph: string;
  range: RangeQuery;
  /** `sparkline=1`: only the plot. */
  onlyGraph?: boolean;
}

/** Resolve `/graph/<host>/<plugin>/<graph>.<ext>`; replies with 400/404 text and returns undefined. */
export async function graphTarget(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  extension: string,
  optionalExtension: boolean,
  kind: GraphKind,
): Promise<GraphTarget | undefined> {
  const { metrics } = context;
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
  const host = await context.store.findHost(params.host);
  if (!host) {
    metrics.renderErrors.inc({ kind, reason: 'not_found' });
    textError(reply, 404, `404 Not Found: unknown host "${params.host}"`);
    return undefined;
  }
  const onlyGraph = single((request.query as Record<string, unknown>).sparkline) === '1';
  return { host, plugin: params.plugin, graph, range, ...(onlyGraph ? { onlyGraph } : {}) };
}

/**
 * Resolve `/service-graph/<service>/<plugin>/<graph>.<ext>?label=…` into a service-page graph
 * request; replies with 400/404 text and returns undefined.
 */
export function serviceGraphTarget(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  extension: string,
  optionalExtension: boolean,
  kind: GraphKind,
): AggregateGraphRequest | undefined {
  const { metrics } = context;
  const params = request.params as { service: string; plugin: string; file: string };
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
  const out: AggregateGraphRequest = {
    service: params.service,
    label: single((request.query as Record<string, unknown>).label) ?? '',
    plugin: params.plugin,
    graph,
    term: range.term,
    width: range.width,
    height: range.height,
  };
  if (range.from !== undefined) out.from = range.from;
  if (range.to !== undefined) out.to = range.to;
  return out;
}

export function graphRequest(target: GraphTarget): GraphRequest {
  const request: GraphRequest = {
    host: target.host.address,
    plugin: target.plugin,
    graph: target.graph,
    term: target.range.term,
    width: target.range.width,
    height: target.range.height,
    hostname: target.host.hostname,
  };
  if (target.onlyGraph) request.onlyGraph = true;
  if (target.range.from !== undefined) request.from = target.range.from;
  if (target.range.to !== undefined) request.to = target.range.to;
  return request;
}

/**
 * Run a render or export with the pool metrics around it; a failure becomes a 404/400/500 text
 * reply and undefined.
 */
export async function runGraph<T>(
  context: RouteContext,
  kind: GraphKind,
  reply: FastifyReply,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const { metrics } = context;
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
      // The log gets rrdtool's whole story (command line, files, pid); the user gets the reason.
      const cause = error instanceof GraphRenderError ? error.cause : error;
      context.logger?.error({ err: cause }, 'graph request failed');
      textError(
        reply,
        500,
        error instanceof GraphRenderError
          ? `500 Internal Server Error: ${error.message}`
          : '500 Internal Server Error: the graph could not be drawn (the server log has the details)',
      );
    }
    return undefined;
  } finally {
    metrics.rendersInFlight.dec({ kind });
  }
}

/** Graphs change once a minute: cache them until the next one. */
export function graphCacheControl(context: RouteContext): string {
  return `${context.privateCache ? 'private' : 'public'}, max-age=${secondsToNextMinute(context.now())}, must-revalidate`;
}
