import { commandFetcher } from './command/command.js';
import { httpFetcher } from './http/http.js';
import { memcachedFetcher } from './memcached/memcached.js';
import { mysqlFetcher } from './mysql/mysql.js';
import { nginxFetcher } from './nginx/nginx.js';
import { redisFetcher } from './redis/redis.js';
import type { Fetcher } from './types.js';

const FETCHERS: readonly Fetcher[] = [
  nginxFetcher,
  httpFetcher,
  mysqlFetcher,
  redisFetcher,
  memcachedFetcher,
  commandFetcher,
];

const BY_NAME = new Map(FETCHERS.map((f) => [f.name, f]));

/** Names of the plugins a worker pulls, in a stable order. `base` is the agent's and never pulled. */
export const PULL_PLUGIN_NAMES: readonly string[] = FETCHERS.map((f) => f.name);

/** The fetcher for a plugin name (`nginx`), or undefined when the plugin is push-only (`base`). */
export function fetcherFor(name: string): Fetcher | undefined {
  return BY_NAME.get(name);
}

/** Whether a role's plugin is pulled by workers (has a fetcher). */
export function isPullPlugin(name: string): boolean {
  return BY_NAME.has(name);
}
