/**
 * Long work on one message (100,000 lines: parsing, planning, CREATE and UPDATE commands) runs in
 * slices with a yield to the event loop in between, so other connections' messages, MQTT
 * keepalives and web requests are served while it runs. A slice of 2,000 lines or values takes
 * 2-8 ms of CPU; on a loaded machine (the process getting a fraction of a core) that stretches,
 * and 5,000-line slices measured an event-loop delay p99 of 131 ms at load average 19.
 */
export const SLICE_SIZE = 2000;

/** Let timers and I/O callbacks that are due run before continuing. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Counts work done and yields to the event loop once a slice's worth is done. */
export class Slicer {
  private done = 0;

  constructor(private readonly size = SLICE_SIZE) {}

  /** How much more fits in the current slice. */
  get left(): number {
    return Math.max(1, this.size - this.done);
  }

  /**
   * Count `amount` of work; true when the slice is full (and a new one starts): the caller then
   * awaits yieldToEventLoop. Synchronous, so the hot path pays no promise per item.
   */
  count(amount: number): boolean {
    this.done += amount;
    if (this.done < this.size) return false;
    this.done = 0;
    return true;
  }
}
