import path from 'node:path';
import { makeDirectories } from './directories.js';
import { throwIfDataDirFull } from './disk-full.js';
import { createArguments } from './layout.js';
import { RrdtoolError, RrdtoolProcess } from './rrdtool-process.js';
import { type RoundIo, storeFiles } from './settle.js';
import type { RrdUpdate, RrdWriter, WriteReport } from './types.js';
import { emptyReport, formatValue, groupByFile, type Operation } from './write-plan.js';

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
export class RrdtoolWriter implements RrdWriter {
  private readonly dataDir: string;
  /** Files known to exist: created or found by this writer. */
  private readonly known = new Set<string>();
  private readonly rrdtool: RrdtoolProcess;
  private readonly ownsProcess: boolean;
  private readonly io: RoundIo = {
    execute: (operations) => this.execute(operations),
    // ERROR answers never get here (they are per-command results); this is a crash or a
    // timeout, after which the process respawns and the same commands can run again.
    isRetryable: (error) => error instanceof RrdtoolError,
    makeDirectories,
  };

  constructor(options: RrdtoolWriterOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.ownsProcess = options.rrdtool === undefined;
    // An RRDCACHED_ADDRESS inherited from the environment would send updates to a daemon.
    this.rrdtool =
      options.rrdtool ??
      new RrdtoolProcess({
        env: { RRDCACHED_ADDRESS: '' },
        ...(options.binary === undefined ? {} : { binary: options.binary }),
      });
  }

  async write(updates: RrdUpdate[]): Promise<WriteReport> {
    const report = emptyReport();
    if (updates.length === 0) return report;
    const files = groupByFile(updates, report);
    await storeFiles(files, report, { known: this.known, dataDir: this.dataDir, io: this.io });
    await throwIfDataDirFull(report.failed, this.dataDir);
    return report;
  }

  async close(): Promise<void> {
    if (this.ownsProcess) await this.rrdtool.close();
  }

  private async execute(operations: readonly Operation[]): Promise<(string | undefined)[]> {
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
      if (error instanceof RrdtoolError && error.reply !== undefined) return error.reply;
      throw error;
    }
  }
}
