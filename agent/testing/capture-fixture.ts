/**
 * Copy the files the collectors read from this machine into a fixture tree, so a host whose
 * output looks wrong can become a golden test: `npx tsx agent/testing/capture-fixture.ts <dir>`.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseMounts, realFilesystems } from '../collectors/disk-usage.js';

const target = process.argv[2];
if (!target) {
  console.error('usage: capture-fixture.ts <fixture dir>');
  process.exit(2);
}

function copy(file: string): void {
  const destination = path.join(target!, file);
  mkdirSync(path.dirname(destination), { recursive: true });
  // /proc files report size 0 (copyFileSync spins on them), so copy by reading the text.
  try {
    writeFileSync(destination, readFileSync(file, 'utf8'));
  } catch (error) {
    console.error(`skipped ${file}: ${(error as Error).message}`);
  }
}

for (const file of [
  'stat',
  'loadavg',
  'meminfo',
  'cpuinfo',
  'net/snmp',
  'net/dev',
  'mounts',
  'uptime',
  'version',
  'swaps',
]) {
  copy(`/proc/${file}`);
}
for (const device of readdirSync('/sys/block')) {
  copy(`/sys/block/${device}/stat`);
  if (device.startsWith('dm-')) copy(`/sys/block/${device}/dm/name`);
}
for (const device of readdirSync('/sys/class/net')) {
  copy(`/sys/class/net/${device}/flags`);
  copy(`/sys/class/net/${device}/operstate`);
}
const links: string[] = ['# link path<TAB>target (captured from /dev/mapper)'];
try {
  for (const entry of readdirSync('/dev/mapper')) {
    try {
      links.push(`/dev/mapper/${entry}\t${readlinkSync(`/dev/mapper/${entry}`)}`);
    } catch {
      // control and other device nodes are no links
    }
  }
} catch {
  // no device mapper here
}
writeFileSync(path.join(target, 'links.tsv'), `${links.join('\n')}\n`);
const statfs = ['# mount point<TAB>f_bsize<TAB>f_blocks<TAB>f_bfree<TAB>f_bavail'];
for (const fs of realFilesystems(parseMounts(readFileSync('/proc/mounts', 'utf8')))) {
  const stats = statfsSync(fs.mountPoint);
  statfs.push([fs.mountPoint, stats.bsize, stats.blocks, stats.bfree, stats.bavail].join('\t'));
}
writeFileSync(path.join(target, 'statfs.tsv'), `${statfs.join('\n')}\n`);
console.log(`captured into ${target}`);
