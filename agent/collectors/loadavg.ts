import { type BaseMetric, type Collector, SourceFormatError } from './types.js';

const LOAD = /^\d+(?:\.\d+)?$/;

/** `/proc/loadavg` fields 1-3 as gauges `loadavg-1`, `loadavg-5`, `loadavg-15`. */
export function parseLoadavg(text: string, source = '/proc/loadavg'): BaseMetric[] {
  const fields = text.trim().split(/\s+/);
  return ['1', '5', '15'].map((minutes, index) => {
    const value = fields[index];
    if (value === undefined || !LOAD.test(value)) {
      throw new SourceFormatError(source, `field ${index + 1} is "${value ?? ''}", expected a load average`);
    }
    return { name: `loadavg-${minutes}`, type: 'gauge' as const, value };
  });
}

export const loadavgCollector: Collector = {
  name: 'loadavg',
  collect: (files) => ({ metrics: parseLoadavg(files.readText('/proc/loadavg')), meta: [] }),
};
