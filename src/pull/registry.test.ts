import { describe, expect, it } from 'vitest';
import { fetcherFor, isPullPlugin, PULL_PLUGIN_NAMES } from './registry.js';

describe('pull plugin registry', () => {
  it('lists every fetcher under its own name, and never base', () => {
    expect(PULL_PLUGIN_NAMES).toEqual(['nginx', 'http', 'mysql', 'redis', 'memcached', 'command']);
    for (const name of PULL_PLUGIN_NAMES) expect(fetcherFor(name)?.name).toBe(name);
    expect(fetcherFor('base')).toBeUndefined();
    expect(isPullPlugin('base')).toBe(false);
    expect(isPullPlugin('nope')).toBe(false);
    expect(isPullPlugin('mysql')).toBe(true);
  });
});
