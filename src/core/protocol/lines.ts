import { escapedLength, MAX_ESCAPED_NAME_LENGTH, NAME_MAX } from '../rrd/layout.js';
import { hostProblem, normalizeHost, printable } from './host.js';
import { DS_TYPES, type DsType, KINDS, type Kind, type MetricSample, type ParsedMessage } from './types.js';

/**
 * Longest line accepted, in UTF-8 bytes (not characters: 4096 `€` are 12 KiB); an agent line is
 * about 80 bytes, a kernel version about 200.
 */
export const MAX_LINE_LENGTH = 4096;
/** Longest metric or meta name, so that `<name>.<type>.rrd` escaped stays under NAME_MAX (255). */
export const MAX_NAME_LENGTH = 120;
/** Longest plugin identifier (`nginx:8080:/nginx_status`). */
export const MAX_PLUGIN_LENGTH = 120;
/** 2000-01-01T00:00:00Z: anything earlier is a broken clock, not history. */
export const EARLIEST_TIMESTAMP = 946_684_800;
/** How far ahead of the receiver's clock a timestamp may be (agents with a drifting clock). */
export const MAX_FUTURE_SECONDS = 3600;

const DS_TYPE_SET: ReadonlySet<string> = new Set(DS_TYPES);
const KIND_SET: ReadonlySet<string> = new Set(KINDS);
const PLUGIN_NAME = /^[A-Za-z0-9_-]+$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const EPOCH = /^\d{1,12}$/;
/**
 * C0 and C1 control characters (tab excepted: it separates fields). A NUL in a stored meta value
 * later breaks every rrdtool argument built from it, a newline forges lines in text answers.
 */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
// Letters and digits of any script, and the punctuation metric names use; never a path
// separator, whitespace, control or invisible formatting character.
const NAME = /^[\p{L}\p{N}_.:@+%=,#~-]+$/u;

export interface ParseOptions {
  /** Host from the MQTT topic / routing key; lines may carry their own address as a 4th field. */
  host?: string;
  /** The receiver's clock in epoch seconds (for the future-timestamp check). */
  now: number;
  /**
   * Whether `host` may send 4-field lines for other hosts (a proxy). Without it such lines are
   * rejected; a 4-field line naming `host` itself is always accepted, and so is every 4-field
   * line of a message without a host.
   */
  mayRelay?: boolean;
}

/** A key split into its parts: `base.metrics.cpu-user.derive`. */
export interface ParsedKey {
  plugin: string;
  kind: Kind;
  name: string;
  type?: DsType;
  /** `<name>.<type>` of a metric key, built once per distinct key (latest values are kept by it). */
  metric?: string;
}

/**
 * Split and check `<plugin>.<metrics|meta|warn>.<name>[.<type>]`. Returns the reason on failure.
 * The plugin part is URI-unescaped, as the upstream fetchers escape identifiers (`http%3A80`).
 */
export function parseKey(key: string): ParsedKey | string {
  const firstDot = key.indexOf('.');
  const secondDot = firstDot < 0 ? -1 : key.indexOf('.', firstDot + 1);
  if (secondDot < 0) return `key "${printable(key)}" is not <plugin>.<metrics|meta|warn>.<name>`;
  const rawPlugin = key.slice(0, firstDot);
  const kind = key.slice(firstDot + 1, secondDot);
  let rest = key.slice(secondDot + 1);
  if (!KIND_SET.has(kind)) {
    return `unknown kind "${printable(kind)}" in key "${printable(key)}" (expected metrics, meta or warn)`;
  }
  const plugin = unescapePlugin(rawPlugin);
  const pluginProblem = pluginIdentifierProblem(plugin);
  if (pluginProblem) return `${pluginProblem} in key "${printable(key)}"`;

  let type: DsType | undefined;
  if (kind === 'metrics') {
    const lastDot = rest.lastIndexOf('.');
    const suffix = lastDot < 0 ? '' : rest.slice(lastDot + 1);
    if (!DS_TYPE_SET.has(suffix)) {
      return lastDot < 0
        ? `metric "${printable(key)}" has no data-source type (append .gauge, .counter, .derive or .absolute)`
        : `unknown data-source type "${printable(suffix)}" in "${printable(key)}" (expected gauge, counter, derive or absolute)`;
    }
    type = suffix as DsType;
    rest = rest.slice(0, lastDot);
  }
  const nameProblem = metricNameProblem(rest);
  if (nameProblem) return `${nameProblem} in key "${printable(key)}"`;
  return type
    ? { plugin, kind: kind as Kind, name: rest, type, metric: `${rest}.${type}` }
    : { plugin, kind: kind as Kind, name: rest };
}

/** Why `name` is no acceptable metric/meta/warn name, or undefined. */
export function metricNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.length > MAX_NAME_LENGTH) return `name longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME.test(name))
    return `name "${printable(name)}" has characters other than letters, digits and _.:@+%=,#~-`;
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
    return `name "${printable(name)}" has an empty or dot-only part`;
  }
  if (/%2e|%2f|%5c|%00/i.test(name)) return `name "${printable(name)}" hides a path character in %-escapes`;
  // `<name>.<type>.rrd` escaped must fit in one file name.
  if (escapedLength(name) > MAX_ESCAPED_NAME_LENGTH) {
    return `name "${printable(name)}" is too long once escaped for a file name (more than ${MAX_ESCAPED_NAME_LENGTH} bytes)`;
  }
  return undefined;
}

/** Why `plugin` is no acceptable plugin identifier (`name[:arg...]`), or undefined. */
export function pluginIdentifierProblem(plugin: string): string | undefined {
  if (plugin.length === 0) return 'empty plugin name';
  if (plugin.length > MAX_PLUGIN_LENGTH)
    return `plugin identifier longer than ${MAX_PLUGIN_LENGTH} characters`;
  const colon = plugin.indexOf(':');
  const name = colon < 0 ? plugin : plugin.slice(0, colon);
  if (!PLUGIN_NAME.test(name)) return `plugin name "${printable(name)}" is not [A-Za-z0-9_-]+`;
  if (/[\u0000-\u001f\u007f\s\\]/.test(plugin))
    return `plugin identifier "${printable(plugin)}" has whitespace or control characters`;
  if (plugin.split(/[:/]/).some((part) => part === '..'))
    return `plugin identifier "${printable(plugin)}" has a ".." part`;
  if (escapedLength(plugin) > NAME_MAX) {
    return `plugin identifier "${printable(plugin)}" is too long once escaped for a directory name (more than ${NAME_MAX} bytes)`;
  }
  return undefined;
}

function rejectLine(result: ParsedMessage, line: number, text: string, reason: string, host?: string): void {
  result.rejected.push(
    host === undefined
      ? { line, text: printable(text), reason }
      : { line, text: printable(text), reason, host },
  );
}

/** Distinct keys seen; a fleet sends the same few thousand keys every minute from every host. */
const keyCache = new Map<string, ParsedKey | string>();
const KEY_CACHE_LIMIT = 100_000;

/** parseKey with memory: the validation regexes run once per distinct key, not once per line. */
function parseKeyCached(key: string): ParsedKey | string {
  let parsed = keyCache.get(key);
  if (parsed === undefined) {
    parsed = parseKey(key);
    // Hostile senders could invent endless keys: start over rather than grow without bound.
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(key, parsed);
  }
  return parsed;
}

function unescapePlugin(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A metric key once checked: its type is known. */
export type MetricKey = ParsedKey & { kind: 'metrics'; type: DsType; metric: string };

/**
 * Receives each accepted metric line. The ingest hot path turns it straight into an RRD update,
 * so no MetricSample is built for it (one object less per value for the garbage collector).
 */
export type MetricSink = (
  host: string,
  key: string,
  parsedKey: MetricKey,
  value: number | null,
  timestamp: number,
) => void;

/**
 * Parse one message of lines. Never throws: every line that is not accepted lands in
 * `rejected` with a reason, and its neighbours are still parsed.
 */
export function parseMessage(payload: string, options: ParseOptions): ParsedMessage {
  const metrics: MetricSample[] = [];
  const parse = new SlicedParse(payload, options, (host, key, parsedKey, value, timestamp) => {
    const { plugin, name, type } = parsedKey;
    metrics.push({ host, key, plugin, name, type, value, timestamp });
  });
  parse.next(Number.POSITIVE_INFINITY);
  parse.result.metrics = metrics;
  return parse.result;
}

/**
 * A message parsed a slice of lines at a time, so a 100,000-line message does not hold the event
 * loop (other connections' messages, MQTT keepalives, the web) for the whole of it: the caller
 * calls `next` until it returns true, yielding in between. Same rules and results as
 * `parseMessage`, except that metric lines go to `onMetric` in order (the ingest hot path turns
 * each straight into an RRD update) and the result's `metrics` stays empty.
 */
export class SlicedParse {
  readonly result: ParsedMessage = { metrics: [], meta: [], warnings: [], rejected: [] };
  /** Where the next line starts, and how many lines came before it. */
  private readonly cursor = { start: 0, lineNumber: 0 };

  constructor(
    private readonly payload: string,
    private readonly options: ParseOptions,
    private readonly onMetric: MetricSink,
  ) {}

  /** Whether every line is parsed (what may follow a final newline is an empty line). */
  get done(): boolean {
    return this.cursor.start >= this.payload.length;
  }

  /** Lines parsed so far (blank and comment lines included). */
  get lines(): number {
    return this.cursor.lineNumber;
  }

  /** Parse up to `maxLines` more lines; true once the whole message is parsed. */
  next(maxLines: number): boolean {
    const cursor = this.cursor;
    cursor.lineNumber = parseLines(
      this.payload,
      this.options,
      this.onMetric,
      this.result,
      cursor,
      cursor.lineNumber + maxLines,
    );
    return this.done;
  }
}

/** Parse lines from `cursor.start` until the payload ends or `stopAt` lines; the new line count. */
function parseLines(
  payload: string,
  options: ParseOptions,
  onMetric: MetricSink,
  result: ParsedMessage,
  cursor: { start: number; lineNumber: number },
  stopAt: number,
): number {
  const latest = options.now + MAX_FUTURE_SECONDS;
  let lineNumber = cursor.lineNumber;
  let start = cursor.start;
  const length = payload.length;
  while (start <= length && lineNumber < stopAt) {
    let end = payload.indexOf('\n', start);
    if (end < 0) end = length;
    lineNumber++;
    let line = payload.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0 || line.startsWith('#') || line.startsWith('//')) continue;
    // A UTF-16 unit is at most 3 UTF-8 bytes: only longer lines need counting.
    if (
      line.length > MAX_LINE_LENGTH ||
      (line.length > MAX_LINE_LENGTH / 3 && Buffer.byteLength(line) > MAX_LINE_LENGTH)
    ) {
      rejectLine(result, lineNumber, line, `line longer than ${MAX_LINE_LENGTH} bytes`, options.host);
      continue;
    }
    // Fields by tab position rather than split(): this loop runs for every value received.
    const tab1 = line.indexOf('\t');
    const tab2 = tab1 < 0 ? -1 : line.indexOf('\t', tab1 + 1);
    const tab3 = tab2 < 0 ? -1 : line.indexOf('\t', tab2 + 1);
    const tab4 = tab3 < 0 ? -1 : line.indexOf('\t', tab3 + 1);
    let host = options.host;
    let key: string;
    let value: string;
    let epochText: string;
    if (tab2 < 0 || tab4 >= 0) {
      const count = line.split('\t').length;
      rejectLine(
        result,
        lineNumber,
        line,
        count < 3
          ? `missing field: expected key<TAB>value<TAB>epoch, got ${count} field(s)`
          : `too many fields: expected 3 or 4 TAB-separated fields, got ${count}`,
        options.host,
      );
      continue;
    }
    if (tab3 < 0) {
      key = line.slice(0, tab1);
      value = line.slice(tab1 + 1, tab2);
      epochText = line.slice(tab2 + 1);
    } else {
      const address = normalizeHost(line.slice(0, tab1));
      const problem = hostProblem(address);
      if (problem) {
        rejectLine(result, lineNumber, line, `bad address field: ${problem}`, options.host);
        continue;
      }
      if (options.host !== undefined && address !== options.host && options.mayRelay !== true) {
        rejectLine(
          result,
          lineNumber,
          line,
          `relayed line for ${address} refused: ${options.host} may not write for other hosts (relay = true in hosts.toml, or receive --allow-relay)`,
          options.host,
        );
        continue;
      }
      host = address;
      key = line.slice(tab1 + 1, tab2);
      value = line.slice(tab2 + 1, tab3);
      epochText = line.slice(tab3 + 1);
    }
    if (host === undefined) {
      rejectLine(
        result,
        lineNumber,
        line,
        'no host: the line has no address field and the message no host topic',
      );
      continue;
    }
    const parsedKey = parseKeyCached(key);
    if (typeof parsedKey === 'string') {
      rejectLine(result, lineNumber, line, parsedKey, host);
      continue;
    }
    if (!EPOCH.test(epochText)) {
      rejectLine(
        result,
        lineNumber,
        line,
        epochText === '' ? 'missing timestamp' : `timestamp "${printable(epochText)}" is not epoch seconds`,
        host,
      );
      continue;
    }
    const timestamp = Number(epochText);
    if (timestamp < EARLIEST_TIMESTAMP) {
      rejectLine(result, lineNumber, line, `timestamp ${timestamp} is before 2000-01-01`, host);
      continue;
    }
    if (timestamp > latest) {
      rejectLine(
        result,
        lineNumber,
        line,
        `timestamp ${timestamp} is more than ${MAX_FUTURE_SECONDS} s ahead of this receiver's clock (${options.now})`,
        host,
      );
      continue;
    }
    const { plugin, name } = parsedKey;
    if (parsedKey.kind !== 'metrics' && CONTROL.test(value)) {
      rejectLine(result, lineNumber, line, `${parsedKey.kind} value has control characters`, host);
      continue;
    }
    if (parsedKey.kind === 'metrics') {
      let number: number | null;
      if (value === 'U' || value === 'nan' || value === 'NaN') number = null;
      else if (NUMBER.test(value)) {
        number = Number(value);
        if (!Number.isFinite(number)) {
          rejectLine(result, lineNumber, line, `value "${printable(value)}" is out of range`, host);
          continue;
        }
      } else {
        rejectLine(
          result,
          lineNumber,
          line,
          `value "${printable(value)}" is not a number (or U for unknown)`,
          host,
        );
        continue;
      }
      onMetric(host, key, parsedKey as MetricKey, number, timestamp);
    } else if (parsedKey.kind === 'meta') {
      result.meta.push({ host, plugin, name, value, timestamp });
    } else {
      result.warnings.push({ host, plugin, name, message: value, timestamp });
    }
  }
  cursor.start = start;
  return lineNumber;
}
