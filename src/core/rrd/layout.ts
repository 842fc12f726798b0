import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
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

/** `<data_dir>/<host>`: the directory that holds every file of one host. */
export function hostDirectory(dataDir: string, host: string): string {
  return path.join(dataDir, escapePathComponent(host));
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
    const pluginDirectory = path.join(directory, plugin.name);
    for (const name of await readdir(pluginDirectory).catch(() => [] as string[])) {
      if (name.endsWith('.rrd')) files.push(path.join(pluginDirectory, name));
    }
  }
  return files;
}

/** RRA definition of every metric file: AVERAGE/MIN/MAX × 1 min×2 d, 5 min×10 d, 1 h×40 d, 1 d×3 y. */
export const RRA_DEFINITIONS: readonly string[] = ['AVERAGE', 'MIN', 'MAX'].flatMap((cf) =>
  ['1:2880', '5:2880', '60:960', '1440:1100'].map((spec) => `RRA:${cf}:0.5:${spec}`),
);

export const RRD_STEP = 60;
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
