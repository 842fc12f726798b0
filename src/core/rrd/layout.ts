import { type Dirent, readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { AGGREGATES_DIRECTORY, RESERVED_HOST_NAMES } from '../protocol/host.js';
import { DS_TYPES, type DsType } from '../protocol/types.js';

const SAFE_BYTE = /^[A-Za-z0-9_.-]$/;
const DS_TYPE_SET: ReadonlySet<string> = new Set(DS_TYPES);
const RRD_SUFFIX = '.rrd';

/** Longest file or directory name (ext4, xfs and most others), in bytes. */
export const NAME_MAX = 255;
/** Longest escaped metric name: NAME_MAX less `.absolute.rrd`, the longest suffix a metric file gets. */
export const MAX_ESCAPED_NAME_LENGTH = NAME_MAX - `.absolute${RRD_SUFFIX}`.length;

/**
 * Escape one path component from a whitelist: `[A-Za-z0-9_.-]` stay, every other byte of the
 * UTF-8 encoding becomes `%XX`, and a component made only of dots is escaped whole, so that no
 * metric, plugin or host name can ever leave data_dir.
 */
export function escapePathComponent(component: string): string {
  // A lone `%` is what no non-empty name escapes to: an empty name stays one path level.
  if (component === '') return '%';
  if (/^\.+$/.test(component)) return '%2E'.repeat(component.length);
  let out = '';
  for (const char of component) {
    if (SAFE_BYTE.test(char)) out += char;
    else
      for (const byte of Buffer.from(char, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Length of `text` once escaped by escapePathComponent (an empty text escapes to `%`). */
export function escapedLength(text: string): number {
  if (text === '') return 1;
  if (/^\.+$/.test(text)) return 3 * text.length;
  let length = 0;
  for (const char of text) {
    if (SAFE_BYTE.test(char)) length += 1;
    else length += 3 * Buffer.byteLength(char);
  }
  return length;
}

/**
 * The inverse of escapePathComponent, for listing what is on disk: the name a component stands
 * for, or undefined when escapePathComponent would never have written it (a stray `%`, an invalid
 * or lower-case escape, a character outside the whitelist: a directory Kurado did not create).
 */
export function unescapePathComponent(component: string): string | undefined {
  if (component === '%') return '';
  let name: string;
  try {
    name = decodeURIComponent(component);
  } catch {
    return undefined;
  }
  return escapePathComponent(name) === component ? name : undefined;
}

/** `<data_dir>/<host>`, escaped. */
export function hostDirectory(dataDir: string, host: string): string {
  return path.join(dataDir, escapePathComponent(host));
}

/** `<data_dir>/<host>/<plugin>`, escaped. */
export function pluginDirectory(dataDir: string, host: string, plugin: string): string {
  return path.join(dataDir, escapePathComponent(host), escapePathComponent(plugin));
}

/** `<data_dir>/<host>/<plugin>/<name>.<type>.rrd`, every component escaped. */
export function rrdFilePath(
  dataDir: string,
  host: string,
  plugin: string,
  name: string,
  type: DsType,
): string {
  return path.join(pluginDirectory(dataDir, host, plugin), metricFileName(`${name}.${type}`));
}

/**
 * A file under data_dir as a storage node takes it (`[[storage]]`): relative to data_dir, which
 * stands for the node's `-b` tree; rrdcached over TCP resolves it against its `-b`.
 */
export function nodePath(dataDir: string, file: string): string {
  return path.relative(dataDir, file);
}

/** The inverse of nodePath: a path a storage node names (LIST) as a file under data_dir. */
export function pathFromNode(dataDir: string, relative: string): string {
  return path.join(dataDir, relative);
}

/** `<name>.<type>.rrd` escaped, from the metric's `<name>.<type>`. */
function metricFileName(metric: string): string {
  return `${escapePathComponent(metric)}${RRD_SUFFIX}`;
}

/** A metric file's `<name>.<type>` (unescaped), or undefined for a file Kurado did not create. */
export function metricOfFileName(file: string): string | undefined {
  if (!file.endsWith(RRD_SUFFIX)) return undefined;
  const metric = unescapePathComponent(file.slice(0, -RRD_SUFFIX.length));
  if (metric === undefined) return undefined;
  const dot = metric.lastIndexOf('.');
  return dot >= 0 && DS_TYPE_SET.has(metric.slice(dot + 1)) ? metric : undefined;
}

/** The parts of a path under data_dir, decoded; undefined when it is not below data_dir. */
export interface RrdPathParts {
  host: string;
  plugin?: string;
  /** `<name>.<type>` of a metric file. */
  metric?: string;
}

/**
 * Where `file` sits in the tree: its host, plugin and metric, decoded. A component Kurado did not
 * create is returned as it stands on disk, so a message about it still names it.
 */
export function parseRrdPath(dataDir: string, file: string): RrdPathParts | undefined {
  const relative = path.relative(dataDir, file);
  if (
    relative === '' ||
    relative === '..' ||
    relative.startsWith(`..${path.sep}`) ||
    path.isAbsolute(relative)
  )
    return undefined;
  const [host = '', plugin, metricFile, ...deeper] = relative.split(path.sep);
  if (deeper.length > 0) return undefined;
  const parts: RrdPathParts = { host: unescapePathComponent(host) ?? host };
  if (plugin !== undefined) parts.plugin = unescapePathComponent(plugin) ?? plugin;
  if (metricFile !== undefined) parts.metric = metricOfFileName(metricFile) ?? metricFile;
  return parts;
}

/** Names of the entries of `directory` that Kurado created; none when it cannot be read. */
function listNames(directory: string, directories: boolean): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(directory, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() !== directories) continue;
    const name = directories ? unescapePathComponent(entry.name) : metricOfFileName(entry.name);
    if (name !== undefined) out.push(name);
  }
  return out.sort();
}

/**
 * Hosts with a directory under data_dir, sorted; directories Kurado did not create, and its own
 * (the service summaries), are left out.
 */
export function listHosts(dataDir: string): string[] {
  return listNames(dataDir, true).filter((name) => !RESERVED_HOST_NAMES.has(name));
}

/**
 * Root of one service's summary files: `<data_dir>/kurado.aggregates/<service>`. Below it the
 * layout is the hosts' one with the label (`%`, the empty name, for the whole service) in the
 * host's place: `<label>/<plugin name>/<name>.gauge.rrd`, so rrdFilePath and the graph code apply.
 */
export function aggregateRoot(dataDir: string, service: string): string {
  return path.join(dataDir, AGGREGATES_DIRECTORY, escapePathComponent(service));
}

/** A summary file: `<data_dir>/kurado.aggregates/<service>/<label>/<plugin>/<name>.gauge.rrd`. */
export function aggregateFilePath(
  dataDir: string,
  service: string,
  label: string,
  plugin: string,
  name: string,
): string {
  return rrdFilePath(aggregateRoot(dataDir, service), label, plugin, name, 'gauge');
}

/** Plugin identifiers with a directory under the host's, sorted. */
export function listPlugins(dataDir: string, host: string): string[] {
  return listNames(hostDirectory(dataDir, host), true);
}

/** `<name>.<type>` of every metric file of a host's plugin, sorted. */
export function listMetrics(dataDir: string, host: string, plugin: string): string[] {
  return listNames(pluginDirectory(dataDir, host, plugin), false);
}

/**
 * Every metric file of `host` on disk, as the paths rrdFilePath gives (`<host>/<plugin>/*.rrd`);
 * empty when the host has no directory. One directory listing per plugin, no stat.
 */
export async function listHostFiles(dataDir: string, host: string): Promise<string[]> {
  const directory = hostDirectory(dataDir, host);
  const files: string[] = [];
  let plugins: Dirent[];
  try {
    plugins = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return files;
    throw error;
  }
  for (const plugin of plugins) {
    if (!plugin.isDirectory()) continue;
    const pluginDir = path.join(directory, plugin.name);
    for (const name of await readdir(pluginDir).catch(() => [] as string[])) {
      if (name.endsWith(RRD_SUFFIX)) files.push(path.join(pluginDir, name));
    }
  }
  return files;
}

export const RRD_STEP = 60;

/** Archives of every metric file (steps per row × rows): 1 min×2 d, 5 min×10 d, 1 h×40 d, 1 d×3 y. */
export const RRA_ARCHIVES: readonly { steps: number; rows: number }[] = [
  { steps: 1, rows: 2880 },
  { steps: 5, rows: 2880 },
  { steps: 60, rows: 960 },
  { steps: 1440, rows: 1100 },
];

/** RRA definition of every metric file: AVERAGE/MIN/MAX × each of RRA_ARCHIVES. */
export const RRA_DEFINITIONS: readonly string[] = ['AVERAGE', 'MIN', 'MAX'].flatMap((cf) =>
  RRA_ARCHIVES.map(({ steps, rows }) => `RRA:${cf}:0.5:${steps}:${rows}`),
);

/** How far back the longest archive reaches (seconds): nothing older can be drawn. */
export const RRD_RETENTION_SECONDS = Math.max(...RRA_ARCHIVES.map((a) => a.steps * a.rows * RRD_STEP));
export const DS_HEARTBEAT = 120;
export const DS_NAME = 'n';

/** Arguments after the file name for `rrdtool create` / rrdcached `CREATE`. */
export function createArguments(type: DsType, firstTimestamp: number): string[] {
  return [
    '-s',
    String(RRD_STEP),
    '-b',
    // A whole step before the first value: the first update then fills its step completely.
    // With less (it was -10 s) more than half the step is unknown and rrdtool stores the
    // first value of every new metric as unknown.
    String(firstTimestamp - RRD_STEP),
    `DS:${DS_NAME}:${type.toUpperCase()}:${DS_HEARTBEAT}:U:U`,
    ...RRA_DEFINITIONS,
  ];
}

/**
 * `text` (an rrdtool or rrdcached error) without server paths, for messages users see: a path
 * under data_dir becomes relative to `base` (data_dir, or a host's directory in it), any other
 * absolute path (a socket, a temp file) becomes "…". The full text belongs in the log.
 */
export function withoutServerPaths(text: string, dataDir: string, base = dataDir): string {
  const root = `${path.resolve(dataDir)}/`;
  const from = `${path.resolve(base)}/`;
  let out = from === root ? text : text.split(from).join('');
  out = out.split(root).join('');
  return hideAbsolutePaths(out);
}

/** `text` with every absolute path (`/usr/lib/x`, a socket, a temp file) replaced by "…". */
export function hideAbsolutePaths(text: string): string {
  return text.replace(/(^|[\s'"=:([{,])\/[^\s'")\]},]+/g, '$1…');
}
