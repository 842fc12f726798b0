import { SourceFormatError } from './types.js';
/** Whole seconds since boot from /proc/uptime, as meta `uptime`. */
export function parseUptime(text, source = '/proc/uptime') {
  const first = text.trim().split(/\s+/)[0] ?? '';
  if (!/^\d+(?:\.\d+)?$/.test(first))
    throw new SourceFormatError(source, `uptime is "${first}", expected seconds`);
  return [{ name: 'uptime', value: String(Math.trunc(Number(first))) }];
}
/** The /proc/version line (kernel, compiler, build), as meta `version`; tabs would break the wire line. */
export function parseVersion(text, source = '/proc/version') {
  const line = text.split('\n')[0]?.trim().replace(/\s+/g, ' ') ?? '';
  if (line === '') throw new SourceFormatError(source, 'empty');
  return [{ name: 'version', value: line }];
}
export const uptimeCollector = {
  name: 'uptime',
  collect: (files) => ({ metrics: [], meta: parseUptime(files.readText('/proc/uptime')) }),
};
export const versionCollector = {
  name: 'sys_version',
  collect: (files) => ({ metrics: [], meta: parseVersion(files.readText('/proc/version')) }),
};
//# sourceMappingURL=system.js.map
