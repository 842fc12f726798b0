import { blockDeviceKeyName, deviceMapperNames } from './block-names.js';
import { SourceFormatError } from './types.js';
/** Swap partitions (not swap files) listed in /proc/swaps, as /dev paths. */
export function parseSwaps(text, source = '/proc/swaps') {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (!lines[0]?.startsWith('Filename')) throw new SourceFormatError(source, 'no "Filename Type ..." header');
  return lines
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === 'partition')
    .map((fields) => fields[0].replace(/\\040/g, ' '));
}
export const swapsCollector = {
  name: 'swaps',
  collect(files) {
    const partitions = parseSwaps(files.readText('/proc/swaps'));
    const mapperNames = partitions.some((device) => /^\/dev\/(?:mapper\/|dm-)/.test(device))
      ? deviceMapperNames(files, files.listDir('/sys/block'))
      : new Map();
    const names = partitions.map((device) => blockDeviceKeyName(device, mapperNames));
    return { metrics: [], meta: [{ name: 'disk-swap-devices', value: names.join(',') }] };
  },
};
//# sourceMappingURL=swaps.js.map
