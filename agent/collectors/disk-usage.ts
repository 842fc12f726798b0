import type { FsBlocks } from '../host-files.js';
import { blockDeviceKeyName, deviceMapperNames } from './block-names.js';
import { type BaseMeta, type BaseMetric, type Collector, SourceFormatError } from './types.js';

/** One line of /proc/mounts. */
export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
}

/** /proc/mounts lines; octal escapes (`\040` for a space) in paths decoded. */
export function parseMounts(text: string, source = '/proc/mounts'): MountEntry[] {
  const mounts: MountEntry[] = [];
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

function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The filesystems worth a disk-usage graph: mounted from a /dev block device (not tmpfs, proc,
 * overlay or network mounts), not a loop device (snap images, ISO files are always full), not
 * /boot (upstream rule). A device mounted several times (bind mounts, container volumes) counts
 * once, at its shortest mount point.
 */
export function realFilesystems(mounts: readonly MountEntry[]): MountEntry[] {
  const byDevice = new Map<string, MountEntry>();
  for (const mount of mounts) {
    if (!mount.device.startsWith('/dev/') || /^\/dev\/loop\d+$/.test(mount.device)) continue;
    if (mount.mountPoint === '/boot' || mount.mountPoint.startsWith('/boot/')) continue;
    const known = byDevice.get(mount.device);
    if (!known || mount.mountPoint.length < known.mountPoint.length) byDevice.set(mount.device, mount);
  }
  return [...byDevice.values()];
}

/** Used and available space in KiB, as `df -k` prints them (columns 3 and 4). */
export function usageKiB(blocks: FsBlocks): { used: number; available: number } {
  return {
    used: Math.floor(((blocks.blocks - blocks.free) * blocks.blockSize) / 1024),
    available: Math.floor((blocks.available * blocks.blockSize) / 1024),
  };
}

export const diskUsageCollector: Collector = {
  name: 'disk_usage',
  collect(files) {
    const filesystems = realFilesystems(parseMounts(files.readText('/proc/mounts')));
    const mapperNames = filesystems.some((fs) => /^\/dev\/(?:mapper\/|dm-)/.test(fs.device))
      ? deviceMapperNames(files, safeList(files, '/sys/block'))
      : new Map<string, string>();
    const metrics: BaseMetric[] = [];
    const meta: BaseMeta[] = [];
    const problems: string[] = [];
    const devices: string[] = [];
    for (const fs of filesystems) {
      const name = blockDeviceKeyName(fs.device, mapperNames);
      let usage: { used: number; available: number };
      try {
        usage = usageKiB(files.statfs(fs.mountPoint));
      } catch (error) {
        problems.push(`statfs ${fs.mountPoint}: ${(error as Error).message}`);
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

function safeList(files: { listDir(dir: string): string[] }, dir: string): string[] {
  try {
    return files.listDir(dir);
  } catch {
    return [];
  }
}
