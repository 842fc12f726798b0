import { blockDeviceKeyName, deviceMapperNames } from './block-names.js';
import { SourceFormatError } from './types.js';
/** /proc/mounts lines; octal escapes (`\040` for a space) in paths decoded. */
export function parseMounts(text, source = '/proc/mounts') {
  const mounts = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [device, mountPoint, fsType] = line.split(' ');
    if (device === undefined || mountPoint === undefined || fsType === undefined) {
      throw new SourceFormatError(source, `unexpected line "${line}"`);
    }
    mounts.push({ device: unescapeOctal(device), mountPoint: unescapeOctal(mountPoint), fsType });
  }
  return mounts;
}
function unescapeOctal(text) {
  return text.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(Number.parseInt(octal, 8)));
}
/**
 * The filesystems worth a disk-usage graph: mounted from a /dev block device (not tmpfs, proc,
 * overlay or network mounts), not a loop device (snap images, ISO files are always full), not
 * /boot (upstream rule). A device mounted several times (bind mounts, container volumes) counts
 * once, at its shortest mount point.
 */
export function realFilesystems(mounts) {
  const byDevice = new Map();
  for (const mount of mounts) {
    if (!mount.device.startsWith('/dev/') || /^\/dev\/loop\d+$/.test(mount.device)) continue;
    if (mount.mountPoint === '/boot' || mount.mountPoint.startsWith('/boot/')) continue;
    const known = byDevice.get(mount.device);
    if (!known || mount.mountPoint.length < known.mountPoint.length) byDevice.set(mount.device, mount);
  }
  return [...byDevice.values()];
}
/** Used and available space in KiB, as `df -k` prints them (columns 3 and 4). */
export function usageKiB(blocks) {
  return {
    used: Math.floor(((blocks.blocks - blocks.free) * blocks.blockSize) / 1024),
    available: Math.floor((blocks.available * blocks.blockSize) / 1024),
  };
}
export const diskUsageCollector = {
  name: 'disk_usage',
  collect(files) {
    const filesystems = realFilesystems(parseMounts(files.readText('/proc/mounts')));
    const mapperNames = filesystems.some((fs) => /^\/dev\/(?:mapper\/|dm-)/.test(fs.device))
      ? deviceMapperNames(files, safeList(files, '/sys/block'))
      : new Map();
    const metrics = [];
    const meta = [];
    const problems = [];
    const devices = [];
    for (const fs of filesystems) {
      const name = blockDeviceKeyName(fs.device, mapperNames);
      let usage;
      try {
        usage = usageKiB(files.statfs(fs.mountPoint));
      } catch (error) {
        problems.push(`statfs ${fs.mountPoint}: ${error.message}`);
        continue;
      }
      devices.push(name);
      metrics.push({ name: `disk-usage-${name}-used`, type: 'gauge', value: String(usage.used) });
      metrics.push({ name: `disk-usage-${name}-available`, type: 'gauge', value: String(usage.available) });
      meta.push({ name: `disk-usage-${name}-mount`, value: fs.mountPoint });
    }
    meta.push({ name: 'disk-usage-devices', value: devices.join(',') });
    return { metrics, meta, problems };
  },
};
function safeList(files, dir) {
  try {
    return files.listDir(dir);
  } catch {
    return [];
  }
}
//# sourceMappingURL=disk-usage.js.map
