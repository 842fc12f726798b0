import { SourceFormatError } from './types.js';
/** Number of `processor :` entries in /proc/cpuinfo, as the gauge `processors`. */
export function parseCpuinfo(text, source = '/proc/cpuinfo') {
  const count = text.split('\n').filter((line) => /^processor\s*:/.test(line)).length;
  if (count === 0) throw new SourceFormatError(source, 'no "processor :" line');
  return [{ name: 'processors', type: 'gauge', value: String(count) }];
}
export const processorsCollector = {
  name: 'processors',
  collect: (files) => ({ metrics: parseCpuinfo(files.readText('/proc/cpuinfo')), meta: [] }),
};
//# sourceMappingURL=processors.js.map
