import { deviceKeyName } from './types.js';
/**
 * Device-mapper names by kernel name (`dm-0` → `vg0-root`). Read from /sys/block/dm-N/dm/name
 * (every kernel since 2.6.29); where that is missing, from the /dev/mapper/<name> → ../dm-N
 * symlinks udev makes (the upstream agent's only source).
 */
export function deviceMapperNames(files, blockDevices) {
  const names = new Map();
  for (const device of blockDevices) {
    if (!/^dm-\d+$/.test(device)) continue;
    try {
      const name = files.readText(`/sys/block/${device}/dm/name`).trim();
      if (name !== '') names.set(device, name);
    } catch {
      // Fall back to the /dev/mapper links below.
    }
  }
  let mapperEntries = [];
  try {
    mapperEntries = files.listDir('/dev/mapper');
  } catch {
    // No device-mapper devices on this host.
  }
  for (const entry of mapperEntries) {
    const target = files.readLink(`/dev/mapper/${entry}`);
    const device = target?.split('/').pop();
    if (device && /^dm-\d+$/.test(device) && !names.has(device)) names.set(device, entry);
  }
  return names;
}
/**
 * Key name of a block device given as a kernel name (`sda`, `dm-0`) or a /dev path
 * (`/dev/mapper/vg0-root`, `/dev/dm-1`): device-mapper devices become `mapper_<name>` whichever
 * way they are named, so disk-usage, disk-io and swap keys of one device agree.
 */
export function blockDeviceKeyName(device, mapperNames) {
  const bare = device.startsWith('/dev/') ? device.slice('/dev/'.length) : device;
  const mapped = mapperNames.get(bare);
  return deviceKeyName(mapped === undefined ? bare : `mapper/${mapped}`);
}
//# sourceMappingURL=block-names.js.map
