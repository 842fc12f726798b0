import path from 'node:path';
import { RrdcachedWriter } from './rrdcached-writer.js';
import { RrdtoolWriter } from './rrdtool-writer.js';
import type { RrdWriter } from './types.js';

/**
 * The RRD write side, one module per part: `write-plan.ts` (grouping and value formatting, no
 * I/O), `settle.ts` (the rounds that map daemon answers to accepted/duplicate/failed values),
 * `rrdcached-writer.ts` (BATCH, replay after a reconnect) and `rrdtool-writer.ts` (`rrdtool -`).
 */
export { RrdcachedWriter, type RrdcachedWriterOptions } from './rrdcached-writer.js';
export { RrdtoolWriter, type RrdtoolWriterOptions } from './rrdtool-writer.js';

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
