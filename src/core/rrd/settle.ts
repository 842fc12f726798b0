import path from 'node:path';
import { parseIllegalUpdateTime } from './rrdcached.js';
import type { WriteReport } from './types.js';
import { type FileValues, failFile, firstAbove, type Operation } from './write-plan.js';

/**
 * New files created per BATCH when a write has more than that: rrdcached creates a file (190 KB)
 * while the client waits, so 5,000 new files in one BATCH would hold every other write on the
 * connection for seconds. In batches of this many, awaited one after another, other writes (a
 * host whose files exist) get their turn between two, and files are created at the pace the
 * daemon allows.
 */
export const CREATES_PER_BATCH = 100;

/** Rounds of resending values a multi-value UPDATE dropped after a refused older one. */
export const MAX_ROUNDS = 6;
/** Attempts of one round when the connection breaks under it (the daemon restarting). */
export const MAX_CONNECTION_RETRIES = 3;

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
 * Map one round's answers to the report and return what must run in the next round:
 * - "File exists" on CREATE: the file is known.
 * - "illegal attempt to update using time X when last update time is Y": both rrdcached and
 *   rrdtool stop the line at X, keeping what came before and dropping what came after. Values
 *   up to Y are duplicates (a redelivered message); later ones are sent again in a next round.
 * - "No such file" for a known file (deleted underneath): forget it, create it, retry once.
 * - CREATE failing for a missing directory: its parent goes into `directories` to be made; the
 *   file's UPDATE in the same round then fails with "No such file" and brings the CREATE back.
 * `known` (the files that exist) is updated in place; nothing here does I/O.
 */
export function settleRound(
  operations: readonly Operation[],
  errors: readonly (string | undefined)[],
  known: Set<string>,
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
        known.add(file.path);
        if (error === undefined) report.created++;
      } else if (error.includes('No such file or directory') && !file.recreated) {
        directories.add(path.dirname(file.path));
      } else failFile(file, `cannot create ${file.path}: ${error}`, report);
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
      known.delete(file.path);
      next.push({ kind: 'create', file }, { kind: 'update', file, from, to });
      continue;
    }
    failFile(file, error.includes(file.path) ? error : `${file.path}: ${error}`, report);
  }
  return next;
}

/** The I/O a write's rounds need, given by the back end (or a test). */
export interface RoundIo {
  /** Run the operations; resolve with one error message (or undefined) per operation. */
  execute(operations: readonly Operation[]): Promise<(string | undefined)[]>;
  /** Whether an error thrown by `execute` means "send the same operations again". */
  isRetryable(error: unknown): boolean;
  /** Make a directory and its parents. */
  makeDirectories(directory: string): Promise<void>;
}

/**
 * The write algorithm both back ends share: lazy creation from the in-memory set of `known`
 * files (the hot path never stats the disk), one UPDATE per file with all its values, then
 * rounds of `settleRound` until nothing is left to send, at most MAX_ROUNDS. A round whose
 * connection broke is sent again (MAX_CONNECTION_RETRIES): what the daemon took before is in
 * its journal, so those values come back as duplicates. Rejects only when `execute` throws
 * something not retryable or keeps throwing.
 */
export async function storeFiles(
  files: readonly FileValues[],
  report: WriteReport,
  context: { known: Set<string>; dataDir: string; io: RoundIo },
): Promise<void> {
  const { known, dataDir, io } = context;
  const dataDirPrefix = dataDir.endsWith(path.sep) ? dataDir : `${dataDir}${path.sep}`;
  let operations: Operation[] = [];
  const creates: Operation[] = [];
  for (const file of files) {
    // Defence in depth: the layout escapes every component, but a caller could hand any path.
    if (!file.path.startsWith(dataDirPrefix)) {
      failFile(file, `${file.path} is outside data_dir ${dataDir}`, report);
      continue;
    }
    if (!known.has(file.path)) {
      const create: Operation = { kind: 'create', file };
      creates.push(create);
      operations.push(create);
    }
    operations.push({ kind: 'update', file, from: 0, to: file.timestamps.length });
  }
  if (creates.length > CREATES_PER_BATCH) {
    await createInBatches(creates, report, known, io);
    // A CREATE that failed for a missing directory comes back through its UPDATE ("No such file").
    operations = operations.filter((operation) => operation.kind === 'update' && !operation.file.failed);
  }
  for (let round = 0; operations.length > 0; round++) {
    if (round === MAX_ROUNDS) {
      for (const operation of operations) {
        if (operation.kind === 'update' && !operation.file.failed) {
          failFile(operation.file, `values still refused after ${MAX_ROUNDS} rounds`, report);
        }
      }
      return;
    }
    const errors = await executeWithRetry(operations, io);
    const directories = new Set<string>();
    operations = settleRound(operations, errors, known, report, directories);
    // Parent directories rrdcached could not make (a daemon without -R); only possible when
    // data_dir is on this machine, and harmless to try otherwise.
    for (const directory of directories) await io.makeDirectories(directory).catch(() => {});
  }
}

/** Create files CREATES_PER_BATCH at a time, each batch awaited before the next is sent. */
async function createInBatches(
  creates: readonly Operation[],
  report: WriteReport,
  known: Set<string>,
  io: RoundIo,
): Promise<void> {
  for (let from = 0; from < creates.length; from += CREATES_PER_BATCH) {
    const batch = creates.slice(from, from + CREATES_PER_BATCH);
    const errors = await executeWithRetry(batch, io);
    const directories = new Set<string>();
    settleRound(batch, errors, known, report, directories);
    for (const directory of directories) await io.makeDirectories(directory).catch(() => {});
  }
}

async function executeWithRetry(
  operations: readonly Operation[],
  io: RoundIo,
): Promise<(string | undefined)[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await io.execute(operations);
    } catch (error) {
      // The daemon went away mid-batch: what it took before is in its journal; sending the
      // batch again makes those values duplicates and stores the rest.
      if (attempt >= MAX_CONNECTION_RETRIES || !io.isRetryable(error)) throw error;
    }
  }
}
