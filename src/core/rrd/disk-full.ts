import { statfs } from 'node:fs/promises';
import path from 'node:path';

/**
 * Free space below which a failed CREATE is blamed on a full file system: a few new RRD files
 * (one is about 190 KB with Kurado's archives).
 */
const LOW_SPACE_BYTES = 1024 * 1024;

/** Thrown by a write that could not create files because the data directory's file system is full. */
export class DataDirFullError extends Error {
  constructor(
    readonly dataDir: string,
    readonly file: string,
    readonly freeBytes: number | undefined,
  ) {
    super(
      `No space left on device: data_dir ${dataDir} is full${freeBytes === undefined ? '' : ` (${freeBytes} bytes free)`}; cannot create ${file}. Nothing of this batch is acknowledged; retrying until space is freed`,
    );
    this.name = 'DataDirFullError';
  }
}

/** Free bytes (for an unprivileged writer) and free inodes of the file system holding `directory`. */
async function freeSpace(directory: string): Promise<{ bytes: number; inodes: number } | undefined> {
  for (let at = directory; ; at = path.dirname(at)) {
    try {
      const stats = await statfs(at);
      return { bytes: stats.bavail * stats.bsize, inodes: stats.ffree };
    } catch {
      if (path.dirname(at) === at) return undefined;
    }
  }
}

/**
 * When a write could not create files, tell a full data directory from a refused file: rrdcached
 * 1.7.2 answers a CREATE on a full file system with a bare "RRD Error: " (rrdtool says "No space
 * left on device"). A full disk is a condition of the whole write path, like an unreachable
 * daemon: the write throws, so the batch is retried and not acknowledged, instead of the values
 * being reported as refused and dropped. Only checks the local file system of `dataDir` (a remote
 * rrdcached's disk cannot be seen from here).
 */
export async function throwIfDataDirFull(
  failed: readonly { path: string; reason: string }[],
  dataDir: string,
): Promise<void> {
  const creates = failed.filter((failure) => failure.reason.startsWith('cannot create '));
  if (creates.length === 0) return;
  const first = creates[0]!.path;
  const said = creates.find((failure) => /No space left on device|Disk quota exceeded/.test(failure.reason));
  const space = await freeSpace(dataDir);
  if (said) throw new DataDirFullError(dataDir, said.path, space?.bytes);
  if (space && (space.bytes < LOW_SPACE_BYTES || space.inodes === 0)) {
    throw new DataDirFullError(dataDir, first, space.bytes);
  }
}
