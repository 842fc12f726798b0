import { describe, expect, it } from 'vitest';
import { nextTickMs, randomDelaySeconds } from './schedule.js';

describe('tick schedule', () => {
  const minute = 60;
  const at = (iso: string) => Date.parse(iso);

  it('ticks on the next minute boundary', () => {
    expect(nextTickMs(at('2026-01-01T10:00:17.250Z'), minute, 0)).toBe(at('2026-01-01T10:01:00Z'));
  });

  it('never returns the current instant, so an early or exact timer cannot tick twice', () => {
    expect(nextTickMs(at('2026-01-01T10:01:00Z'), minute, 0)).toBe(at('2026-01-01T10:02:00Z'));
  });

  it('adds the fixed delay, also when now lies between the boundary and boundary + delay', () => {
    expect(nextTickMs(at('2026-01-01T10:00:17Z'), minute, 7)).toBe(at('2026-01-01T10:01:07Z'));
    expect(nextTickMs(at('2026-01-01T10:01:03Z'), minute, 7)).toBe(at('2026-01-01T10:01:07Z'));
  });

  it('aligns longer intervals to wall-clock multiples', () => {
    expect(nextTickMs(at('2026-01-01T10:03:00Z'), 5 * minute, 0)).toBe(at('2026-01-01T10:05:00Z'));
  });

  it('draws the delay in [0, max) whole seconds', () => {
    expect(randomDelaySeconds(0)).toBe(0);
    expect(randomDelaySeconds(10, () => 0)).toBe(0);
    expect(randomDelaySeconds(10, () => 0.9999)).toBe(9);
  });
});
