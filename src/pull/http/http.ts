import { endpoint, hostHeader, httpStatusPage, portArg } from '../net.js';
import { excerpt, oneLine } from '../text.js';
import type { FetchContext, Fetcher, PullTarget } from '../types.js';
import { FetchError } from '../types.js';

export const HTTP_DEFAULT_PORT = 80;
export const HTTP_DEFAULT_PATH = '/server-status?auto';

/** An Uptime larger than this many seconds (20 years) is a start epoch, as old servers report it. */
const UPTIME_IS_EPOCH = 20 * 365 * 86400;

/**
 * Lines for one Apache mod_status `?auto` page: busy and idle workers (gauge; `BusyWorkers` or
 * the older `BusyServers`), requests (derive, only when the page has `Total Accesses`, i.e.
 * ExtendedStatus on), and meta `server` (the Server header), `uptime` (seconds) and `has-reqs`.
 * Throws a FetchError when the text is not such a page.
 */
export function parseApacheStatus(
  body: string,
  server: string | undefined,
  now: number,
  where: string,
): string[] {
  const fields = new Map<string, string>();
  for (const line of body.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const busy = numberField(fields, /^Busy(Workers|Servers)$/);
  const idle = numberField(fields, /^Idle(Workers|Servers)$/);
  if (busy === undefined || idle === undefined)
    throw new FetchError(
      `${where} did not answer an Apache mod_status "?auto" page (is "SetHandler server-status" set there?): "${excerpt(body)}"`,
    );
  const lines = [`metrics.busy.gauge\t${busy}`, `metrics.idle.gauge\t${idle}`];
  const accesses = numberField(fields, /^Total Accesses$/);
  if (accesses !== undefined) lines.push(`metrics.reqs.derive\t${accesses}`);
  if (server) lines.push(`meta.server\t${oneLine(server)}`);
  const uptime = numberField(fields, /^Uptime$/);
  if (uptime !== undefined) {
    const seconds = Number(uptime) > UPTIME_IS_EPOCH ? Math.max(0, now - Number(uptime)) : Number(uptime);
    lines.push(`meta.uptime\t${Math.trunc(seconds)}`);
  }
  lines.push(`meta.has-reqs\t${accesses === undefined ? 0 : 1}`);
  return lines;
}

function numberField(fields: Map<string, string>, name: RegExp): string | undefined {
  for (const [key, value] of fields) if (name.test(key) && /^\d+(\.\d+)?$/.test(value)) return value;
  return undefined;
}

/** A path without a query gets `?auto`, so `http:8080:/server-status` reads the machine form. */
export function statusPath(arg: string | undefined): string {
  if (!arg) return HTTP_DEFAULT_PATH;
  return arg.includes('?') ? arg : `${arg}?auto`;
}

/** `http[:port[:path[:host]]]`: GET http://address:port/path with Host: host (default: the address). */
export const httpFetcher: Fetcher = {
  name: 'http',
  async fetch(target: PullTarget, context: FetchContext): Promise<string[]> {
    const port = portArg(target, 0, HTTP_DEFAULT_PORT);
    const path = statusPath(target.args[1]);
    const host = target.args[2] || hostHeader(target.address);
    const reply = await httpStatusPage(target.address, port, path, host, context);
    const server = reply.headers.server;
    return parseApacheStatus(
      reply.body,
      typeof server === 'string' ? server : undefined,
      context.now,
      `http://${endpoint(target.address, port)}${path}`,
    );
  },
};
