import { CPU_COLUMNS } from '../../src/core/protocol/index.js';
import { type BaseMetric, type Collector, counter, SourceFormatError } from './types.js';

/**
 * The aggregate `cpu ` line of /proc/stat as ten derive metrics `cpu-<column>` (USER_HZ ticks).
 * Columns an older kernel does not print are 0, so every host has the same ten keys.
 */
export function parseProcStat(text: string, source = '/proc/stat'): BaseMetric[] {
  const line = text.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (line === undefined) throw new SourceFormatError(source, 'no aggregate "cpu " line');
  const fields = line.trim().split(/\s+/).slice(1);
  if (fields.length < 4)
    throw new SourceFormatError(source, `"cpu " line has ${fields.length} columns, expected at least 4`);
  return CPU_COLUMNS.map((column, index) => ({
    name: `cpu-${column}`,
    type: 'derive' as const,
    value: index < fields.length ? counter(fields[index], source, `cpu ${column}`) : '0',
  }));
}

export const cpuCollector: Collector = {
  name: 'cpu_usage',
  collect: (files) => ({ metrics: parseProcStat(files.readText('/proc/stat')), meta: [] }),
};
