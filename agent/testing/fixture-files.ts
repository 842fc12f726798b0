import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FsBlocks, HostFiles } from '../host-files.js';

/**
 * HostFiles over a fixture tree `agent/fixtures/<set>/`: `proc/…` and `sys/…` hold copies of the
 * real files; what a plain tree cannot hold is described in two text files:
 * - `links.tsv`: `<absolute link path><TAB><target>` (the /dev/mapper symlinks udev makes);
 * - `statfs.tsv`: `<mount point><TAB><f_bsize><TAB><f_blocks><TAB><f_bfree><TAB><f_bavail>`.
 */
export class FixtureHostFiles implements HostFiles {
  private readonly links: Map<string, string>;
  private readonly filesystems: Map<string, FsBlocks>;

  constructor(readonly root: string) {
    this.links = new Map(readTable(path.join(root, 'links.tsv')).map(([link, target]) => [link!, target!]));
    this.filesystems = new Map(
      readTable(path.join(root, 'statfs.tsv')).map(([mount, bsize, blocks, bfree, bavail]) => [
        mount!,
        { blockSize: Number(bsize), blocks: Number(blocks), free: Number(bfree), available: Number(bavail) },
      ]),
    );
  }

  readText(file: string): string {
    return readFileSync(path.join(this.root, file), 'utf8');
  }

  listDir(dir: string): string[] {
    const fromLinks = [...this.links.keys()]
      .filter((link) => path.posix.dirname(link) === dir)
      .map((link) => path.posix.basename(link));
    const onDisk = existsSync(path.join(this.root, dir)) ? readdirSync(path.join(this.root, dir)) : [];
    if (fromLinks.length === 0 && onDisk.length === 0 && !existsSync(path.join(this.root, dir))) {
      throw new Error(`ENOENT: no such file or directory, scandir '${dir}' (fixture ${this.root})`);
    }
    return [...new Set([...onDisk, ...fromLinks])].sort();
  }

  readLink(file: string): string | undefined {
    return this.links.get(file);
  }

  statfs(mountPoint: string): FsBlocks {
    const blocks = this.filesystems.get(mountPoint);
    if (!blocks) throw new Error(`statfs ${mountPoint}: not in ${path.join(this.root, 'statfs.tsv')}`);
    return blocks;
  }
}

function readTable(file: string): string[][] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.split('\t'));
}
