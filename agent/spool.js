import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
/**
 * Ticks not yet acknowledged by the broker, oldest first. Every tick goes through the spool: it
 * is written before it is published and deleted after the broker's PUBACK, so neither a broker
 * outage nor an agent restart loses one. Bounded: beyond `maxEntries` (24 h of ticks by default)
 * the oldest are dropped, and the next tick says so in `base.warn.spool`.
 */
export class Spool {
  dir;
  maxEntries;
  entries = [];
  sequence = 0;
  dropped;
  constructor(
    /** Directory of `<epoch>-<seq>.json` files; undefined = memory only. */
    dir,
    maxEntries,
  ) {
    this.dir = dir;
    this.maxEntries = maxEntries;
  }
  /**
   * Open (and create) the spool directory and pick up ticks a previous run left. When the
   * directory cannot be used the spool lives in memory only; `problem` says why.
   */
  static open(dir, maxEntries) {
    if (dir === undefined) return { spool: new Spool(undefined, maxEntries) };
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const probe = path.join(dir, `.probe-${process.pid}`);
      writeFileSync(probe, '');
      rmSync(probe);
    } catch (error) {
      return {
        spool: new Spool(undefined, maxEntries),
        problem: `spool directory ${dir} is not writable (${error.message}); ticks are kept in memory only`,
      };
    }
    const spool = new Spool(dir, maxEntries);
    for (const name of readdirSync(dir).sort()) {
      const match = /^(\d{12})-(\d{6})\.json$/.exec(name);
      if (match) spool.entries.push({ id: name, epoch: Number(match[1]) });
      else if (name.endsWith('.tmp')) rmSync(path.join(dir, name), { force: true });
    }
    spool.prune();
    return { spool };
  }
  get size() {
    return this.entries.length;
  }
  /** Keep a tick; drops the oldest beyond the bound. */
  add(epoch, self, payload) {
    const id = `${String(epoch).padStart(12, '0')}-${String(this.sequence++ % 1_000_000).padStart(6, '0')}.json`;
    const entry = self === undefined ? { id, epoch, payload } : { id, epoch, self, payload };
    if (this.dir === undefined) {
      this.entries.push({ id, epoch, inline: entry });
    } else {
      const file = path.join(this.dir, id);
      // Write then rename: a crash mid-write leaves a .tmp, never a torn tick.
      writeFileSync(`${file}.tmp`, JSON.stringify(entry), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      this.entries.push({ id, epoch });
    }
    this.prune();
  }
  /** The oldest tick, or undefined when all were published. An unreadable file is skipped. */
  oldest() {
    while (this.entries.length > 0) {
      const stored = this.entries[0];
      if (stored.inline) return stored.inline;
      try {
        const entry = JSON.parse(readFileSync(path.join(this.dir, stored.id), 'utf8'));
        if (typeof entry.payload === 'string' && typeof entry.epoch === 'number')
          return { ...entry, id: stored.id };
      } catch {
        // Torn or foreign file: nothing to publish from it.
      }
      this.remove(stored.id);
    }
    return undefined;
  }
  /** Forget a tick the broker acknowledged. */
  remove(id) {
    const index = this.entries.findIndex((entry) => entry.id === id);
    if (index < 0) return;
    this.entries.splice(index, 1);
    if (this.dir !== undefined) rmSync(path.join(this.dir, id), { force: true });
  }
  /** `base.warn.spool` about ticks dropped since the last call, or nothing. */
  takeDroppedWarning(now) {
    const dropped = this.dropped;
    if (!dropped) return [];
    this.dropped = undefined;
    const from = new Date(dropped.first * 1000).toISOString();
    const to = new Date(dropped.last * 1000).toISOString();
    return [
      `base.warn.spool\tdropped ${dropped.count} unsent tick(s) collected ${from} .. ${to}: the broker was unreachable longer than the spool keeps (${this.maxEntries} ticks)\t${now}`,
    ];
  }
  prune() {
    while (this.entries.length > this.maxEntries) {
      const oldest = this.entries[0];
      this.dropped = this.dropped
        ? { count: this.dropped.count + 1, first: this.dropped.first, last: oldest.epoch }
        : { count: 1, first: oldest.epoch, last: oldest.epoch };
      this.remove(oldest.id);
    }
  }
}
//# sourceMappingURL=spool.js.map
