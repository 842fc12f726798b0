import { Flags } from '@oclif/core';
import { BaseCommand, graphsDirFlag } from '../cli/base-command.js';
import { type ConfigOverrides, redactUrl } from '../core/config.js';
import { parseListenAddress } from '../core/runtime/address.js';
import { Lifecycle } from '../core/runtime/lifecycle.js';
import { openRuntimeStore } from '../core/runtime/parts.js';
import { type RunningWeb, startWebServer, WebSetupError } from '../web/start.js';

export default class Serve extends BaseCommand<typeof Serve> {
  static override summary = 'Web UI, JSON API, PNG graphs and /metrics (default 0.0.0.0:5434).';
  static override description =
    `Serves the fleet page (services → labels → hosts with status icons, search, compare
selected), host pages (meta, warnings, every graph, terms, custom range, widths), the compare page
(one graph for up to 500 hosts), GET /graph/<host>/<plugin>/<graph>.png, the JSON API under /api/
and Kurado's own metrics at /metrics (Prometheus text format).

The UI is read-only. It is open to everyone who can reach the port unless you lock it down:
--allow-from CIDR (repeatable) refuses other peers with 403; --auth basic --users-file FILE asks
for a password (lines from "kurado web passwd USER"); --trusted-proxy-header X-Forwarded-User
accepts only requests an authenticating reverse proxy marked with that header (combine it with
--allow-from <proxy address>).`;

  static override examples = [
    '<%= config.bin %> serve --data-dir /var/lib/kurado --rrdcached unix:/run/rrdcached.sock',
    '<%= config.bin %> serve --listen 127.0.0.1:5434 --trusted-proxy-header X-Forwarded-User --allow-from 127.0.0.1/32',
    '<%= config.bin %> serve --auth basic --users-file /etc/kurado/users --allow-from 10.0.0.0/8',
  ];

  static override flags = {
    listen: Flags.string({
      description: 'host:port to listen on. [env: KURADO_WEB_LISTEN] [default: 0.0.0.0:5434]',
    }),
    auth: Flags.option({
      options: ['none', 'basic'] as const,
      description: 'Ask for a password (basic) or not. [default: none]',
    })(),
    'users-file': Flags.string({
      description: 'Users for --auth basic: "user:scrypt$…" lines made by "kurado web passwd".',
    }),
    'trusted-proxy-header': Flags.string({
      description:
        'Header an authenticating reverse proxy sets to the user name (e.g. X-Forwarded-User); requests without it get 401.',
    }),
    'allow-from': Flags.string({
      description: 'Only these peer addresses/CIDR ranges may connect (repeatable); others get 403.',
      multiple: true,
    }),
    'graphs-dir': graphsDirFlag,
    'auth-failures': Flags.integer({
      description:
        'Wrong passwords one client (IPv4 address or IPv6 /64) may send per minute; then 429 with Retry-After. [default: 10]',
      min: 1,
      max: 100_000,
    }),
    'auth-checks': Flags.integer({
      description:
        'Password checks (scrypt) running at once; more wait, and past 32 waiting get 503. [default: 2]',
      min: 1,
      max: 64,
    }),
    'renders-per-client': Flags.integer({
      description:
        'Graphs one client (user, or address without auth) may have in progress at once; more get 429. 0 = no limit. [default: 64]',
      min: 0,
      max: 100_000,
    }),
    'render-processes': Flags.integer({
      description: 'rrdtool processes drawing PNGs. [default: CPU count]',
      min: 1,
      max: 256,
    }),
  };

  protected override configOverrides(): ConfigOverrides {
    const overrides = super.configOverrides();
    const web: NonNullable<ConfigOverrides['web']> = {};
    if (this.flags.listen) web.listen = this.flags.listen;
    if (this.flags.auth) web.auth = this.flags.auth;
    if (this.flags['users-file']) web.usersFile = this.flags['users-file'];
    if (this.flags['trusted-proxy-header']) web.trustedProxyHeader = this.flags['trusted-proxy-header'];
    if (this.flags['allow-from']?.length) web.allowFrom = this.flags['allow-from'];
    overrides.web = web;
    return overrides;
  }

  public async run(): Promise<void> {
    const { settings, log_: logger, flags } = this;
    let address: { host: string; port: number };
    try {
      address = parseListenAddress(settings.web.listen, '--listen');
    } catch (error) {
      this.error((error as Error).message, { exit: 2 });
    }
    const life = new Lifecycle({ logger, stoppingMessage: 'stopping' });
    life.handleSignals();
    const store = await openRuntimeStore(life, { url: settings.storeUrl, logger });
    let web: RunningWeb;
    try {
      web = await life.starting(() =>
        startWebServer(life, {
          config: settings,
          rrdcached: settings.rrdcached,
          store,
          logger,
          ...address,
          renderProcesses: flags['render-processes'],
          limits: {
            ...(flags['renders-per-client'] !== undefined
              ? { rendersPerClient: flags['renders-per-client'] }
              : {}),
            auth: {
              ...(flags['auth-failures'] ? { failuresPerWindow: flags['auth-failures'] } : {}),
              ...(flags['auth-checks'] ? { maxConcurrentChecks: flags['auth-checks'] } : {}),
            },
          },
        }),
      );
    } catch (error) {
      if (error instanceof WebSetupError) this.error(error.message, { exit: 2 });
      throw error;
    }
    const open =
      settings.web.auth === 'none' && !settings.web.trustedProxyHeader && settings.web.allowFrom.length === 0;
    logger.info(
      {
        listen: web.listen,
        dataDir: settings.dataDir,
        rrdcached:
          settings.storage.length > 0
            ? settings.storage.map((node) => `${node.name}=${node.rrdcached}`).join(', ')
            : (settings.rrdcached ?? 'none (reads RRD files directly)'),
        store: redactUrl(settings.storeUrl),
        auth: settings.web.auth,
        trustedProxyHeader: settings.web.trustedProxyHeader,
        allowFrom: settings.web.allowFrom,
      },
      open ? 'kurado serve listening (open to everyone who can reach the port)' : 'kurado serve listening',
    );
    await life.untilStopped();
  }
}
