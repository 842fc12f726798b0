import type { DsType } from '../protocol/types.js';

/** One value for one RRD file; the file is created on first sight with `type`. */
export interface RrdUpdate {
  /** Absolute path under data_dir (rrdcached on a unix socket needs absolute paths). */
  path: string;
  type: DsType;
  timestamp: number;
  /** `null` is written as `U`. */
  value: number | null;
}

export interface WriteReport {
  /** Values rrdcached (or rrdtool) took. */
  accepted: number;
  /** Values at or before the file's last update: a redelivered message, counted and dropped. */
  duplicates: number;
  /** Files created by this call. */
  created: number;
  /** Values refused for a reason other than a duplicate (the reason names the file). */
  failed: { path: string; reason: string }[];
  /**
   * Hosts none of whose values were taken because their storage node is down (`[[storage]]`
   * only): their messages stay unacknowledged and are written when the node is back.
   */
  unstoredHosts?: Set<string>;
}

/**
 * The RRD write side. `write` resolves only once every value was accepted durably (rrdcached
 * BATCH answered, journal on) and rejects when the daemon is unreachable, so the caller never
 * acknowledges a message whose values were not stored.
 */
export interface RrdWriter {
  write(updates: RrdUpdate[]): Promise<WriteReport>;
  close(): Promise<void>;
}
