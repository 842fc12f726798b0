import { endpoint, hostHeader, httpStatusPage, portArg } from '../net.js';
import { excerpt, oneLine } from '../text.js';
import type { FetchContext, Fetcher, PullTarget } from '../types.js';
import { FetchError } from '../types.js';

export const NGINX_DEFAULT_PORT = 80;
export const NGINX_DEFAULT_PATH = '/nginx_status';

const ACTIVE = /^Active connections:\s*(\d+)/m;
const COUNTERS = /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/m;
const STATES = /Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)/;

/**
 * Lines for one nginx stub_status page: connections reading/writing/waiting (gauge), requests
 * (derive, the third number of the `accepts handled requests` line) and the Server header as
 * meta. Throws a FetchError when the text is not a stub_status page.
 */
export function parseNginxStatus(body: string, server: string | undefined, where: string): string[] {
  const counters = COUNTERS.exec(body);
  const states = STATES.exec(body);
  if (!ACTIVE.test(body) || !counters || !states)
    throw new FetchError(
      `${where} did not answer an nginx stub_status page (is "stub_status" enabled at that location?): "${excerpt(body)}"`,
    );
  const lines = [
    `metrics.read.gauge\t${states[1]}`,
    `metrics.write.gauge\t${states[2]}`,
    `metrics.wait.gauge\t${states[3]}`,
    `metrics.reqs.derive\t${counters[3]}`,
  ];
  if (server) lines.push(`meta.server\t${oneLine(server)}`);
  return lines;
}

/** `nginx[:port[:path[:host]]]`: GET http://address:port/path with Host: host (default: the address). */
export const nginxFetcher: Fetcher = {
  name: 'nginx',
  async fetch(target: PullTarget, context: FetchContext): Promise<string[]> {
    const port = portArg(target, 0, NGINX_DEFAULT_PORT);
    const path = target.args[1] || NGINX_DEFAULT_PATH;
    const host = target.args[2] || hostHeader(target.address);
    const reply = await httpStatusPage(target.address, port, path, host, context);
    const server = reply.headers.server;
    return parseNginxStatus(
      reply.body,
      typeof server === 'string' ? server : undefined,
      `http://${endpoint(target.address, port)}${path}`,
    );
  },
};
