import { readdirSync } from 'node:fs';
import { RrdtoolProcess } from '../../src/core/rrd/rrdtool-process.js';

/**
 * Reads RRD files the way a graph does: through rrdcached (`--daemon`), so queued values count.
 * One long-lived `rrdtool -` keeps thousands of fetches fast.
 */
export class RrdReader {
  private readonly rrdtool = new RrdtoolProcess();

  constructor(private readonly daemon?: string) {}

  /** AVERAGE rows `(start, end]` of a 1-minute file: timestamp → value (null for unknown). */
  async fetch(file: string, start: number, end: number): Promise<Map<number, number | null>> {
    const args = ['fetch', file, 'AVERAGE', '-r', '60', '-s', String(start), '-e', String(end)];
    if (this.daemon) args.push('--daemon', this.daemon);
    const { text } = await this.rrdtool.run(args);
    const rows = new Map<number, number | null>();
    for (const line of text.split('\n')) {
      const match = /^\s*(\d+):\s+(\S+)/.exec(line);
      if (!match) continue;
      const value = Number(match[2]);
      rows.set(Number(match[1]), Number.isNaN(value) ? null : value);
    }
    return rows;
  }

  /** `rrdtool info` as key → value text. */
  async info(file: string): Promise<Map<string, string>> {
    const args = ['info', file];
    if (this.daemon) args.push('--daemon', this.daemon);
    const { text } = await this.rrdtool.run(args);
    const info = new Map<string, string>();
    for (const line of text.split('\n')) {
      const at = line.indexOf(' = ');
      if (at > 0) info.set(line.slice(0, at), line.slice(at + 3).replace(/^"|"$/g, ''));
    }
    return info;
  }

  close(): Promise<void> {
    return this.rrdtool.close();
  }
}

/** Every `.rrd` file under `dir`, relative paths. */
export function listRrdFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.rrd'))
      .sort();
  } catch {
    return [];
  }
}

/** Poll `check` until it returns true or `timeoutMs` passes; then fail with `describe()`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  describe: () => string,
  timeoutMs = 60_000,
  intervalMs = 200,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A check that throws (a file not created yet) is a "not yet".
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
