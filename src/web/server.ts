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
import { AllowList, UsersFileWatcher } from './access.js';
import { createWebMetrics, type WebMetrics } from './metrics.js';
import { registerApiRoutes } from './routes/api.js';
import { registerGraphPngRoute } from './routes/graph-png.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerPageRoutes } from './routes/pages.js';
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
  const app: FastifyInstance = Fastify({
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
      const user = await authenticator.check(request.headers.authorization);
      if (!user) {
        metrics.authFailures.inc({ reason: 'auth' });
        return reply
          .code(401)
          .header('WWW-Authenticate', 'Basic realm="Kurado", charset="UTF-8"')
          .type('text/plain; charset=utf-8')
          .send('401 Unauthorized\n');
      }
    }
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
  };
  registerPageRoutes(app, context);
  registerGraphPngRoute(app, context);
  registerApiRoutes(app, context);
  registerMetricsRoutes(app, context);

  app.setNotFoundHandler(async (request, reply) => {
    const accept = request.headers.accept ?? '';
    if (accept.includes('text/html')) return htmlError(reply, 404, 'Not found', `Nothing at ${request.url}.`);
    return textError(reply, 404, `404 Not Found: ${request.method} ${request.url}`);
  });

  app.setErrorHandler(async (error, request, reply) => {
    options.logger?.error({ err: error, url: request.url }, 'request failed');
    const status = (error as { statusCode?: number }).statusCode;
    const code = status && status >= 400 && status < 500 ? status : 500;
    return textError(reply, code, `${code} ${(error as Error).message}`);
  });

  return app;
}
