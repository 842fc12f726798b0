import { GRAPH_STYLE } from '../core/graphs/style.js';
import { parseTimeText, resolveRange } from '../core/graphs/terms.js';
import { GraphRequestError, TERMS, type Term } from '../core/graphs/types.js';
import type { MetaEntry } from '../core/store/types.js';
import { DEFAULT_WEB_LIMITS } from './limits.js';

/** Buttons on the host and compare pages, in upstream order of usefulness. */
export const TERM_BUTTONS: { term: Term; label: string }[] = [
  { term: '1hour', label: '1 hour' },
  { term: '4hours', label: '4 hours' },
  { term: '8hours', label: '8 hours' },
  { term: 'day', label: 'Day' },
  { term: '3days', label: '3 days' },
  { term: 'week', label: 'Week' },
  { term: 'month', label: 'Month' },
  { term: 'year', label: 'Year' },
];

/** Graph widths offered on the host page (upstream: 400/500/1100). */
export const WIDTHS = [400, 500, 700, 1100] as const;
export const DEFAULT_PAGE_WIDTH = 500;
export const DEFAULT_COMPARE_WIDTH = 420;
/** Graph widths offered on the compare page. */
export const COMPARE_WIDTHS = [300, DEFAULT_COMPARE_WIDTH, 500, 700] as const;
/** Width of the graphs on the single-graph page without `width=`. */
export const DEFAULT_GRAPH_PAGE_WIDTH = 700;
/** `/graph/...png` without `width=` (upstream default). */
export const DEFAULT_PNG_WIDTH = 460;
/** Hosts one compare page shows: the per-request host bound of limits.ts. */
export const MAX_COMPARE_HOSTS = DEFAULT_WEB_LIMITS.hostsPerRequest;

/** `up 3 days, 4:05` from seconds (upstream `uptime2str`). */
export function uptimeText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return `up ${days} ${days === 1 ? 'day' : 'days'}, ${hours}:${String(minutes).padStart(2, '0')}`;
}

/** Meta keys that only feed graph templates (device lists, mount points): not shown as badges. */
const HIDDEN_META = /(^|-)(devices|interfaces)$|^disk-usage-.+-mount$/;

/** Upstream `sort_info`: version, uptime, then keys starting/ending with them, then alphabetical. */
function metaRank(key: string): number {
  if (key === 'version') return 0;
  if (key === 'uptime') return 1;
  if (key.startsWith('version')) return 2;
  if (key.startsWith('uptime')) return 3;
  if (key.endsWith('version')) return 4;
  if (key.endsWith('uptime')) return 5;
  return 6;
}

export interface Badge {
  name: string;
  value: string;
  /** Full value when `value` was shortened. */
  title: string;
}

/** Meta of one plugin as badges: uptime as "up N days, H:MM", long values shortened. */
export function metaBadges(meta: MetaEntry[]): Badge[] {
  return meta
    .filter((entry) => !HIDDEN_META.test(entry.name))
    .sort((a, b) => metaRank(a.name) - metaRank(b.name) || a.name.localeCompare(b.name))
    .map((entry) => {
      let value = entry.value;
      if (/(^|[-_])uptime$/.test(entry.name) && /^\d+(\.\d+)?$/.test(value.trim())) {
        value = uptimeText(Number(value));
      }
      const title = value;
      if (value.length > 80) value = `${value.slice(0, 77)}...`;
      return { name: entry.name, value, title };
    });
}

/** Plugin identifiers longer than 27 characters are shortened to 25 + ".." (tooltip has the rest). */
export function shortPlugin(plugin: string): string {
  return plugin.length > 27 ? `${plugin.slice(0, 25)}..` : plugin;
}

export function encodeSegment(value: string): string {
  return encodeURIComponent(value);
}

type Params = Record<string, string | number | undefined | (string | number)[]>;

export function queryString(params: Params): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === '') continue;
    if (Array.isArray(value)) for (const item of value) search.append(key, String(item));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function hostUrl(address: string, params: Params = {}): string {
  return `/host/${encodeSegment(address)}${queryString(params)}`;
}

export function graphPngUrl(address: string, plugin: string, graph: string, params: Params = {}): string {
  return `/graph/${encodeSegment(address)}/${encodeSegment(plugin)}/${encodeSegment(graph)}.png${queryString(params)}`;
}

/** The page showing one graph over several terms. */
export function graphViewUrl(address: string, plugin: string, graph: string): string {
  return `/host/${encodeSegment(address)}/graph/${encodeSegment(plugin)}/${encodeSegment(graph)}`;
}

export function graphDataUrl(address: string, plugin: string, graph: string, params: Params = {}): string {
  return `/api/graph/${encodeSegment(address)}/${encodeSegment(plugin)}/${encodeSegment(graph)}${queryString(params)}`;
}

/** The service page (`label` in `params` narrows it to one label). */
export function serviceUrl(service: string, params: Params = {}): string {
  return `/service/${encodeSegment(service)}${queryString(params)}`;
}

/** A service-page graph as PNG (`label` in `params` for one label). */
export function serviceGraphPngUrl(
  service: string,
  plugin: string,
  graph: string,
  params: Params = {},
): string {
  return `/service-graph/${encodeSegment(service)}/${encodeSegment(plugin)}/${encodeSegment(graph)}.png${queryString(params)}`;
}

/** The numbers of a service-page graph. */
export function serviceGraphDataUrl(
  service: string,
  plugin: string,
  graph: string,
  params: Params = {},
): string {
  return `/api/service-graph/${encodeSegment(service)}/${encodeSegment(plugin)}/${encodeSegment(graph)}${queryString(params)}`;
}

export class QueryError extends Error {
  override name = 'QueryError';
}

/** One query value; repeated parameters take the last one. */
export function single(value: unknown): string | undefined {
  if (Array.isArray(value)) return single(value[value.length - 1]);
  if (value === undefined || value === null) return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

export function list(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const values = Array.isArray(value) ? value : [value];
  return values
    .flatMap((item) => String(item).split(','))
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A point in time from a query; the rules (and their limits) are core's parseTimeText. */
export function parseTime(value: string, name: string): number {
  try {
    return parseTimeText(value, name);
  } catch (error) {
    if (error instanceof GraphRequestError) throw new QueryError(error.message);
    throw error;
  }
}

function parseInteger(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new QueryError(`${name}="${value}" must be a whole number`);
  const number = Number(value);
  if (number < min || number > max)
    throw new QueryError(`${name}=${number} must be between ${min} and ${max}`);
  return number;
}

export interface RangeQuery {
  term: Term;
  from?: number;
  to?: number;
  width: number;
  height: number;
}

/** The time range of a page as URL query parameters (from/to only for a custom range). */
export function rangeParams(range: RangeQuery): Record<string, string | number | undefined> {
  return {
    term: range.term,
    from: range.term === 'custom' ? range.from : undefined,
    to: range.term === 'custom' ? range.to : undefined,
  };
}

/**
 * `term`, `from`, `to`, `width`, `height` of a graph request; a bad value throws a QueryError.
 * A custom range is checked against `now` (epoch seconds) by the same rules the renderer uses.
 */
export function parseRange(
  query: Record<string, unknown>,
  defaultWidth: number,
  defaultTerm: Term = 'day',
  now: number = Math.floor(Date.now() / 1000),
): RangeQuery {
  const fromText = single(query.from);
  const toText = single(query.to);
  let termText = single(query.term);
  if (termText === undefined && fromText !== undefined && toText !== undefined) termText = 'custom';
  const term = (termText ?? defaultTerm) as Term;
  if (!TERMS.includes(term)) throw new QueryError(`term="${termText}" must be one of ${TERMS.join(', ')}`);
  const range: RangeQuery = {
    term,
    width: parseInteger(
      single(query.width),
      'width',
      GRAPH_STYLE.minWidth,
      GRAPH_STYLE.maxWidth,
      defaultWidth,
    ),
    height: parseInteger(
      single(query.height),
      'height',
      GRAPH_STYLE.minHeight,
      GRAPH_STYLE.maxHeight,
      GRAPH_STYLE.defaultHeight,
    ),
  };
  if (term === 'custom') {
    if (fromText === undefined || toText === undefined)
      throw new QueryError('term=custom needs both from and to');
    range.from = parseTime(fromText, 'from');
    range.to = parseTime(toText, 'to');
    if (range.from >= range.to) throw new QueryError('from must be before to');
    try {
      resolveRange(term, now, range.from, range.to);
    } catch (error) {
      if (error instanceof GraphRequestError) throw new QueryError(error.message);
      throw error;
    }
  }
  return range;
}

/** Seconds until the next full minute (at least 1): graphs change once a minute. */
export function secondsToNextMinute(nowMs: number): number {
  return Math.max(1, 60 - (Math.floor(nowMs / 1000) % 60));
}

/** `YYYY-MM-DDTHH:MM` in the server's time zone, for `<input type=datetime-local>` without JS. */
export function localInputValue(epoch: number): string {
  const d = new Date(epoch * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function localTimeText(epoch: number): string {
  return localInputValue(epoch).replace('T', ' ');
}
