import { type BaseMeta, type Collector, SourceFormatError } from './types.js';

/** Whole seconds since boot from /proc/uptime, as meta `uptime`. */
export function parseUptime(text: string, source = '/proc/uptime'): BaseMeta[] {
  const first = text.trim().split(/\s+/)[0] ?? '';
  if (!/^\d+(?:\.\d+)?$/.test(first))
    throw new SourceFormatError(source, `uptime is "${first}", expected seconds`);
  return [{ name: 'uptime', value: String(Math.trunc(Number(first))) }];
}

/** The /proc/version line (kernel, compiler, build), as meta `version`; tabs would break the wire line. */
export function parseVersion(text: string, source = '/proc/version'): BaseMeta[] {
  const line = text.split('\n')[0]?.trim().replace(/\s+/g, ' ') ?? '';
  if (line === '') throw new SourceFormatError(source, 'empty');
  return [{ name: 'version', value: line }];
}

export const uptimeCollector: Collector = {
  name: 'uptime',
  collect: (files) => ({ metrics: [], meta: parseUptime(files.readText('/proc/uptime')) }),
};

export const versionCollector: Collector = {
  name: 'sys_version',
  collect: (files) => ({ metrics: [], meta: parseVersion(files.readText('/proc/version')) }),
};
