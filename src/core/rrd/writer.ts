import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DsType } from '../protocol/types.js';
import { throwIfDataDirFull } from './disk-full.js';
import { createArguments } from './layout.js';
import {
  parseIllegalUpdateTime,
  quoteRrdcachedPath,
  RRDCACHED_MAX_LINE,
  RrdcachedClient,
  RrdcachedError,
} from './rrdcached.js';
import { RrdtoolError, RrdtoolProcess } from './rrdtool-process.js';
import type { RrdUpdate, RrdWriter, WriteReport } from './types.js';

/** One file's values inside one write, sorted by timestamp, no timestamp twice. */
interface FileValues {
  path: string;
  type: DsType;
  timestamps: number[];
  values: (number | null)[];
  /** Set once the file failed for good in this write (its values are in `failed`). */
  failed: boolean;
  /** The file vanished underneath once in this write and was created again. */
  recreated: boolean;
}

/** A unit of work the back end runs: create a file, or update it with `[from, to)` of its values. */
type Operation =
  | { kind: 'create'; file: FileValues }
  | { kind: 'update'; file: FileValues; from: number; to: number };

/** Rounds of resending values a multi-value UPDATE dropped after a refused older one. */
const MAX_ROUNDS = 6;
/** Attempts of one round when the connection breaks under it (the daemon restarting). */
const MAX_CONNECTION_RETRIES = 3;

/**
 * Why a CREATE error means the file is there: rrdcached with `-O` and `rrdtool create -O` both
 * say "File exists"; that is the outcome we wanted.
 */
function isFileExists(message: string): boolean {
  return message.endsWith('File exists');
}

/** rrdcached: `No such file: /abs.rrd`; rrdtool: `opening '/abs.rrd': No such file or directory`. */
function isMissingFile(message: string): boolean {
  return message.startsWith('No such file') || message.includes('No such file or directory');
}

/**
 * The text of one value in an UPDATE. COUNTER and DERIVE refuse anything but a plain integer
 * ("not a simple signed integer: '1.5'"), and rrdcached only finds out when it writes the file,
 * losing the file's whole queue then; so those are rounded and written without exponent here.
 * A negative COUNTER is refused the same way and becomes unknown.
 */
function formatValue(value: number | null, type: DsType): string {
  if (value === null || !Number.isFinite(value)) return 'U';
  if (type === 'gauge' || type === 'absolute') return String(value);
  const integer = Math.round(value);
  if (type === 'counter' && integer < 0) return 'U';
  if (Number.isSafeInteger(integer)) return String(integer);
  return BigInt(integer).toString();
}

/**
 * Group updates per file, sorted by timestamp; a timestamp seen twice for a file (a message
 * delivered twice inside one write) keeps its first value and counts as a duplicate.
 */
function groupByFile(updates: readonly RrdUpdate[], report: WriteReport): FileValues[] {
  const byPath = new Map<string, FileValues>();
  let unsorted: Set<FileValues> | undefined;
  for (const update of updates) {
    const file = byPath.get(update.path);
    if (file === undefined) {
      // Most files get one value per write: arrays of exactly that size, not the spare
      // capacity a first push() reserves.
      byPath.set(update.path, {
        path: update.path,
        type: update.type,
        timestamps: [update.timestamp],
        values: [update.value],
        failed: false,
        recreated: false,
      });
      continue;
    }
    const count = file.timestamps.length;
    if (count > 0 && update.timestamp <= (file.timestamps[count - 1] as number)) {
      unsorted ??= new Set();
      unsorted.add(file);
    }
    file.timestamps.push(update.timestamp);
    file.values.push(update.value);
  }
  if (unsorted) for (const file of unsorted) sortAndDedupe(file, report);
  return [...byPath.values()];
}

function sortAndDedupe(file: FileValues, report: WriteReport): void {
  const order = file.timestamps.map((_, index) => index);
  // Stable sort: among equal timestamps the first delivered stays first and is kept.
  order.sort((a, b) => (file.timestamps[a] as number) - (file.timestamps[b] as number));
  const timestamps: number[] = [];
  const values: (number | null)[] = [];
  for (const index of order) {
    const timestamp = file.timestamps[index] as number;
    if (timestamps.length > 0 && timestamps[timestamps.length - 1] === timestamp) {
      report.duplicates++;
      continue;
    }
    timestamps.push(timestamp);
    values.push(file.values[index] as number | null);
  }
  file.timestamps = timestamps;
  file.values = values;
}

/**
 * `mkdir -p`, written out: Node's own `mkdir(…, { recursive: true })` never settles on some
 * paths (measured on Node 20: a directory under /proc), which would hang a write forever.
 */
async function makeDirectories(directory: string): Promise<void> {
  try {
    await mkdir(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = path.dirname(directory);
    if (code !== 'ENOENT' || parent === directory) throw error;
    await makeDirectories(parent);
    await mkdir(directory).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

/** First index in `[from, to)` whose timestamp is above `limit` (timestamps are sorted). */
function firstAbove(timestamps: readonly number[], from: number, to: number, limit: number): number {
  let low = from;
  let high = to;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((timestamps[middle] as number) > limit) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * The write algorithm both back ends share: lazy creation from an in-memory set of known files
 * (the hot path never stats the disk), one UPDATE per file with all its values, and the
 * answers mapped back to values:
 * - "File exists" on CREATE: the file is known.
 * - "illegal attempt to update using time X when last update time is Y": both rrdcached and
 *   rrdtool stop the line at X, keeping what came before and dropping what came after. Values
 *   up to Y are duplicates (a redelivered message); later ones are sent again in a next round.
 * - "No such file" for a known file (deleted underneath): forget it, create it, retry once.
 */
abstract class FileWriter implements RrdWriter {
  protected readonly known = new Set<string>();
  private readonly dataDirPrefix: string;

  constructor(protected readonly dataDir: string) {
    this.dataDirPrefix = dataDir.endsWith(path.sep) ? dataDir : `${dataDir}${path.sep}`;
  }

  /** Run the operations; resolve with one error message (or undefined) per operation. */
  protected abstract execute(operations: readonly Operation[]): Promise<(string | undefined)[]>;

  /** Whether this error from `execute` means "send the same operations again". */
  protected abstract isRetryable(error: unknown): boolean;

  /** Called with what a write stored, after the write. */
  protected remember(_files: readonly FileValues[]): void {}

  async write(updates: RrdUpdate[]): Promise<WriteReport> {
    const report: WriteReport = { accepted: 0, duplicates: 0, created: 0, failed: [] };
    if (updates.length === 0) return report;
    const files = groupByFile(updates, report);
    await this.store(files, report);
    await throwIfDataDirFull(report.failed, this.dataDir);
    this.remember(files);
    return report;
  }

  abstract close(): Promise<void>;

  protected async store(
    files: readonly FileValues[],
    report: WriteReport,
    execute: (operations: readonly Operation[]) => Promise<(string | undefined)[]> = (operations) =>
      this.execute(operations),
  ): Promise<void> {
    let operations: Operation[] = [];
    for (const file of files) {
      // Defence in depth: the layout escapes every component, but a caller could hand any path.
      if (!file.path.startsWith(this.dataDirPrefix)) {
        this.fail(file, `${file.path} is outside data_dir ${this.dataDir}`, report);
        continue;
      }
      if (!this.known.has(file.path)) operations.push({ kind: 'create', file });
      operations.push({ kind: 'update', file, from: 0, to: file.timestamps.length });
    }
    for (let round = 0; operations.length > 0; round++) {
      if (round === MAX_ROUNDS) {
        for (const operation of operations) {
          if (operation.kind === 'update' && !operation.file.failed) {
            this.fail(operation.file, `values still refused after ${MAX_ROUNDS} rounds`, report);
          }
        }
        return;
      }
      const errors = await this.executeWithRetry(operations, execute);
      const directories = new Set<string>();
      operations = this.settle(operations, errors, report, directories);
      // Parent directories rrdcached could not make (a daemon without -R); only possible when
      // data_dir is on this machine, and harmless to try otherwise.
      for (const directory of directories) await makeDirectories(directory).catch(() => {});
    }
  }

  private async executeWithRetry(
    operations: readonly Operation[],
    execute: (operations: readonly Operation[]) => Promise<(string | undefined)[]>,
  ): Promise<(string | undefined)[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await execute(operations);
      } catch (error) {
        // The daemon went away mid-batch: what it took before is in its journal; sending the
        // batch again makes those values duplicates and stores the rest.
        if (attempt >= MAX_CONNECTION_RETRIES || !this.isRetryable(error)) throw error;
      }
    }
  }

  /** Map the answers to the report; return what must run in the next round. */
  private settle(
    operations: readonly Operation[],
    errors: readonly (string | undefined)[],
    report: WriteReport,
    directories: Set<string>,
  ): Operation[] {
    const next: Operation[] = [];
    for (let index = 0; index < operations.length; index++) {
      const operation = operations[index] as Operation;
      const error = errors[index];
      const file = operation.file;
      if (operation.kind === 'create') {
        if (error === undefined || isFileExists(error)) {
          this.known.add(file.path);
          if (error === undefined) report.created++;
        } else if (error.includes('No such file or directory') && !file.recreated) {
          // The file's UPDATE, next in this round, fails with "No such file" and brings the
          // CREATE back once the directory is there.
          directories.add(path.dirname(file.path));
        } else this.fail(file, `cannot create ${file.path}: ${error}`, report);
        continue;
      }
      if (file.failed) continue;
      const { from, to } = operation;
      if (error === undefined) {
        report.accepted += to - from;
        continue;
      }
      const illegal = parseIllegalUpdateTime(error);
      if (illegal) {
        const refusedAt = firstAbove(file.timestamps, from, to, illegal.refused - 1);
        const newer = firstAbove(file.timestamps, refusedAt, to, illegal.last);
        report.accepted += refusedAt - from;
        report.duplicates += newer - refusedAt;
        if (newer < to) next.push({ kind: 'update', file, from: newer, to });
        continue;
      }
      if (isMissingFile(error) && !file.recreated) {
        // Deleted underneath (or never there): the known set was wrong; create and retry once.
        file.recreated = true;
        this.known.delete(file.path);
        next.push({ kind: 'create', file }, { kind: 'update', file, from, to });
        continue;
      }
      this.fail(file, error.includes(file.path) ? error : `${file.path}: ${error}`, report);
    }
    return next;
  }

  private fail(file: FileValues, reason: string, report: WriteReport): void {
    if (file.failed) return;
    file.failed = true;
    report.failed.push({ path: file.path, reason });
  }
}

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
}

/** Lines of one UPDATE are cut below rrdcached's line limit, keeping room for one more value. */
const UPDATE_LINE_BUDGET = RRDCACHED_MAX_LINE - 64;

/**
 * Writes through rrdcached: every write is one BATCH (the CREATEs of new files first in the
 * same batch, then one UPDATE per file with all its values), resolved after the daemon answered.
 */
export class RrdcachedWriter extends FileWriter {
  readonly client: RrdcachedClient;
  private readonly ownsClient: boolean;
  private readonly replayLimit: number;
  private replay: ReplayBuffer | undefined;
  /** The client's connection count when a batch last succeeded; 0 before the first. */
  private seenConnections = 0;
  /** The replay after a reconnect, while it runs: every write waits for it. */
  private replaying: Promise<void> | undefined;

  constructor(options: RrdcachedWriterOptions) {
    super(path.resolve(options.dataDir));
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
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  protected isRetryable(error: unknown): boolean {
    return error instanceof RrdcachedError && (error.kind === 'connection-lost' || error.kind === 'timeout');
  }

  protected override remember(files: readonly FileValues[]): void {
    if (this.replayLimit <= 0) return;
    this.replay ??= new ReplayBuffer(this.replayLimit);
    for (const file of files) if (!file.failed) this.replay.add(file);
  }

  protected async execute(operations: readonly Operation[]): Promise<(string | undefined)[]> {
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
    for (let index = 0; index < operations.length; index++) {
      const operation = operations[index] as Operation;
      const file = operation.file;
      const wirePath = quoteRrdcachedPath(file.path);
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
    const scratch: WriteReport = { accepted: 0, duplicates: 0, created: 0, failed: [] };
    const files = groupByFile(updates, scratch);
    // A replay only restores values the daemon lost: a file found missing is not created again.
    for (const file of files) file.recreated = true;
    await this.store(files, scratch, (operations) => this.send(operations));
  }
}

/**
 * The last `capacity` values written, oldest overwritten first, in flat arrays: keeping the
 * written FileValues alive instead got them promoted to the old generation, which cost ~7 % CPU
 * and ~100 MB of memory at 50,000 values.
 */
class ReplayBuffer {
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

export interface RrdtoolWriterOptions {
  dataDir: string;
  /** A process to use; default one of its own, without any rrdcached. */
  rrdtool?: RrdtoolProcess;
  /** The rrdtool binary (for the process it starts itself). */
  binary?: string;
}

/**
 * Writes through one long-lived `rrdtool -` process, for a machine without rrdcached: one
 * `update` per file with all its values (an update costs per file, not per value).
 */
export class RrdtoolWriter extends FileWriter {
  private readonly rrdtool: RrdtoolProcess;
  private readonly ownsProcess: boolean;

  constructor(options: RrdtoolWriterOptions) {
    super(path.resolve(options.dataDir));
    this.ownsProcess = options.rrdtool === undefined;
    // An RRDCACHED_ADDRESS inherited from the environment would send updates to a daemon.
    this.rrdtool =
      options.rrdtool ??
      new RrdtoolProcess({
        env: { RRDCACHED_ADDRESS: '' },
        ...(options.binary === undefined ? {} : { binary: options.binary }),
      });
  }

  async close(): Promise<void> {
    if (this.ownsProcess) await this.rrdtool.close();
  }

  protected isRetryable(error: unknown): boolean {
    // ERROR answers never get here (they are per-command results); this is a crash or a
    // timeout, after which the process respawns and the same commands can run again.
    return error instanceof RrdtoolError;
  }

  protected async execute(operations: readonly Operation[]): Promise<(string | undefined)[]> {
    const result: (string | undefined)[] = [];
    for (const operation of operations) {
      const file = operation.file;
      if (operation.kind === 'create') {
        const directory = path.dirname(file.path);
        const problem = await makeDirectories(directory).then(
          () => undefined,
          (error: NodeJS.ErrnoException) =>
            `cannot make directory ${directory}: ${error.code ?? error.message}`,
        );
        if (problem) {
          result.push(problem);
          continue;
        }
        result.push(
          await this.run([
            'create',
            file.path,
            '-O',
            ...createArguments(file.type, file.timestamps[0] as number),
          ]),
        );
        continue;
      }
      const args = ['update', file.path];
      for (let at = operation.from; at < operation.to; at++) {
        args.push(`${file.timestamps[at]}:${formatValue(file.values[at] as number | null, file.type)}`);
      }
      result.push(await this.run(args));
    }
    return result;
  }

  /** Run one command; resolve with rrdtool's error message instead of rejecting on ERROR. */
  private async run(args: string[]): Promise<string | undefined> {
    try {
      await this.rrdtool.run(args);
      return undefined;
    } catch (error) {
      if (error instanceof RrdtoolError && error.message.startsWith(`rrdtool ${args[0]} failed: `)) {
        return error.message.slice(`rrdtool ${args[0]} failed: `.length).replace(/ \(command: .*$/s, '');
      }
      throw error;
    }
  }
}

export interface CreateRrdWriterOptions {
  dataDir: string;
  /** rrdcached address; without it values are written through a `rrdtool -` process. */
  rrdcached?: string;
  unreachableAfterMs?: number;
}

/** The writer the configuration asks for: rrdcached when an address is given, else rrdtool. */
export function createRrdWriter(options: CreateRrdWriterOptions): RrdWriter {
  const dataDir = path.resolve(options.dataDir);
  if (options.rrdcached) {
    return new RrdcachedWriter({
      dataDir,
      rrdcached: options.rrdcached,
      ...(options.unreachableAfterMs === undefined ? {} : { unreachableAfterMs: options.unreachableAfterMs }),
    });
  }
  return new RrdtoolWriter({ dataDir });
}
