import { readdirSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import path from 'node:path';
/** The machine the agent runs on. `root` lets a capture or a chroot point elsewhere. */
export class LiveHostFiles {
  root;
  constructor(root = '/') {
    this.root = root;
  }
  resolve(file) {
    return this.root === '/' ? file : path.join(this.root, file);
  }
  readText(file) {
    return readFileSync(this.resolve(file), 'utf8');
  }
  listDir(dir) {
    return readdirSync(this.resolve(dir)).sort();
  }
  readLink(file) {
    try {
      return readlinkSync(this.resolve(file));
    } catch {
      return undefined;
    }
  }
  statfs(mountPoint) {
    const stats = statfsSync(this.resolve(mountPoint));
    return { blockSize: stats.bsize, blocks: stats.blocks, free: stats.bfree, available: stats.bavail };
  }
}
//# sourceMappingURL=host-files.js.map
