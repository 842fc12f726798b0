import { counter, SourceFormatError } from './types.js';
/**
 * /proc/net/dev: two header lines, then `<name>: <8 receive fields> <8 transmit fields>`. Old
 * kernels print no space after the colon once the counter is wide (`eth0:1234567890 ...`).
 */
export function parseNetDev(text, source = '/proc/net/dev') {
  const interfaces = new Map();
  for (const line of text.split('\n').slice(2)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new SourceFormatError(source, `no "name:" in "${line}"`);
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (fields.length < 16)
      throw new SourceFormatError(source, `${name} has ${fields.length} fields, expected 16`);
    interfaces.set(name, {
      rx: counter(fields[0], source, `${name} receive bytes`),
      tx: counter(fields[8], source, `${name} transmit bytes`),
    });
  }
  return interfaces;
}
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const OPERSTATES_DOWN = new Set(['down', 'lowerlayerdown', 'notpresent']);
/**
 * Whether an interface counts as UP, from /sys/class/net/<if>/flags (hex, IFF_UP) and operstate:
 * administratively up and not known to be down. `unknown` (lo, tun, many virtual NICs) counts as
 * up, as `ip link` shows those `UP` too. Loopback never counts.
 */
export function isUpInterface(flagsText, operstate) {
  const flags = Number.parseInt(flagsText.trim(), 16);
  if (Number.isNaN(flags)) return false;
  if (flags & IFF_LOOPBACK) return false;
  return (flags & IFF_UP) !== 0 && !OPERSTATES_DOWN.has(operstate.trim());
}
/** Interface names in keys keep VLAN dots (`eth0.100`); anything outside `[A-Za-z0-9_.-]` becomes `_`. */
export function interfaceKeyName(name) {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}
export const trafficCollector = {
  name: 'traffic',
  collect(files) {
    const counters = parseNetDev(files.readText('/proc/net/dev'));
    const metrics = [];
    const names = [];
    const problems = [];
    for (const [device, bytes] of [...counters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (device === 'lo') continue;
      let up;
      try {
        up = isUpInterface(
          files.readText(`/sys/class/net/${device}/flags`),
          files.readText(`/sys/class/net/${device}/operstate`),
        );
      } catch (error) {
        problems.push(`state of ${device}: ${error.message}`);
        continue;
      }
      if (!up) continue;
      const name = interfaceKeyName(device);
      names.push(name);
      metrics.push({ name: `traffic-${name}-rxbytes`, type: 'derive', value: bytes.rx });
      metrics.push({ name: `traffic-${name}-txbytes`, type: 'derive', value: bytes.tx });
    }
    return { metrics, meta: [{ name: 'traffic-interfaces', value: names.join(',') }], problems };
  },
};
//# sourceMappingURL=traffic.js.map
