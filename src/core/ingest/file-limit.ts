/**
 * The one place that decides whether a host may get another metric file. Per host it keeps the
 * files this process admitted (wire key → path, the ingest path cache) and the files found on
 * disk. A file already on disk is always admitted (existing metrics keep updating); a new one
 * only while the host is under its limit. The limit counts the disk, not this process: whenever
 * a host sends a metric that is new to this process (in a later batch than the last listing),
 * its directory is listed again, so files other receivers created count too. A host at its limit
 * is listed again at most once a minute (its count only grows, unless its files are removed).
 * Updates of known files never list anything.
 *
 * Several receivers deciding for one host at the same moment (between one's listing and its
 * files appearing on disk) can each admit up to the limit: with N receivers a host has at most
 * N × its limit, and only from messages decided at the same time.
 */

/** A host not seen for this long is forgotten (its directory is listed again when it returns). */
export const FILE_LIMIT_IDLE_MS = 60 * 60 * 1000;
/** A host at its limit sending new metrics is listed again at most this often. */
export const FILE_LIMIT_RELIST_AT_LIMIT_MS = 60 * 1000;
const SWEEP_EVERY_MS = 60 * 1000;

interface HostFiles {
  /** Wire key → file path, for every file admitted. */
  paths: Map<string, string>;
  /** Files of the host: those on disk when last listed, plus those admitted since. */
  count: number;
  /** Files on disk at the last listing. */
  onDisk: Set<string>;
  /** Batch and clock of the last listing. */
  listedBatch: number;
  listedMs: number;
  lastSeenMs: number;
}

export interface FileLimitOptions {
  /** The limit of a host (its server-list `max_files`, else the receiver's default). */
  limitOf: (host: string) => number;
  /** The host's metric files on disk, as full paths. */
  listFiles: (host: string) => Promise<readonly string[]>;
  nowMs?: () => number;
}

export class FileLimit {
  private readonly hosts = new Map<string, HostFiles>();
  private readonly nowMs: () => number;
  private nextSweepMs = 0;
  /** Clock of the current batch, set by `begin` (the hot path reads no clock). */
  private batchMs = 0;
  private batch = 0;

  constructor(private readonly options: FileLimitOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Start a batch: read the clock once and forget hosts idle for FILE_LIMIT_IDLE_MS. */
  begin(): void {
    this.batch++;
    this.batchMs = this.nowMs();
    if (this.batchMs < this.nextSweepMs) return;
    this.nextSweepMs = this.batchMs + SWEEP_EVERY_MS;
    for (const [host, files] of this.hosts) {
      if (this.batchMs - files.lastSeenMs > FILE_LIMIT_IDLE_MS) this.hosts.delete(host);
    }
  }

  /** The path of an admitted file, or undefined when `key` is new for `host` (hot path). */
  admitted(host: string, key: string): string | undefined {
    const files = this.hosts.get(host);
    if (files === undefined) return undefined;
    files.lastSeenMs = this.batchMs;
    return files.paths.get(key);
  }

  /**
   * Decide the files `host` would get for the first time in this process (key → path). The
   * admitted ones count from now on and `admitted` knows them; returns the refused paths.
   */
  async admit(host: string, candidates: ReadonlyMap<string, string>): Promise<Set<string>> {
    const limit = this.options.limitOf(host);
    let files = this.hosts.get(host);
    if (files === undefined) {
      const onDisk = new Set(await this.options.listFiles(host));
      // Another batch of the same host may have listed it while this one waited.
      files = this.hosts.get(host) ?? {
        paths: new Map(),
        count: onDisk.size,
        onDisk,
        listedBatch: this.batch,
        listedMs: this.batchMs,
        lastSeenMs: this.batchMs,
      };
      this.hosts.set(host, files);
    } else if (this.needsListing(files, candidates, limit)) {
      // Other receivers may have created (or `hosts remove` deleted) files since the last look.
      const onDisk = new Set(await this.options.listFiles(host));
      files.onDisk = onDisk;
      files.count = onDisk.size;
      files.listedBatch = this.batch;
      files.listedMs = this.batchMs;
    }
    files.lastSeenMs = this.batchMs;
    const refused = new Set<string>();
    for (const [key, path] of candidates) {
      if (files.paths.has(key)) continue;
      if (files.onDisk.has(path)) files.paths.set(key, path);
      else if (files.count < limit) {
        files.count++;
        files.onDisk.add(path);
        files.paths.set(key, path);
      } else refused.add(path);
    }
    return refused;
  }

  /** Whether deciding `candidates` needs a fresh count of the host's files on disk. */
  private needsListing(files: HostFiles, candidates: ReadonlyMap<string, string>, limit: number): boolean {
    if (files.listedBatch === this.batch) return false;
    if (files.count >= limit && this.batchMs - files.listedMs < FILE_LIMIT_RELIST_AT_LIMIT_MS) return false;
    for (const [key, path] of candidates) {
      if (!files.paths.has(key) && !files.onDisk.has(path)) return true;
    }
    return false;
  }

  /** Files of `host` counted by this process (undefined when it holds no count). */
  count(host: string): number | undefined {
    return this.hosts.get(host)?.count;
  }

  /** Forget `host` (its files were removed): the next admit lists its directory again. */
  forget(host: string): void {
    this.hosts.delete(host);
  }
}
