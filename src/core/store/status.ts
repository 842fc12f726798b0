import {
  type HostStatusReport,
  META_TTL_SECONDS,
  STALE_AFTER_SECONDS,
  WARNING_TTL_SECONDS,
} from './types.js';

/** The plugin every agent pushes; a host that has it and stops sending it is down. */
export const BASE_PLUGIN = 'base';

/**
 * A plugin the role does not list (an agent-side plugin) that has not been received for this
 * long is taken as removed from the agent and no longer makes the host "warn".
 */
export const FORGET_UNLISTED_PLUGIN_AFTER_SECONDS = META_TTL_SECONDS;

/** What the status of one host is decided from. */
export interface StatusFacts {
  /** Plugins the host's role lists. */
  plugins: string[];
  /** plugin → last received (receiver clock, epoch seconds). */
  received: Map<string, number>;
  /** Warnings received in the last WARNING_TTL_SECONDS, any order. */
  recentWarnings: { plugin: string; name: string; message: string; receivedAt: number }[];
}

/** How `base` looks for a host: not expected, fresh, never received or stale. */
export type BaseState =
  | { state: 'not-expected' }
  | { state: 'fresh'; receivedAt: number }
  | { state: 'never' }
  | { state: 'stale'; receivedAt: number; age: number };

/**
 * The "agent down" rule, used by the status, the host page's warning and `kurado status`: a host
 * expects `base` when its role lists it or it ever sent it; it is down when `base` was never
 * received or is older than STALE_AFTER_SECONDS.
 */
export function baseState(
  plugins: readonly string[],
  baseReceivedAt: number | undefined,
  now: number,
): BaseState {
  if (baseReceivedAt === undefined)
    return plugins.includes(BASE_PLUGIN) ? { state: 'never' } : { state: 'not-expected' };
  const age = now - baseReceivedAt;
  return age > STALE_AFTER_SECONDS
    ? { state: 'stale', receivedAt: baseReceivedAt, age }
    : { state: 'fresh', receivedAt: baseReceivedAt };
}

/**
 * The status rules (as upstream CloudForecast's `Host::status`), checked in this order:
 * - unknown: nothing was ever received from the host (listed but never seen);
 * - critical: the host lists `base` or ever sent it, and `base` was never received or is older
 *   than STALE_AFTER_SECONDS;
 * - warn: a warning in the last WARNING_TTL_SECONDS, or another plugin that was received before
 *   is older than STALE_AFTER_SECONDS (unlisted plugins only for an hour, see above);
 * - ok otherwise.
 */
export function evaluateStatus(facts: StatusFacts, now: number): HostStatusReport {
  const baseReceivedAt = facts.received.get(BASE_PLUGIN);
  const report = (status: HostStatusReport['status'], reason: string): HostStatusReport =>
    baseReceivedAt === undefined ? { status, reason } : { status, reason, baseReceivedAt };
  const warnings = facts.recentWarnings.filter((w) => now - w.receivedAt < WARNING_TTL_SECONDS);

  if (facts.received.size === 0 && warnings.length === 0) return report('unknown', 'never received anything');

  const base = baseState(facts.plugins, baseReceivedAt, now);
  if (base.state === 'never') return report('critical', `${BASE_PLUGIN} never received`);
  if (base.state === 'stale')
    return report('critical', `${BASE_PLUGIN} not received for ${formatAge(base.age)}`);

  const reasons: string[] = [];
  if (warnings.length > 0) {
    const newest = [...warnings].sort((a, b) => b.receivedAt - a.receivedAt)[0]!;
    const count = warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`;
    reasons.push(`${count}: ${newest.plugin} ${newest.name}: ${newest.message}`);
  }
  const listed = new Set(facts.plugins);
  const stale = [...facts.received]
    .filter(([plugin, at]) => {
      if (plugin === BASE_PLUGIN) return false;
      const age = now - at;
      return age > STALE_AFTER_SECONDS && (listed.has(plugin) || age <= FORGET_UNLISTED_PLUGIN_AFTER_SECONDS);
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [plugin, at] of stale) reasons.push(`${plugin} not received for ${formatAge(now - at)}`);
  return reasons.length > 0 ? report('warn', reasons.join('; ')) : report('ok', '');
}

/** The rules above in words, for `kurado status --help`. */
export function statusRulesText(): string {
  const stale = formatAge(STALE_AFTER_SECONDS);
  return `  critical  the host lists ${BASE_PLUGIN} (or ever sent it) and ${BASE_PLUGIN} was never received or is older than ${stale}
  warn      a warning in the last ${formatAge(WARNING_TTL_SECONDS)}, or another plugin received before is older than ${stale}
            (a plugin the role does not list counts for ${formatAge(FORGET_UNLISTED_PLUGIN_AFTER_SECONDS)}, then is taken as removed)
  unknown   listed, but nothing was ever received
  ok        otherwise`;
}

/** "45 s", "7 min", "2 h 5 min", "3 d 4 h": how long ago, for status reasons and tables. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}
