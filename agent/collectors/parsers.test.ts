import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FsBlocks, HostFiles } from '../host-files.js';
import { blockDeviceKeyName, deviceMapperNames } from './block-names.js';
import { parseProcStat } from './cpu.js';
import { isActive, parseBlockStat } from './disk-io.js';
import { parseMounts, realFilesystems, usageKiB } from './disk-usage.js';
import { parseLoadavg } from './loadavg.js';
import { memoryMetrics, parseMeminfo } from './memory.js';
import { parseSwaps } from './swaps.js';
import { parseUptime, parseVersion } from './system.js';
import { parseNetSnmp } from './tcp.js';
import { interfaceKeyName, isUpInterface, parseNetDev } from './traffic.js';

const fixture = (set: string, file: string) =>
  readFileSync(new URL(`../fixtures/${set}/${file}`, import.meta.url), 'utf8');

describe('/proc/stat', () => {
  it('reads the ten cpu columns of a current kernel in order', () => {
    const metrics = parseProcStat('cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n');
    expect(metrics.map((m) => `${m.name}=${m.value}`)).toEqual([
      'cpu-user=1',
      'cpu-nice=2',
      'cpu-system=3',
      'cpu-idle=4',
      'cpu-iowait=5',
      'cpu-irq=6',
      'cpu-softirq=7',
      'cpu-steal=8',
      'cpu-guest=9',
      'cpu-guest-nice=10',
    ]);
    expect(new Set(metrics.map((m) => m.type))).toEqual(new Set(['derive']));
  });

  it('fills the columns a 2.6.32 kernel does not print with 0', () => {
    const metrics = parseProcStat(fixture('centos6-2.6.32-lvm-swap', 'proc/stat'));
    expect(metrics).toHaveLength(10);
    expect(metrics.find((m) => m.name === 'cpu-user')?.value).toBe('10132153');
    expect(metrics.find((m) => m.name === 'cpu-guest-nice')?.value).toBe('0');
  });

  it('names the file when the aggregate line is missing or broken', () => {
    expect(() => parseProcStat('cpu0 1 2 3 4\n')).toThrow('/proc/stat: no aggregate "cpu " line');
    expect(() => parseProcStat('cpu  1 2 x 4\n')).toThrow(/\/proc\/stat: cpu system is "x"/);
  });
});

describe('/proc/loadavg, /proc/uptime, /proc/version, /proc/net/snmp', () => {
  it('keeps load averages as printed', () => {
    expect(parseLoadavg('0.18 0.24 12.20 1/317 28411\n').map((m) => m.value)).toEqual([
      '0.18',
      '0.24',
      '12.20',
    ]);
  });
  it('truncates uptime to whole seconds and keeps the version line on one line', () => {
    expect(parseUptime('21987766.52 86231904.07\n')).toEqual([{ name: 'uptime', value: '21987766' }]);
    expect(parseVersion('Linux version 5.15\t(x)\n')[0]?.value).toBe('Linux version 5.15 (x)');
  });
  it('finds CurrEstab by its header, whatever columns come before it', () => {
    expect(parseNetSnmp(fixture('centos6-2.6.32-lvm-swap', 'proc/net/snmp'))[0]?.value).toBe('55');
    expect(() => parseNetSnmp('Ip: Forwarding\nIp: 1\n')).toThrow('/proc/net/snmp: no Tcp: header');
  });
});

describe('/proc/meminfo', () => {
  it('converts kB to bytes and derives used and swap-used', () => {
    const metrics = memoryMetrics(parseMeminfo(fixture('centos7-3.10-lvm-bond-vlan', 'proc/meminfo')));
    const value = (name: string) => Number(metrics.find((m) => m.name === name)?.value);
    expect(value('memory-total')).toBe(16265580 * 1024);
    expect(value('memory-used')).toBe((16265580 - 611820 - 2108 - 10473752) * 1024);
    expect(value('memory-swap-used')).toBe((8257532 - 8187644) * 1024);
    expect(value('memory-available')).toBe(11406040 * 1024);
  });
  it('has no memory-available on a kernel without MemAvailable', () => {
    const metrics = memoryMetrics(parseMeminfo(fixture('centos6-2.6.32-lvm-swap', 'proc/meminfo')));
    expect(metrics.map((m) => m.name)).not.toContain('memory-available');
    expect(metrics).toHaveLength(7);
  });
});

describe('disk usage', () => {
  it('decodes octal escapes and keeps real block-device filesystems once, without /boot and loop', () => {
    const mounts = parseMounts(fixture('ubuntu22-5.15-nvme', 'proc/mounts'));
    expect(realFilesystems(mounts).map((m) => `${m.device} ${m.mountPoint}`)).toEqual([
      '/dev/root /',
      '/dev/nvme0n1p2 /mnt/backup disk',
    ]);
    const lvm = realFilesystems(parseMounts(fixture('centos7-3.10-lvm-bond-vlan', 'proc/mounts')));
    expect(lvm.map((m) => m.mountPoint)).toEqual(['/', '/home']);
  });
  it('computes used and available KiB as df -k does', () => {
    expect(usageKiB({ blockSize: 4096, blocks: 100, free: 40, available: 30 })).toEqual({
      used: 240,
      available: 120,
    });
  });
});

describe('block devices', () => {
  it('reads the 4 counters from 11- and 17-field stat files and skips idle devices', () => {
    const old = parseBlockStat(fixture('centos6-2.6.32-lvm-swap', 'sys/block/sda/stat'), 'sda');
    expect(old).toEqual({
      readIos: '4116829',
      readSectors: '94153162',
      writeIos: '31658730',
      writeSectors: '654573696',
    });
    const nvme = parseBlockStat(fixture('ubuntu22-5.15-nvme', 'sys/block/nvme0n1/stat'), 'nvme0n1');
    expect(nvme.writeSectors).toBe('147301216');
    expect(isActive(parseBlockStat(fixture('ubuntu22-5.15-nvme', 'sys/block/nvme1n1/stat'), 'nvme1n1'))).toBe(
      false,
    );
  });

  it('names dm-N after /dev/mapper symlinks when /sys/block/dm-N/dm/name is not there', () => {
    const files: HostFiles = {
      readText(file) {
        throw new Error(`ENOENT ${file}`);
      },
      listDir: (dir) => (dir === '/dev/mapper' ? ['control', 'vg0-data', 'vg0-root'] : []),
      readLink: (file) =>
        ({ '/dev/mapper/vg0-root': '../dm-0', '/dev/mapper/vg0-data': '../dm-1' })[file] as
          | string
          | undefined,
      statfs: (): FsBlocks => ({ blockSize: 0, blocks: 0, free: 0, available: 0 }),
    };
    const names = deviceMapperNames(files, ['dm-0', 'dm-1', 'sda']);
    expect([...names]).toEqual([
      ['dm-1', 'vg0-data'],
      ['dm-0', 'vg0-root'],
    ]);
    expect(blockDeviceKeyName('dm-0', names)).toBe('mapper_vg0-root');
    expect(blockDeviceKeyName('/dev/mapper/vg0-data', names)).toBe('mapper_vg0-data');
    expect(blockDeviceKeyName('/dev/dm-1', names)).toBe('mapper_vg0-data');
    expect(blockDeviceKeyName('cciss!c0d0', names)).toBe('cciss_c0d0');
  });

  it('lists swap partitions but not swap files', () => {
    expect(parseSwaps(fixture('centos7-3.10-lvm-bond-vlan', 'proc/swaps'))).toEqual(['/dev/dm-1']);
    expect(parseSwaps(fixture('ubuntu22-5.15-nvme', 'proc/swaps'))).toEqual([]);
  });
});

describe('network interfaces', () => {
  it('reads 2.6.32 lines where the counter touches the colon', () => {
    const counters = parseNetDev(fixture('centos6-2.6.32-lvm-swap', 'proc/net/dev'));
    expect(counters.get('eth0')).toEqual({ rx: '4028112230', tx: '28491357313' });
  });
  it('keeps 64-bit counters digit for digit', () => {
    const counters = parseNetDev(fixture('ubuntu22-5.15-nvme', 'proc/net/dev'));
    expect(counters.get('ens5')?.rx).toBe('18446744069414584320');
  });
  it('reads VLAN and bond names', () => {
    const counters = parseNetDev(fixture('centos7-3.10-lvm-bond-vlan', 'proc/net/dev'));
    expect([...counters.keys()].sort()).toEqual(['bond0', 'bond0.100', 'docker0', 'eth0', 'eth1', 'lo']);
    expect(interfaceKeyName('bond0.100')).toBe('bond0.100');
    expect(interfaceKeyName('wg@0')).toBe('wg_0');
  });
  it('counts an interface as up from IFF_UP and operstate, never loopback', () => {
    expect(isUpInterface('0x1003\n', 'up\n')).toBe(true);
    expect(isUpInterface('0x1803', 'up')).toBe(true); // bond slave
    expect(isUpInterface('0x1003', 'down')).toBe(false); // no carrier
    expect(isUpInterface('0x1002', 'down')).toBe(false); // ip link set down
    expect(isUpInterface('0x10d1', 'unknown')).toBe(true); // tun
    expect(isUpInterface('0x9', 'unknown')).toBe(false); // lo
  });
});
