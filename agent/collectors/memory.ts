import { type BaseMetric, type Collector, SourceFormatError } from './types.js';

/** `/proc/meminfo` as field → bytes (`kB` values are KiB; unit-less fields such as HugePages_* kept). */
export function parseMeminfo(text: string, source = '/proc/meminfo'): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([^:\s]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!match) {
      if (line.trim() !== '') throw new SourceFormatError(source, `unexpected line "${line}"`);
      continue;
    }
    const amount = Number(match[2]);
    fields.set(match[1]!, match[3] ? amount * 1024 : amount);
  }
  return fields;
}

/**
 * The memory gauges of the upstream agent, in bytes: total, free, buffers, cached, used (total -
 * free - buffers - cached), swap-total, swap-used, and `memory-available` (MemAvailable, only on
 * kernels since 3.14, so a 2.6.32 host simply has no such key).
 */
export function memoryMetrics(meminfo: Map<string, number>, source = '/proc/meminfo'): BaseMetric[] {
  const need = (field: string): number => {
    const value = meminfo.get(field);
    if (value === undefined) throw new SourceFormatError(source, `no ${field} line`);
    return value;
  };
  const total = need('MemTotal');
  const free = need('MemFree');
  const buffers = need('Buffers');
  const cached = need('Cached');
  const swapTotal = need('SwapTotal');
  const swapFree = need('SwapFree');
  const gauge = (name: string, value: number): BaseMetric => ({ name, type: 'gauge', value: String(value) });
  const metrics = [
    gauge('memory-total', total),
    gauge('memory-free', free),
    gauge('memory-buffers', buffers),
    gauge('memory-cached', cached),
    gauge('memory-used', total - free - buffers - cached),
    gauge('memory-swap-total', swapTotal),
    gauge('memory-swap-used', swapTotal - swapFree),
  ];
  const available = meminfo.get('MemAvailable');
  if (available !== undefined) metrics.push(gauge('memory-available', available));
  return metrics;
}

export const memoryCollector: Collector = {
  name: 'memory',
  collect: (files) => ({ metrics: memoryMetrics(parseMeminfo(files.readText('/proc/meminfo'))), meta: [] }),
};
