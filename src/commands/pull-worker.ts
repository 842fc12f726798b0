import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { type ConfigOverrides, redactUrl } from '../core/config.js';
import { AmqpJobSource } from '../core/pull/amqp.js';
import { startPullWorker } from '../core/pull/runtime.js';
import { PREFETCH_PER_FETCH_SLOT, pullPrefetch } from '../core/pull/worker.js';
import { Lifecycle } from '../core/runtime/lifecycle.js';
import { openRuntimeStore, startWritePath } from '../core/runtime/parts.js';
import { fetcherFor } from '../pull/registry.js';

export default class PullWorkerCommand extends BaseCommand<typeof PullWorkerCommand> {
  static override summary =
    'Run pull jobs from RabbitMQ: fetch nginx, Redis, MySQL … and store like receive.';
  static override description =
    `Consumes the pull queue (filled by \`kurado schedule\`) with --concurrency fetches at once.
Each job's fetcher runs with a timeout (--timeout, or the plugin's "timeout" setting in the
server list, seconds); its values go through the same write path as \`kurado receive\` and the
job is acknowledged once they are stored. A fetched job frees its fetch slot while it waits for
its commit, so the RabbitMQ prefetch is ${PREFETCH_PER_FETCH_SLOT} × --concurrency: the fetches plus the fetched jobs
awaiting their commit (without that room every commit would stop all fetching).
A failed fetch is stored as the warning <plugin>.warn.fetch on the host, shown in the UI and
\`kurado status\`. Settings (credentials) are read from the store, never from the queue. Run as
many workers as you like, anywhere.
SIGTERM finishes and stores the fetches in flight, then exits 0; jobs not started yet go back
to the queue.`;

  static override examples = [
    '<%= config.bin %> pull-worker --amqp amqp://kurado:secret@mq1:5672 --store mysql://… --rrdcached unix:/run/rrdcached.sock',
  ];

  static override flags = {
    amqp: Flags.string({ description: 'RabbitMQ URL, amqp://user:pass@host:5672. [env: KURADO_AMQP_URL]' }),
    queue: Flags.string({
      description: 'Durable RabbitMQ queue of pull jobs. [env: KURADO_PULL_QUEUE] [default: kurado.pull]',
    }),
    concurrency: Flags.integer({
      description: `Fetches run at once; the RabbitMQ prefetch is ${PREFETCH_PER_FETCH_SLOT} × this. [env: KURADO_PULL_CONCURRENCY] [default: 16]`,
      min: 1,
    }),
    timeout: Flags.string({
      description:
        "Seconds a job's fetch may take unless its plugin's timeout setting says otherwise. [env: KURADO_PULL_TIMEOUT] [default: 10]",
    }),
  };

  protected override configOverrides(): ConfigOverrides {
    const overrides = super.configOverrides();
    if (this.flags.amqp) overrides.amqpUrl = this.flags.amqp;
    const pull: NonNullable<ConfigOverrides['pull']> = {};
    if (this.flags.queue) pull.queue = this.flags.queue;
    if (this.flags.concurrency) pull.concurrency = this.flags.concurrency;
    if (this.flags.timeout) pull.timeoutSeconds = Number(this.flags.timeout);
    overrides.pull = pull;
    return overrides;
  }

  public async run(): Promise<void> {
    const { settings, log_: logger } = this;
    if (!settings.amqpUrl) {
      this.error('no RabbitMQ: give --amqp amqp://host:5672 (or KURADO_AMQP_URL, or amqp in kurado.toml)', {
        exit: 2,
      });
    }
    const storeAddress = redactUrl(settings.storeUrl);
    const { concurrency, queue, timeoutSeconds } = settings.pull;
    logger.info(
      {
        amqp: redactUrl(settings.amqpUrl),
        queue,
        concurrency,
        timeoutSeconds,
        dataDir: settings.dataDir,
        rrdcached:
          settings.storage.length > 0
            ? settings.storage.map((node) => `${node.name}=${node.rrdcached}`).join(', ')
            : (settings.rrdcached ?? 'none (rrdtool -)'),
        store: storeAddress,
      },
      'kurado pull-worker starting',
    );
    const life = new Lifecycle({ logger, stoppingMessage: 'finishing and storing the jobs in flight' });
    life.handleSignals();
    // A malformed store URL fails now; an unreachable store is waited for.
    const store = await openRuntimeStore(life, {
      url: settings.storeUrl,
      logger,
      waitUntilReachable: true,
      limits: settings.limits,
    });
    const { ingestor } = startWritePath(life, {
      dataDir: settings.dataDir,
      rrdcached: settings.rrdcached,
      storage: settings.storage,
      store,
      logger,
      limits: settings.limits,
    });
    await startPullWorker(life, {
      source: new AmqpJobSource({
        url: settings.amqpUrl,
        queue,
        prefetch: pullPrefetch(concurrency),
        logger,
      }),
      ingestor,
      store,
      fetcherFor,
      concurrency,
      defaultTimeoutMs: timeoutSeconds * 1000,
      logger,
      storeAddress,
    });
    // The consumer runs on its own socket; the command lives until a signal stops it.
    await life.untilStopped();
  }
}
