import { SourceFormatError } from './types.js';

const LOAD = /^\d+(?:\.\d+)?$/;
/** `/proc/loadavg` fields 1-3 as gauges `loadavg-1`, `loadavg-5`, `loadavg-15`. */
export function parseLoadavg(text, source = '/proc/loadavg') {
  const fields = text.trim().split(/\s+/);
  return ['1', '5', '15'].map((minutes, index) => {
    const value = fields[index];
    if (value === undefined || !LOAD.test(value)) {
      throw new SourceFormatError(source, `field ${index + 1} is "${value ?? ''}", expected a load average`);
    }
    return { name: `loadavg-${minutes}`, type: 'gauge', value };
  });
}
export const loadavgCollector = {
  name: 'loadavg',
  collect: (files) => ({ metrics: parseLoadavg(files.readText('/proc/loadavg')), meta: [] }),
};
//# sourceMappingURL=loadavg.js.map
