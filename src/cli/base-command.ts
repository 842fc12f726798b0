import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { type ConfigOverrides, type KuradoConfig, loadConfig } from '../core/config.js';
import {
  createLogger,
  LOG_FORMAT_CHOICES,
  type LogFormat,
  type Logger,
  resolveLogFormat,
} from '../core/log.js';

/** `--graphs-dir`, for the commands that draw graphs (serve, graph render/list, config check). */
export const graphsDirFlag = Flags.string({
  description:
    'Site graph templates (*.toml) that add to or override the shipped ones. [env: KURADO_GRAPHS_DIR]',
});

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>;

/**
 * Flags every server-side command shares. Precedence: flag > `KURADO_*` environment >
 * `kurado.toml` > default. Secrets stay out of `--help`: no default shows a URL with a password.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    config: Flags.string({
      char: 'c',
      description: 'Path to kurado.toml (server settings).',
      env: 'KURADO_CONFIG',
      helpGroup: 'GLOBAL',
    }),
    'data-dir': Flags.string({
      description: 'Root of the RRD tree. [env: KURADO_DATA_DIR] [default: /var/lib/kurado]',
      helpGroup: 'GLOBAL',
    }),
    rrdcached: Flags.string({
      description:
        'rrdcached address, unix:/path or host:port; without it values go through `rrdtool -`. [env: KURADO_RRDCACHED]',
      helpGroup: 'GLOBAL',
    }),
    store: Flags.string({
      description:
        'Metadata store: mysql://user:pass@host:port/db or sqlite:/path. [env: KURADO_STORE_URL] [default: sqlite:<data-dir>/kurado.db]',
      helpGroup: 'GLOBAL',
    }),
    'log-level': Flags.option({
      options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const,
      description: 'Log level of the logs on stderr. [env: KURADO_LOG_LEVEL]',
      helpGroup: 'GLOBAL',
    })(),
    'log-format': Flags.option({
      options: LOG_FORMAT_CHOICES,
      description:
        'Logs on stderr as JSON lines or readable text; auto = text on a terminal, JSON when piped or under systemd.',
      env: 'KURADO_LOG_FORMAT',
      default: 'auto' as const,
      helpGroup: 'GLOBAL',
    })(),
  };

  protected flags!: BaseFlags<T>;
  protected settings!: KuradoConfig;
  protected log_!: Logger;
  /** The format the logs are written in, `--log-format` resolved for this stderr. */
  protected logFormat!: LogFormat;

  public override async init(): Promise<void> {
    await super.init();
    const { flags } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.settings = loadConfig({
      configPath: this.flags.config,
      overrides: this.configOverrides(),
    });
    this.logFormat = resolveLogFormat(this.flags['log-format'], {
      isTerminal: Boolean(process.stderr.isTTY),
      env: process.env,
    });
    this.log_ = createLogger(this.id ?? 'kurado', {
      level: this.flags['log-level'] ?? process.env.KURADO_LOG_LEVEL ?? 'info',
      format: this.logFormat,
    });
  }

  /**
   * A wrong URL, an unreadable config file or an unreachable service is the user's to fix: show
   * its message (which names the input and the place), not a stack trace. `--log-level debug`
   * logs the stack too.
   */
  protected override async catch(error: Error & { oclif?: unknown }): Promise<unknown> {
    if (error.oclif !== undefined) return super.catch(error);
    this.log_?.debug({ err: error }, 'command failed');
    return super.catch(new Errors.CLIError(error.message, { exit: 1 }));
  }

  /** Flags that override settings; commands with more settings extend this. */
  protected configOverrides(): ConfigOverrides {
    const overrides: ConfigOverrides = {};
    if (this.flags['data-dir']) overrides.dataDir = this.flags['data-dir'];
    if (this.flags.rrdcached) overrides.rrdcached = this.flags.rrdcached;
    if (this.flags.store) overrides.storeUrl = this.flags.store;
    // Only the commands that declare graphsDirFlag have it.
    const graphsDir = (this.flags as { 'graphs-dir'?: string })['graphs-dir'];
    if (graphsDir) overrides.graphsDir = graphsDir;
    return overrides;
  }
}
