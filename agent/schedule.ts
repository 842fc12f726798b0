/**
 * The next tick after `nowMs`: the next multiple of the interval (wall clock, so every agent
 * ticks at :00 of the minute) plus this process's fixed delay. Never returns `nowMs` itself, so
 * a timer that fires a little early cannot tick twice.
 */
export function nextTickMs(nowMs: number, intervalSeconds: number, delaySeconds: number): number {
  const intervalMs = intervalSeconds * 1000;
  const delayMs = delaySeconds * 1000;
  return (Math.floor((nowMs - delayMs) / intervalMs) + 1) * intervalMs + delayMs;
}

/** The fixed per-process delay in whole seconds, in `[0, maxDelaySeconds)`. */
export function randomDelaySeconds(maxDelaySeconds: number, random: () => number = Math.random): number {
  return maxDelaySeconds > 0 ? Math.floor(random() * maxDelaySeconds) : 0;
}
