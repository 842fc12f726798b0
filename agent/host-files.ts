import { readdirSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import path from 'node:path';

/** Block counts of one mounted filesystem, as statfs(2) gives them. */
export interface FsBlocks {
  /** Size of one block in bytes (`f_bsize`). */
  blockSize: number;
  blocks: number;
  /** Free blocks, including those reserved for root. */
  free: number;
  /** Free blocks an unprivileged user may use. */
  available: number;
}

/**
 * The few file-system calls the collectors make, by absolute path (`/proc/stat`). The live host
 * reads the real files; tests read a fixture tree captured from (or written like) a real machine,
 * so no collector test needs the `/proc` of the machine it runs on.
 */
export interface HostFiles {
  /** Whole text of a file; throws (with the path in the message) when it cannot be read. */
  readText(file: string): string;
  /** Entry names of a directory, sorted; throws when it cannot be read. */
  listDir(dir: string): string[];
  /** Target of a symbolic link, or undefined when `file` is no link or does not exist. */
  readLink(file: string): string | undefined;
  /** Block counts of the filesystem mounted at `mountPoint`. */
  statfs(mountPoint: string): FsBlocks;
}

/** The machine the agent runs on. `root` lets a capture or a chroot point elsewhere. */
export class LiveHostFiles implements HostFiles {
  constructor(private readonly root = '/') {}

  private resolve(file: string): string {
    return this.root === '/' ? file : path.join(this.root, file);
  }

  readText(file: string): string {
    return readFileSync(this.resolve(file), 'utf8');
  }

  listDir(dir: string): string[] {
    return readdirSync(this.resolve(dir)).sort();
  }

  readLink(file: string): string | undefined {
    try {
      return readlinkSync(this.resolve(file));
    } catch {
      return undefined;
    }
  }

  statfs(mountPoint: string): FsBlocks {
    const stats = statfsSync(this.resolve(mountPoint));
    return { blockSize: stats.bsize, blocks: stats.blocks, free: stats.bfree, available: stats.bavail };
  }
}
