import type { PluginSettingValue } from '../../src/core/store/types.js';
import type { Fetcher, PullTarget } from '../../src/pull/types.js';

/** A pull target on loopback: `target('nginx', ['8080', '/nginx_status'])`. */
export function pullTarget(
  name: string,
  args: string[],
  settings: Record<string, PluginSettingValue> = {},
  address = '127.0.0.1',
): PullTarget {
  return {
    address,
    hostname: 'pull-test.example',
    plugin: [name, ...args].join(':'),
    name,
    args,
    settings,
  };
}

/** Runs one fetch the way a worker does: an AbortSignal that fires after `timeoutMs`. */
export async function runFetch(fetcher: Fetcher, target: PullTarget, timeoutMs = 5000): Promise<string[]> {
  return fetcher.fetch(target, {
    signal: AbortSignal.timeout(timeoutMs),
    timeoutMs,
    now: Math.floor(Date.now() / 1000),
  });
}

/** `metrics.reqs.derive\t6` lines as a key → value map. */
export function linesToMap(lines: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of lines) {
    const tab = line.indexOf('\t');
    map.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return map;
}

/** How long `promise` took to settle, and its error (undefined when it resolved). */
export async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = performance.now();
  try {
    await promise;
    return { ms: performance.now() - start, error: undefined };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}
