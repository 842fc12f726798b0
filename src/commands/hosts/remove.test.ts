import { describe, expect, it } from 'vitest';
import { hostList, parseDuration } from './remove.js';

describe('hosts remove', () => {
  it('reads durations of up to nine digits in s, m, h, d, w', () => {
    expect(parseDuration('7d')).toBe(7 * 86_400);
    expect(parseDuration(' 90 s ')).toBe(90);
    expect(parseDuration('2w')).toBe(2 * 604_800);
    expect(parseDuration('999999999w')).toBe(999_999_999 * 604_800);
    expect(parseDuration('9999999999d')).toBeUndefined();
    expect(parseDuration('7')).toBeUndefined();
    expect(parseDuration('7y')).toBeUndefined();
  });

  it('names at most 100 hosts in one line and counts the rest (20,000 junk hosts make one short line)', () => {
    const hosts = Array.from({ length: 20_000 }, (_, i) => `junk${i}.example`);
    const line = hostList(hosts);
    expect(line.split(', ')).toHaveLength(101);
    expect(line.endsWith('junk99.example, … and 19900 more')).toBe(true);
    expect(hostList(['a', 'b'])).toBe('a, b');
  });
});
