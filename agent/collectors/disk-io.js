import { blockDeviceKeyName, deviceMapperNames } from './block-names.js';
import { counter, SourceFormatError } from './types.js';
/** /sys/block/<dev>/stat: 11 fields on 2.6 kernels, 15 or 17 on newer ones; only the first 7 are used. */
export function parseBlockStat(text, source) {
  const fields = text.trim().split(/\s+/);
  if (fields.length < 7) throw new SourceFormatError(source, `${fields.length} fields, expected at least 7`);
  return {
    readIos: counter(fields[0], source, 'read I/Os'),
    readSectors: counter(fields[2], source, 'read sectors'),
    writeIos: counter(fields[4], source, 'write I/Os'),
    writeSectors: counter(fields[6], source, 'write sectors'),
  };
}
/** loop and ram devices are files and RAM disks, not disks (upstream rule). */
export function isIgnoredBlockDevice(device) {
  return /^(?:loop|ram)\d+$/.test(device);
}
/** A device that never did one read or write (empty CD drive, unused partition table) has no graph. */
export function isActive(stat) {
  return stat.readIos !== '0' || stat.writeIos !== '0';
}
/** The four derive metrics `disk-io-<name>-{read,write}-{ios,sectors}` of one device. */
export function blockStatMetrics(name, stat) {
  return [
    { name: `disk-io-${name}-read-ios`, type: 'derive', value: stat.readIos },
    { name: `disk-io-${name}-read-sectors`, type: 'derive', value: stat.readSectors },
    { name: `disk-io-${name}-write-ios`, type: 'derive', value: stat.writeIos },
    { name: `disk-io-${name}-write-sectors`, type: 'derive', value: stat.writeSectors },
  ];
}
export const diskIoCollector = {
  name: 'disk_io',
  collect(files) {
    const devices = files.listDir('/sys/block').filter((device) => !isIgnoredBlockDevice(device));
    const mapperNames = deviceMapperNames(files, devices);
    const metrics = [];
    const names = [];
    const problems = [];
    for (const device of devices) {
      let stat;
      try {
        const source = `/sys/block/${device}/stat`;
        stat = parseBlockStat(files.readText(source), source);
      } catch (error) {
        problems.push(error.message);
        continue;
      }
      if (!isActive(stat)) continue;
      const name = blockDeviceKeyName(device, mapperNames);
      names.push(name);
      metrics.push(...blockStatMetrics(name, stat));
    }
    return { metrics, meta: [{ name: 'disk-io-devices', value: names.join(',') }], problems };
  },
};
//# sourceMappingURL=disk-io.js.map
