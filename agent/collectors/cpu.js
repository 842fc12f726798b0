import { counter, SourceFormatError } from './types.js';
/** The ten `/proc/stat` cpu columns in kernel order; older kernels print fewer (2.6.32: 8 or 9). */
export const CPU_COLUMNS = [
  'user',
  'nice',
  'system',
  'idle',
  'iowait',
  'irq',
  'softirq',
  'steal',
  'guest',
  'guest-nice',
];
/**
 * The aggregate `cpu ` line of /proc/stat as ten derive metrics `cpu-<column>` (USER_HZ ticks).
 * Columns an older kernel does not print are 0, so every host has the same ten keys.
 */
export function parseProcStat(text, source = '/proc/stat') {
  const line = text.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (line === undefined) throw new SourceFormatError(source, 'no aggregate "cpu " line');
  const fields = line.trim().split(/\s+/).slice(1);
  if (fields.length < 4)
    throw new SourceFormatError(source, `"cpu " line has ${fields.length} columns, expected at least 4`);
  return CPU_COLUMNS.map((column, index) => ({
    name: `cpu-${column}`,
    type: 'derive',
    value: index < fields.length ? counter(fields[index], source, `cpu ${column}`) : '0',
  }));
}
export const cpuCollector = {
  name: 'cpu_usage',
  collect: (files) => ({ metrics: parseProcStat(files.readText('/proc/stat')), meta: [] }),
};
//# sourceMappingURL=cpu.js.map
