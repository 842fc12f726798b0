import { describe, expect, it } from 'vitest';
import { effectiveHostOptions, mergeHostOptions } from './host-options.js';

const DEFAULTS = { maxFiles: 5000, relay: false };

describe('host options', () => {
  it('the most specific layer wins: entry over section over role', () => {
    expect(mergeHostOptions({ maxFiles: 1, relay: true }, { maxFiles: 2 }, { relay: false })).toEqual({
      maxFiles: 2,
      relay: false,
    });
    expect(mergeHostOptions({ maxFiles: 1 }, undefined, {})).toEqual({ maxFiles: 1 });
    expect(mergeHostOptions()).toEqual({});
  });

  it('the receiver defaults apply only where the server list says nothing', () => {
    expect(effectiveHostOptions(undefined, DEFAULTS)).toEqual({ maxFiles: 5000, relay: false });
    expect(effectiveHostOptions({ maxFiles: 0 }, DEFAULTS)).toEqual({ maxFiles: 0, relay: false });
    // relay = false on a host holds even when `receive --allow-relay` makes relaying the default.
    expect(effectiveHostOptions({ relay: false }, { ...DEFAULTS, relay: true })).toEqual({
      maxFiles: 5000,
      relay: false,
    });
    expect(effectiveHostOptions({}, { ...DEFAULTS, relay: true }).relay).toBe(true);
  });
});
