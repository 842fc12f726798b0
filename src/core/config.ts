import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { DEFAULT_LIMITS, type IngestLimits, LIMIT_KEYS } from './limits.js';
import { parseStorageTables, type StorageNode } from './storage/nodes.js';

/** Server-side settings (`kurado.toml`), after environment variables and flags were applied. */
export interface KuradoConfig {
  /** Root of the RRD tree: `<data_dir>/<host>/<plugin>/<metric>.rrd`. */
  dataDir: string;
  /** `unix:/path` or `host:port` of rrdcached; undefined writes through a `rrdtool -` process. */
  rrdcached?: string;
  /** `mysql://user:pass@host:port/db` or `sqlite:/path/kurado.db`. */
  storeUrl: string;
  mqttUrl?: string;
  amqpUrl?: string;
  /** Extra/overriding graph templates (`*.toml`). */
  graphsDir?: string;
  web: {
    listen: string;
    auth: 'none' | 'basic';
    usersFile?: string;
    trustedProxyHeader?: string;
    allowFrom: string[];
  };
  pull: {
    concurrency: number;
    /** Durable RabbitMQ queue of pull jobs (`kurado schedule` → `kurado pull-worker`). */
    queue: string;
    /** Per-job timeout, seconds, unless a plugin's `timeout` setting says otherwise. */
    timeoutSeconds: number;
  };
  /** What one agent may cost (`[limits]`); see src/core/limits.ts. */
  limits: IngestLimits;
  /**
   * `[[storage]]` nodes the hosts are spread over (see src/core/storage/); empty = one node,
   * data_dir written through `rrdcached` (or rrdtool).
   */
  storage: StorageNode[];
}

/** Settings given on the command line; undefined means "not given". */
export type ConfigOverrides = Partial<Omit<KuradoConfig, 'web' | 'pull' | 'limits' | 'storage'>> & {
  web?: Partial<KuradoConfig['web']>;
  pull?: Partial<KuradoConfig['pull']>;
  /** Command-line flags for single limits (`receive --max-message-bytes`); above `[limits]`. */
  limits?: Partial<IngestLimits>;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Environment variables and the setting each overrides (for systemd `EnvironmentFile=`). */
export const ENVIRONMENT_VARIABLES = {
  KURADO_DATA_DIR: 'data_dir',
  KURADO_RRDCACHED: 'rrdcached',
  KURADO_STORE_URL: 'store',
  KURADO_MQTT_URL: 'mqtt',
  KURADO_AMQP_URL: 'amqp',
  KURADO_GRAPHS_DIR: 'graphs_dir',
  KURADO_WEB_LISTEN: 'web.listen',
  KURADO_PULL_CONCURRENCY: 'pull.concurrency',
  KURADO_PULL_QUEUE: 'pull.queue',
  KURADO_PULL_TIMEOUT: 'pull.timeout',
} as const;

export const DEFAULT_DATA_DIR = '/var/lib/kurado';
export const DEFAULT_WEB_LISTEN = '0.0.0.0:5434';
export const DEFAULT_PULL_QUEUE = 'kurado.pull';
export const DEFAULT_PULL_TIMEOUT_SECONDS = 10;

interface TomlShape {
  data_dir?: unknown;
  rrdcached?: unknown;
  store?: unknown;
  mqtt?: unknown;
  amqp?: unknown;
  graphs_dir?: unknown;
  web?: {
    listen?: unknown;
    auth?: unknown;
    users_file?: unknown;
    trusted_proxy_header?: unknown;
    allow_from?: unknown;
  };
  pull?: { concurrency?: unknown; queue?: unknown; timeout?: unknown };
  limits?: Record<string, unknown>;
  storage?: unknown;
}

/**
 * Load settings: defaults < `kurado.toml` < `KURADO_*` environment < command-line flags.
 * A broken file is reported with its path, line and column.
 */
export function loadConfig(options: {
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigOverrides;
}): KuradoConfig {
  const env = options.env ?? process.env;
  const file = options.configPath ? readTomlFile(options.configPath) : {};
  const base = options.configPath ? path.dirname(path.resolve(options.configPath)) : process.cwd();
  const where = options.configPath ?? 'defaults';
  const str = (value: unknown, key: string): string | undefined => {
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw new ConfigError(`${where}: "${key}" must be a string`);
    return value;
  };
  const web = file.web ?? {};
  const dataDir =
    options.overrides?.dataDir ?? env.KURADO_DATA_DIR ?? str(file.data_dir, 'data_dir') ?? DEFAULT_DATA_DIR;
  const resolvedDataDir = path.resolve(base, dataDir);
  const allowFrom =
    options.overrides?.web?.allowFrom ?? (Array.isArray(web.allow_from) ? web.allow_from.map(String) : []);
  const auth = options.overrides?.web?.auth ?? str(web.auth, 'web.auth') ?? 'none';
  if (auth !== 'none' && auth !== 'basic')
    throw new ConfigError(`${where}: web.auth must be "none" or "basic", not "${auth}"`);
  const concurrencyText =
    options.overrides?.pull?.concurrency ?? env.KURADO_PULL_CONCURRENCY ?? file.pull?.concurrency ?? 16;
  const concurrency = Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ConfigError(`${where}: pull.concurrency must be a positive integer, not "${concurrencyText}"`);
  }
  const pullQueue =
    options.overrides?.pull?.queue ??
    env.KURADO_PULL_QUEUE ??
    str(file.pull?.queue, 'pull.queue') ??
    DEFAULT_PULL_QUEUE;
  const timeoutText =
    options.overrides?.pull?.timeoutSeconds ??
    env.KURADO_PULL_TIMEOUT ??
    file.pull?.timeout ??
    DEFAULT_PULL_TIMEOUT_SECONDS;
  const timeoutSeconds = Number(timeoutText);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new ConfigError(
      `${where}: pull.timeout must be a positive number of seconds, not "${timeoutText}"`,
    );
  }
  const graphsDir =
    options.overrides?.graphsDir ?? env.KURADO_GRAPHS_DIR ?? str(file.graphs_dir, 'graphs_dir');
  const usersFile = options.overrides?.web?.usersFile ?? str(web.users_file, 'web.users_file');
  const config: KuradoConfig = {
    dataDir: resolvedDataDir,
    storeUrl:
      options.overrides?.storeUrl ??
      env.KURADO_STORE_URL ??
      str(file.store, 'store') ??
      `sqlite:${path.join(resolvedDataDir, 'kurado.db')}`,
    web: {
      listen:
        options.overrides?.web?.listen ??
        env.KURADO_WEB_LISTEN ??
        str(web.listen, 'web.listen') ??
        DEFAULT_WEB_LISTEN,
      auth,
      allowFrom,
    },
    pull: { concurrency, queue: pullQueue, timeoutSeconds },
    limits: { ...readLimits(file.limits, where), ...options.overrides?.limits },
    storage: [],
  };
  const rrdcached = options.overrides?.rrdcached ?? env.KURADO_RRDCACHED ?? str(file.rrdcached, 'rrdcached');
  if (rrdcached) config.rrdcached = rrdcached;
  const storage = parseStorageTables(file.storage, where);
  if (storage.nodes.length > 0 && rrdcached) {
    storage.problems.push(
      `${where}: rrdcached (${rrdcached}) and [[storage]] are both set; with [[storage]] every rrdcached is a node: list this one as a [[storage]] entry too`,
    );
  }
  if (storage.problems.length > 0) throw new ConfigError(storage.problems.join('\n'));
  config.storage = storage.nodes;
  const mqttUrl = options.overrides?.mqttUrl ?? env.KURADO_MQTT_URL ?? str(file.mqtt, 'mqtt');
  if (mqttUrl) config.mqttUrl = mqttUrl;
  const amqpUrl = options.overrides?.amqpUrl ?? env.KURADO_AMQP_URL ?? str(file.amqp, 'amqp');
  if (amqpUrl) config.amqpUrl = amqpUrl;
  if (graphsDir) config.graphsDir = path.resolve(base, graphsDir);
  if (usersFile) config.web.usersFile = path.resolve(base, usersFile);
  const proxyHeader =
    options.overrides?.web?.trustedProxyHeader ?? str(web.trusted_proxy_header, 'web.trusted_proxy_header');
  if (proxyHeader) config.web.trustedProxyHeader = proxyHeader;
  return config;
}

/** `[limits]`: every key a whole number, unknown keys refused (a typo would silently not apply). */
function readLimits(table: Record<string, unknown> | undefined, where: string): IngestLimits {
  const limits: IngestLimits = { ...DEFAULT_LIMITS };
  if (table === undefined) return limits;
  const fields = Object.entries(LIMIT_KEYS) as [keyof IngestLimits, string][];
  for (const [key, value] of Object.entries(table)) {
    const field = fields.find(([, name]) => name === key)?.[0];
    if (field === undefined) {
      throw new ConfigError(
        `${where}: unknown key limits.${key}; known: ${fields.map(([, name]) => name).join(', ')}`,
      );
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new ConfigError(
        `${where}: limits.${key} must be a whole number (0 or more), not ${String(value)}`,
      );
    }
    limits[field] = value;
  }
  return limits;
}

/** Parse a TOML file, turning syntax errors into `<file>:<line>:<column>: <message>`. */
export function readTomlFile(file: string): TomlShape & Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return parseToml(text) as TomlShape & Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      throw new ConfigError(`${file}:${error.line}:${error.column}: ${error.message.split('\n')[0]}`);
    }
    throw error;
  }
}

/** A URL with its password replaced by `***`, for logs and `--help`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}
