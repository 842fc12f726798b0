import { availableParallelism } from 'node:os';
import { RrdtoolError, RrdtoolProcess, type RrdtoolResult } from '../rrd/rrdtool-process.js';

export interface RenderPoolOptions {
  /** Number of `rrdtool -` processes; default = CPU count. */
  size?: number;
  /** rrdtool binary (default `rrdtool` from PATH). */
  binary?: string;
  /** A render that has not answered after this long is killed (the process is replaced). */
  timeoutMs?: number;
}

/**
 * A fixed set of long-lived `rrdtool -` processes. Each command goes to the process with the
 * fewest commands in flight. A process that crashed or hung is replaced by RrdtoolProcess on its
 * next command; a command that died with its process (crash or kill, not a refusal or a
 * timeout) is tried once more, so a killed worker costs no failed graph.
 */
export class RenderPool {
  readonly size: number;
  private readonly workers: { process: RrdtoolProcess; busy: number }[];
  private readonly timeoutMs: number;
  private closed = false;

  constructor(options: RenderPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? availableParallelism()));
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.workers = Array.from({ length: this.size }, () => ({
      process: new RrdtoolProcess({ ...(options.binary ? { binary: options.binary } : {}) }),
      busy: 0,
    }));
  }

  /** Process ids of the running workers (undefined = not started yet or being replaced). */
  pids(): (number | undefined)[] {
    return this.workers.map((w) => w.process.pid);
  }

  async run(args: string[]): Promise<RrdtoolResult> {
    try {
      return await this.runOnce(args);
    } catch (error) {
      if (this.closed || !diedWithProcess(error)) throw error;
      return this.runOnce(args);
    }
  }

  private async runOnce(args: string[]): Promise<RrdtoolResult> {
    if (this.closed) throw new Error('render pool is closed');
    let worker = this.workers[0]!;
    for (const w of this.workers) if (w.busy < worker.busy) worker = w;
    worker.busy++;
    try {
      return await worker.process.run(args, { timeoutMs: this.timeoutMs });
    } finally {
      worker.busy--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.process.close()));
  }
}

/**
 * Did the command fail because its process died or could not start rather than because
 * rrdtool answered `ERROR:`? A timeout is not retried: the same command would most likely hang again.
 */
function diedWithProcess(error: unknown): boolean {
  return error instanceof RrdtoolError && (error.kind === 'died' || error.kind === 'not-started');
}
