import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import fastifyStatic from '@fastify/static';
import { Eta } from 'eta';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { KuradoConfig } from '../core/config.js';
import type { GraphService } from '../core/graphs/types.js';
import type { Logger } from '../core/log.js';
import type { MetaStore } from '../core/store/types.js';
import { AllowList, clientKey, UsersFileWatcher } from './access.js';
import { DEFAULT_WEB_LIMITS, type WebLimits } from './limits.js';
import { createWebMetrics, type WebMetrics } from './metrics.js';
import { registerApiRoutes } from './routes/api.js';
import { registerGraphPngRoute } from './routes/graph-png.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerPageRoutes } from './routes/pages.js';
import { registerRankingRoutes } from './routes/rankings.js';
import { type RouteContext, textError } from './routes/shared.js';

export interface WebServerOptions {
  store: MetaStore;
  graphs: GraphService;
  config: Pick<KuradoConfig, 'web'>;
  logger?: Logger;
  /** Epoch milliseconds; tests pin the clock. */
  now?: () => number;
  /** How often the users file is checked for changes (default 5 s). */
  usersFileCheckMs?: number;
  /** Bounds on requests and answers (DEFAULT_WEB_LIMITS otherwise). */
  limits?: Partial<WebLimits>;
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

/**
 * The web UI, JSON API, PNG endpoint and `/metrics` of `kurado serve`. The caller owns the
 * store and the graph service (and closes them); `listen()` is up to the caller too.
 */
export async function createWebServer(options: WebServerOptions): Promise<FastifyInstance> {
  const { store, graphs, config } = options;
  const now = options.now ?? (() => Date.now());
  const nowSeconds = () => Math.floor(now() / 1000);
  const bootId = randomBytes(6).toString('hex');
  const limits: WebLimits = { ...DEFAULT_WEB_LIMITS, ...options.limits };
  const app: FastifyInstance = Fastify({
    bodyLimit: limits.bodyBytes,
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
            limits.auth,
            (client, failures, retryAfterSeconds) =>
              options.logger?.warn(
                { client, failures, retryAfterSeconds },
                'too many wrong passwords from this client: refusing its logins for a while',
              ),
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
      const result = await authenticator.check(request.headers.authorization, request.socket.remoteAddress);
      if (!result.ok) {
        if (result.reason === 'rate_limited' || result.reason === 'busy') {
          metrics.authFailures.inc({ reason: result.reason });
          return reply
            .code(result.reason === 'busy' ? 503 : 429)
            .header('Retry-After', String(result.retryAfterSeconds))
            .type('text/plain; charset=utf-8')
            .send(
              result.reason === 'busy'
                ? '503 Service Unavailable: too many logins are being checked; try again in a moment\n'
                : `429 Too Many Requests: too many wrong passwords from ${request.socket.remoteAddress}; try again in ${result.retryAfterSeconds} s\n`,
            );
        }
        metrics.authFailures.inc({ reason: 'auth' });
        return reply
          .code(401)
          .header('WWW-Authenticate', 'Basic realm="Kurado", charset="UTF-8"')
          .type('text/plain; charset=utf-8')
          .send('401 Unauthorized\n');
      }
    }
    const problem = oversizedInput(request.params, request.query, limits);
    if (problem) return textError(reply, 400, `400 Bad Request: ${problem}`);
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

  const page = (reply: FastifyReply, view: string, data: Record<string, unknown>) =>
    reply
      .type('text/html; charset=utf-8')
      .header('Cache-Control', 'no-cache')
      .send(eta.render(view, { ...data, privateCache }));

  const htmlError = (reply: FastifyReply, code: number, title: string, message: string) =>
    reply.code(code).type('text/html; charset=utf-8').send(eta.render('error', { title, message, code }));

  const context: RouteContext = {
    store,
    graphs,
    metrics,
    logger: options.logger,
    now,
    nowSeconds,
    bootId,
    privateCache,
    page,
    htmlError,
    limits,
    clientOf: (request) => {
      const proxied = proxyHeader ? request.headers[proxyHeader] : undefined;
      if (typeof proxied === 'string' && proxied !== '') return `user:${proxied}`;
      const basic = /^Basic\s+([A-Za-z0-9+/=]+)/i.exec(request.headers.authorization ?? '');
      // Only reached after the access hook accepted the credentials, so the name is verified.
      if (authenticator && basic?.[1]) {
        const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
        return `user:${decoded.slice(0, Math.max(0, decoded.indexOf(':')))}`;
      }
      return clientKey(request.socket.remoteAddress);
    },
    rendersByClient: new Map(),
  };
  registerPageRoutes(app, context);
  registerGraphPngRoute(app, context);
  registerApiRoutes(app, context);
  registerRankingRoutes(app, context);
  registerMetricsRoutes(app, context);

  app.setNotFoundHandler(async (request, reply) => {
    const accept = request.headers.accept ?? '';
    if (accept.includes('text/html')) return htmlError(reply, 404, 'Not found', `Nothing at ${request.url}.`);
    return textError(reply, 404, `404 Not Found: ${request.method} ${request.url}`);
  });

  app.setErrorHandler(async (error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    const code = status && status >= 400 && status < 500 ? status : 500;
    if (code === 500) {
      // The detail (a store error, a file name) is for the log, not for whoever sent the request.
      options.logger?.error({ err: error, url: request.url }, 'request failed');
      return textError(reply, 500, '500 Internal Server Error (the server log has the details)');
    }
    options.logger?.info(
      { url: request.url, status: code, problem: (error as Error).message },
      'bad request',
    );
    // Body validation says "body/hosts/0 must be string": the reason, in the request's own terms.
    return textError(reply, code, `${code} ${(error as Error).message}`);
  });

  return app;
}

/** Route parameters and query values longer than any real one: the first such, as a reason. */
function oversizedInput(params: unknown, query: unknown, limits: WebLimits): string | undefined {
  for (const [name, value] of Object.entries((params ?? {}) as Record<string, unknown>)) {
    if (typeof value !== 'string') continue;
    const max = name === 'host' ? limits.hostParamLength : limits.nameParamLength;
    if (value.length > max) return `${name} in the URL is longer than ${max} characters`;
  }
  for (const [name, value] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (typeof item === 'string' && item.length > limits.queryValueLength)
        return `query parameter ${JSON.stringify(name.slice(0, 40))} is longer than ${limits.queryValueLength} characters`;
    }
  }
  return undefined;
}
