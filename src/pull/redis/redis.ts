import { Redis } from 'ioredis';
import { endpoint, networkError, portArg, stringSetting, timeoutError } from '../net.js';
import { excerpt, oneLine } from '../text.js';
import type { FetchContext, Fetcher, PullTarget } from '../types.js';
import { FetchError } from '../types.js';

export const REDIS_DEFAULT_PORT = 6379;

const DERIVE = ['total_commands_processed', 'total_connections_received', 'evicted_keys'];
const GAUGE = [
  'connected_clients',
  'connected_slaves',
  'used_memory',
  // Redis 2.x names it changes_since_last_save, later versions rdb_changes_since_last_save.
  'changes_since_last_save',
  'rdb_changes_since_last_save',
  'mem_fragmentation_ratio',
  'pubsub_channels',
];
/** CONFIG GET parameters shown as meta. */
export const REDIS_CONFIG_META = [
  'maxmemory',
  'maxclients',
  'rdbcompression',
  'appendonly',
  'maxmemory-policy',
  'appendfsync',
  'save',
  'slowlog-max-len',
];

/** What one redis fetch read: INFO text, SLOWLOG LEN (undefined if refused), CONFIG GET pairs. */
export interface RedisReplies {
  info: string;
  slowlogLen: number | undefined;
  config: Record<string, string>;
}

/** `INFO` text as a field → value map (section headers and blank lines skipped). */
export function parseInfo(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of info.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/**
 * Lines for one redis: command/connection/eviction counters (derive); clients, replicas, memory,
 * unsaved changes, fragmentation, pub/sub channels, keys (sum over `dbN:keys=`) and slowlog
 * length (gauge); meta `version`, `uptime`, `role`, `vm_enabled` (2.x) and the CONFIG values.
 */
export function parseRedis(replies: RedisReplies, where: string): string[] {
  const info = parseInfo(replies.info);
  const version = info.get('redis_version');
  if (version === undefined)
    throw new FetchError(`${where} answered INFO without redis_version: "${excerpt(replies.info)}"`);
  const lines: string[] = [];
  for (const name of DERIVE) if (info.has(name)) lines.push(`metrics.${name}.derive\t${info.get(name)}`);
  for (const name of GAUGE) if (info.has(name)) lines.push(`metrics.${name}.gauge\t${info.get(name)}`);
  let keys = 0;
  for (const [field, value] of info) {
    if (!/^db\d+$/.test(field)) continue;
    const m = /(?:^|,)keys=(\d+)/.exec(value);
    if (m) keys += Number(m[1]);
  }
  lines.push(`metrics.keys.gauge\t${keys}`);
  if (replies.slowlogLen !== undefined) lines.push(`metrics.slowlog.gauge\t${replies.slowlogLen}`);
  lines.push(`meta.version\t${oneLine(version)}`);
  const uptime = info.get('uptime_in_seconds');
  if (uptime !== undefined) lines.push(`meta.uptime\t${uptime}`);
  for (const name of ['vm_enabled', 'role']) {
    const value = info.get(name);
    if (value !== undefined) lines.push(`meta.${name}\t${oneLine(value)}`);
  }
  for (const name of REDIS_CONFIG_META) {
    const value = replies.config[name];
    if (value !== undefined) lines.push(`meta.${name}\t${oneLine(value)}`);
  }
  return lines;
}

function describe(err: unknown, where: string, context: FetchContext): FetchError {
  if (context.signal.aborted) return timeoutError(where, context);
  const message = err instanceof Error ? err.message : String(err);
  if (/^(NOAUTH|WRONGPASS)|invalid password|invalid username-password/i.test(message))
    return new FetchError(
      `${where} refused the credentials (settings user/password): ${excerpt(message, 120)}`,
    );
  if (/Command timed out/i.test(message)) return timeoutError(where, context);
  if (/NOPERM/.test(message))
    return new FetchError(`${where}: the user lacks a permission: ${excerpt(message, 120)}`);
  return networkError(err, where, context);
}

/** `redis[:port]`: INFO, SLOWLOG LEN and CONFIG GET over one connection. Settings `user`, `password`. */
export const redisFetcher: Fetcher = {
  name: 'redis',
  async fetch(target: PullTarget, context: FetchContext): Promise<string[]> {
    const port = portArg(target, 0, REDIS_DEFAULT_PORT);
    const where = endpoint(target.address, port);
    if (context.signal.aborted) throw timeoutError(where, context);
    const user = stringSetting(target, 'user');
    const password = stringSetting(target, 'password');
    const client = new Redis({
      host: target.address,
      port,
      ...(user !== undefined ? { username: user } : {}),
      ...(password !== undefined ? { password } : {}),
      lazyConnect: true,
      connectTimeout: context.timeoutMs,
      commandTimeout: context.timeoutMs,
      enableReadyCheck: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectionName: 'kurado-pull',
    });
    let lastError: unknown;
    // Without a listener ioredis prints connection errors itself; the fetch reports them instead.
    client.on('error', (err: unknown) => {
      lastError = err;
    });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        client.disconnect();
        reject(timeoutError(where, context));
      };
      context.signal.addEventListener('abort', onAbort, { once: true });
    });
    const work = (async () => {
      await client.connect();
      // Redis 7 takes every parameter in one CONFIG GET: one round trip for everything.
      const results =
        (await client
          .pipeline()
          .info()
          .slowlog('LEN')
          .config('GET', ...REDIS_CONFIG_META)
          .exec()) ?? [];
      const [infoResult, slowlogResult, configResult] = results;
      if (!infoResult || infoResult[0]) throw infoResult?.[0] ?? lastError ?? new Error('no reply to INFO');
      let configReplies: [Error | null, unknown][] = configResult ? [configResult] : [];
      if (configResult?.[0] && /wrong number of arguments/i.test(configResult[0].message)) {
        // Before Redis 7, CONFIG GET takes one parameter.
        const single = client.pipeline();
        for (const name of REDIS_CONFIG_META) single.config('GET', name);
        configReplies = (await single.exec()) ?? [];
      }
      const config: Record<string, string> = {};
      for (const [err, reply] of configReplies) {
        // CONFIG is often disabled on managed servers; the metrics do not need it.
        if (err || !Array.isArray(reply)) continue;
        for (let i = 0; i + 1 < reply.length; i += 2) config[String(reply[i])] = String(reply[i + 1]);
      }
      return parseRedis(
        {
          info: String(infoResult[1]),
          slowlogLen: slowlogResult && !slowlogResult[0] ? Number(slowlogResult[1]) : undefined,
          config,
        },
        where,
      );
    })();
    try {
      return await Promise.race([work, aborted]);
    } catch (err) {
      if (err instanceof FetchError) throw err;
      // A closed connection is reported as such; the socket error that closed it says why.
      const closed = err instanceof Error && /Connection is closed|Stream isn't writeable/.test(err.message);
      throw describe(closed && lastError ? lastError : err, where, context);
    } finally {
      if (onAbort) context.signal.removeEventListener('abort', onAbort);
      work.catch(() => undefined);
      aborted.catch(() => undefined);
      client.disconnect();
    }
  },
};
