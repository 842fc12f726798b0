/**
 * The one place that decides whether a host may get another metric file. Per host it keeps the
 * files this process admitted (wire key → path, the ingest path cache) and their number, and,
 * until this process has seen each of them, the files found on disk. A file already on disk is
 * always admitted (existing metrics keep updating); a new one only while the host is under its
 * limit. The disk is listed once per host when the host is first seen (or seen again after an
 * idle hour), never per value.
 *
 * Several receivers each count for themselves: with N receivers sharing a host's messages the
 * host may exceed its limit by what the others created since they listed its directory.
 */

/** A host not seen for this long is forgotten (its directory is listed again when it returns). */
export const FILE_LIMIT_IDLE_MS = 60 * 60 * 1000;
const SWEEP_EVERY_MS = 60 * 1000;

interface HostFiles {
  /** Wire key → file path, for every file admitted. */
  paths: Map<string, string>;
  /** Files of the host: those on disk when listed, plus those admitted since. */
  count: number;
  /** Files on disk this process has not admitted yet. */
  unseen: Set<string>;
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

  constructor(private readonly options: FileLimitOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Start a batch: read the clock once and forget hosts idle for FILE_LIMIT_IDLE_MS. */
  begin(): void {
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
    let files = this.hosts.get(host);
    if (files === undefined) {
      const onDisk = await this.options.listFiles(host);
      // Another batch of the same host may have listed it while this one waited.
      files = this.hosts.get(host) ?? {
        paths: new Map(),
        count: onDisk.length,
        unseen: new Set(onDisk),
        lastSeenMs: this.batchMs,
      };
      this.hosts.set(host, files);
    }
    files.lastSeenMs = this.batchMs;
    const limit = this.options.limitOf(host);
    const refused = new Set<string>();
    for (const [key, path] of candidates) {
      if (files.paths.has(key)) continue;
      if (files.unseen.delete(path)) files.paths.set(key, path);
      else if (files.count < limit) {
        files.count++;
        files.paths.set(key, path);
      } else refused.add(path);
    }
    return refused;
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
