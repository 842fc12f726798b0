import path from 'node:path';
import type { DsType } from '../protocol/types.js';
import { SLICE_SIZE, Slicer, yieldToEventLoop } from '../slices.js';
import { makeDirectories } from './directories.js';
import { throwIfDataDirFull } from './disk-full.js';
import { createArguments, nodePath } from './layout.js';
import { quoteRrdcachedPath, RRDCACHED_MAX_LINE, RrdcachedClient, RrdcachedError } from './rrdcached.js';
import { type RoundIo, storeFiles } from './settle.js';
import type { RrdUpdate, RrdWriter, WriteReport } from './types.js';
import {
  emptyReport,
  FileGrouping,
  type FileValues,
  formatValue,
  groupByFile,
  type Operation,
} from './write-plan.js';

export interface RrdcachedWriterOptions {
  /** Root of the RRD tree; must be (under) the daemon's `-b` directory, as an absolute path. */
  dataDir: string;
  /** `unix:/path`, `/path`, `host:port` or `host`; or a client to share. */
  rrdcached: string | RrdcachedClient;
  /** How long a write waits for a restarting daemon before it rejects; default 10 s. */
  unreachableAfterMs?: number;
  /**
   * Values kept from recent writes and sent again after a reconnect. rrdcached 1.7.2 writes its
   * journal through a stdio buffer (measured: an answered UPDATE was not in the journal file),
   * so a daemon killed with SIGKILL loses the last few KB of answered updates; sending recent
   * values again restores them and costs only duplicates. Default 50,000.
   */
  replayValues?: number;
  /**
   * The daemon is a storage node on another machine (`[[storage]]`): paths go to it relative to
   * dataDir (its `-b`), and nothing is done on this machine's disk (no directories made, no
   * disk-full check of dataDir).
   */
  remote?: boolean;
}

/** Lines of one UPDATE are cut below rrdcached's line limit, keeping room for one more value. */
const UPDATE_LINE_BUDGET = RRDCACHED_MAX_LINE - 64;

/**
 * Writes through rrdcached: every write is one BATCH (the CREATEs of new files first in the
 * same batch, then one UPDATE per file with all its values), resolved after the daemon answered.
 */
export class RrdcachedWriter implements RrdWriter {
  readonly client: RrdcachedClient;
  private readonly dataDir: string;
  /** Files known to exist: created or found by this writer. */
  private readonly known = new Set<string>();
  private readonly ownsClient: boolean;
  private readonly replayLimit: number;
  private readonly remote: boolean;
  private replay: ReplayBuffer | undefined;
  /** The client's connection count when a batch last succeeded; 0 before the first. */
  private seenConnections = 0;
  /** The replay after a reconnect, while it runs: every write waits for it. */
  private replaying: Promise<void> | undefined;
  private readonly io: RoundIo = {
    execute: (operations) => this.execute(operations),
    isRetryable: (error) =>
      error instanceof RrdcachedError && (error.kind === 'connection-lost' || error.kind === 'timeout'),
    makeDirectories: (directory) => (this.remote ? Promise.resolve() : makeDirectories(directory)),
  };

  constructor(options: RrdcachedWriterOptions) {
    this.dataDir = path.resolve(options.dataDir);
    if (!path.isAbsolute(options.dataDir)) {
      throw new RangeError(
        `data_dir "${options.dataDir}" must be absolute: rrdcached resolves relative paths against its own -b`,
      );
    }
    this.ownsClient = typeof options.rrdcached === 'string';
    this.client =
      typeof options.rrdcached === 'string'
        ? new RrdcachedClient(
            options.rrdcached,
            options.unreachableAfterMs === undefined
              ? {}
              : { unreachableAfterMs: options.unreachableAfterMs },
          )
        : options.rrdcached;
    this.replayLimit = options.replayValues ?? 50_000;
    this.remote = options.remote ?? false;
  }

  async write(updates: RrdUpdate[]): Promise<WriteReport> {
    const report = emptyReport();
    if (updates.length === 0) return report;
    const grouping = new FileGrouping();
    for (let from = 0; from < updates.length; from += SLICE_SIZE) {
      if (from > 0) await yieldToEventLoop();
      grouping.add(updates, from, Math.min(updates.length, from + SLICE_SIZE));
    }
    const files = grouping.finish(report);
    await storeFiles(files, report, { known: this.known, dataDir: this.dataDir, io: this.io });
    if (!this.remote) await throwIfDataDirFull(report.failed, this.dataDir);
    this.remember(files);
    return report;
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  /** Keep what a write stored for a replay after a reconnect. */
  private remember(files: readonly FileValues[]): void {
    if (this.replayLimit <= 0) return;
    this.replay ??= new ReplayBuffer(this.replayLimit);
    for (const file of files) if (!file.failed) this.replay.add(file);
  }

  private async execute(operations: readonly Operation[]): Promise<(string | undefined)[]> {
    if (!this.replaying && this.seenConnections > 0 && this.reconnected()) {
      this.replaying = this.replayRecent().finally(() => {
        this.replaying = undefined;
      });
    }
    // Older values first: a newer value for the same file would make the replayed one a
    // "duplicate" and lose it for good.
    if (this.replaying) await this.replaying;
    return this.send(operations);
  }

  private async send(operations: readonly Operation[]): Promise<(string | undefined)[]> {
    const commands: string[] = [];
    // Index of the first command of each operation (an UPDATE may take several lines).
    const owner: number[] = [];
    const slicer = new Slicer();
    for (let index = 0; index < operations.length; index++) {
      const operation = operations[index] as Operation;
      const file = operation.file;
      if (slicer.count(operation.kind === 'create' ? 1 : operation.to - operation.from))
        await yieldToEventLoop();
      const wirePath = quoteRrdcachedPath(this.remote ? nodePath(this.dataDir, file.path) : file.path);
      if (operation.kind === 'create') {
        commands.push(
          `CREATE ${wirePath} -O ${createArguments(file.type, file.timestamps[0] as number).join(' ')}`,
        );
        owner.push(index);
        continue;
      }
      const prefix = `UPDATE ${wirePath}`;
      let line = prefix;
      const { timestamps, values, type } = file;
      for (let at = operation.from; at < operation.to; at++) {
        if (line.length > UPDATE_LINE_BUDGET) {
          commands.push(line);
          owner.push(index);
          line = prefix;
        }
        line += ` ${timestamps[at]}:${formatValue(values[at] as number | null, type)}`;
      }
      commands.push(line);
      owner.push(index);
    }
    const errors = await this.client.batch(commands);
    this.seenConnections = this.client.connectionCount;
    const result: (string | undefined)[] = new Array(operations.length);
    for (const error of errors) {
      const index = owner[error.index];
      // A split UPDATE keeps its first error: the resend logic works from the earliest refusal.
      if (index !== undefined && result[index] === undefined) result[index] = error.message;
    }
    return result;
  }

  private reconnected(): boolean {
    return this.client.connectionCount !== this.seenConnections || !this.client.connected;
  }

  /** Send recent values again after a reconnect; what survived comes back as duplicates. */
  private async replayRecent(): Promise<void> {
    const updates = this.replay?.updates() ?? [];
    if (updates.length === 0) return;
    const scratch = emptyReport();
    const files = groupByFile(updates, scratch);
    // A replay only restores values the daemon lost: a file found missing is not created again.
    for (const file of files) file.recreated = true;
    await storeFiles(files, scratch, {
      known: this.known,
      dataDir: this.dataDir,
      // Straight to the daemon: `execute` would wait for this very replay.
      io: { ...this.io, execute: (operations) => this.send(operations) },
    });
  }
}

/**
 * The last `capacity` values written, oldest overwritten first, in flat arrays: keeping the
 * written FileValues alive instead got them promoted to the old generation, which cost ~7 % CPU
 * and ~100 MB of memory at 50,000 values.
 */
export class ReplayBuffer {
  private readonly paths: string[];
  private readonly types: DsType[];
  private readonly timestamps: Float64Array;
  /** NaN for unknown: written as `U` exactly like null. */
  private readonly values: Float64Array;
  /** Where the next value goes. */
  private next = 0;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.paths = new Array<string>(capacity).fill('');
    this.types = new Array<DsType>(capacity).fill('gauge');
    this.timestamps = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  add(file: FileValues): void {
    for (let index = 0; index < file.timestamps.length; index++) {
      const at = this.next;
      this.paths[at] = file.path;
      this.types[at] = file.type;
      this.timestamps[at] = file.timestamps[index] as number;
      this.values[at] = file.values[index] ?? Number.NaN;
      this.next = at + 1 === this.capacity ? 0 : at + 1;
      if (this.size < this.capacity) this.size++;
    }
  }

  /** The kept values, oldest first. */
  updates(): RrdUpdate[] {
    const updates: RrdUpdate[] = [];
    const oldest = (this.next - this.size + this.capacity) % this.capacity;
    for (let count = 0; count < this.size; count++) {
      const at = (oldest + count) % this.capacity;
      const value = this.values[at] as number;
      updates.push({
        path: this.paths[at] as string,
        type: this.types[at] as DsType,
        timestamp: this.timestamps[at] as number,
        value: Number.isNaN(value) ? null : value,
      });
    }
    return updates;
  }
}
