import path from 'node:path';
import type { DsType } from '../protocol/types.js';

const SAFE_BYTE = /^[A-Za-z0-9_.-]$/;

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

/** The inverse of escapePathComponent, for listing what is on disk. */
export function unescapePathComponent(component: string): string {
  return decodeURIComponent(component);
}

/** `<data_dir>/<host>/<plugin>/<name>.<type>.rrd`, every component escaped. */
export function rrdFilePath(
  dataDir: string,
  host: string,
  plugin: string,
  name: string,
  type: DsType,
): string {
  return path.join(
    dataDir,
    escapePathComponent(host),
    escapePathComponent(plugin),
    `${escapePathComponent(`${name}.${type}`)}.rrd`,
  );
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
  return out.replace(/(^|[\s'"=:([{,])\/[^\s'")\]},]+/g, '$1…');
}
