import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { type ConfigOverrides, redactUrl } from '../core/config.js';
import { AmqpSchedulerBackend, lockQueueOf } from '../core/pull/amqp.js';
import { startPullScheduler } from '../core/pull/runtime.js';
import { DEFAULT_PERIOD_MS } from '../core/pull/scheduler.js';
import { Lifecycle } from '../core/runtime/lifecycle.js';
import { openRuntimeStore } from '../core/runtime/parts.js';
import { isPullPlugin } from '../pull/registry.js';

export default class Schedule extends BaseCommand<typeof Schedule> {
  static override summary = 'Enqueue one pull job per host and pull plugin every minute, on RabbitMQ.';
  static override description =
    `Once a minute, 3 s after the minute starts, reads the hosts and their roles' plugins from
the store and puts one job per host × pull plugin (every plugin but "base" that has a fetcher)
on the durable queue --queue, with publisher confirms. A job expires when its minute ends, so
jobs no worker took are dropped by RabbitMQ, never replayed in a burst. Jobs carry no settings:
workers read credentials from the store.

Run two or more on different machines: one is active (it holds the exclusive queue
<queue>.scheduler-lock), the others wait as standby and take over within seconds when the
active one's connection ends, continuing with the first minute not yet enqueued.
SIGTERM stops after the round in flight.`;

  static override examples = [
    '<%= config.bin %> schedule --amqp amqp://kurado:secret@mq1:5672 --store mysql://…',
  ];

  static override flags = {
    amqp: Flags.string({ description: 'RabbitMQ URL, amqp://user:pass@host:5672. [env: KURADO_AMQP_URL]' }),
    queue: Flags.string({
      description: 'Durable RabbitMQ queue of pull jobs. [env: KURADO_PULL_QUEUE] [default: kurado.pull]',
    }),
    // Tests only: a scheduling "minute" of N seconds, so failover and expiry tests take seconds.
    'period-seconds': Flags.integer({ hidden: true, min: 1 }),
  };

  protected override configOverrides(): ConfigOverrides {
    const overrides = super.configOverrides();
    if (this.flags.amqp) overrides.amqpUrl = this.flags.amqp;
    if (this.flags.queue) overrides.pull = { queue: this.flags.queue };
    return overrides;
  }

  public async run(): Promise<void> {
    const { settings, log_: logger, flags } = this;
    if (!settings.amqpUrl) {
      this.error('no RabbitMQ: give --amqp amqp://host:5672 (or KURADO_AMQP_URL, or amqp in kurado.toml)', {
        exit: 2,
      });
    }
    const storeAddress = redactUrl(settings.storeUrl);
    const periodMs = flags['period-seconds'] ? flags['period-seconds'] * 1000 : DEFAULT_PERIOD_MS;
    logger.info(
      {
        amqp: redactUrl(settings.amqpUrl),
        queue: settings.pull.queue,
        lock: lockQueueOf(settings.pull.queue),
        store: storeAddress,
        periodMs,
      },
      'kurado schedule starting',
    );
    const life = new Lifecycle({ logger, stoppingMessage: 'stopping after the round in flight' });
    life.handleSignals();
    // A malformed store URL fails now; an unreachable store is waited for.
    const store = await openRuntimeStore(life, { url: settings.storeUrl, logger, waitUntilReachable: true });
    const backend = new AmqpSchedulerBackend({
      url: settings.amqpUrl,
      queue: settings.pull.queue,
      logger,
      // A standby tries the lock often enough to take over well within one period.
      pollMs: Math.min(5000, periodMs / 4),
    });
    startPullScheduler(life, { store, backend, isPulled: isPullPlugin, logger, storeAddress, periodMs });
    await life.untilStopped();
  }
}
