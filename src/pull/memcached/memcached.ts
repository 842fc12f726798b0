import { endpoint, portArg, tcpExchange } from '../net.js';
import { excerpt, oneLine } from '../text.js';
import type { FetchContext, Fetcher, PullTarget } from '../types.js';
import { FetchError } from '../types.js';

export const MEMCACHED_DEFAULT_PORT = 11211;

const DERIVE = ['cmd_get', 'cmd_set', 'get_hits', 'get_misses', 'evictions', 'evicted_unfetched'];
const GAUGE = ['curr_connections', 'bytes', 'limit_maxbytes', 'curr_items'];

/** A complete reply to `stats`/`stats settings`: `END`, or a one-line error. */
export function memcachedReplyDone(reply: string): boolean {
  return reply.endsWith('END\r\n') || /^(ERROR|CLIENT_ERROR|SERVER_ERROR)[^\r\n]*\r\n$/m.test(reply);
}

/** `STAT name value` lines as a map; a reply that is not one throws a FetchError. */
export function parseStatLines(reply: string, what: string, where: string): Map<string, string> {
  const stats = new Map<string, string>();
  const lines = reply.split('\r\n');
  for (const line of lines) {
    if (line === '' || line === 'END') continue;
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (!m)
      throw new FetchError(`${where} answered "${what}" with "${excerpt(line)}", not memcached STAT lines`);
    stats.set(m[1] as string, m[2] as string);
  }
  return stats;
}

/**
 * Lines for memcached's `stats` and `stats settings` replies: request, hit/miss and eviction
 * counters (derive), connections, bytes, items, the memory limit and `maxconns` (gauge), and meta
 * `version`, `uptime` and `maxconns`. `settings` may be undefined (a server without `stats settings`).
 */
export function parseMemcachedStats(stats: string, settings: string | undefined, where: string): string[] {
  const s = parseStatLines(stats, 'stats', where);
  if (!s.has('version') || !s.has('cmd_get'))
    throw new FetchError(`${where} answered "stats" without version and cmd_get: "${excerpt(stats)}"`);
  const lines: string[] = [];
  for (const name of DERIVE) if (s.has(name)) lines.push(`metrics.${name}.derive\t${s.get(name)}`);
  for (const name of GAUGE) if (s.has(name)) lines.push(`metrics.${name}.gauge\t${s.get(name)}`);
  const set =
    settings && !settings.startsWith('ERROR') ? parseStatLines(settings, 'stats settings', where) : undefined;
  const maxconns = set?.get('maxconns');
  if (maxconns !== undefined) lines.push(`metrics.maxconns.gauge\t${maxconns}`);
  lines.push(`meta.version\t${oneLine(s.get('version') as string)}`);
  if (s.has('uptime')) lines.push(`meta.uptime\t${s.get('uptime')}`);
  if (maxconns !== undefined) lines.push(`meta.maxconns\t${maxconns}`);
  return lines;
}

/** `memcached[:port]`: `stats` and `stats settings` over one TCP connection. */
export const memcachedFetcher: Fetcher = {
  name: 'memcached',
  async fetch(target: PullTarget, context: FetchContext): Promise<string[]> {
    const port = portArg(target, 0, MEMCACHED_DEFAULT_PORT);
    const where = endpoint(target.address, port);
    const [stats, settings] = await tcpExchange(
      target.address,
      port,
      ['stats\r\n', 'stats settings\r\n'],
      memcachedReplyDone,
      context,
    );
    if (stats === undefined || /^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(stats))
      throw new FetchError(`${where} refused "stats": "${excerpt(stats ?? '')}"`);
    return parseMemcachedStats(stats, settings, where);
  },
};
