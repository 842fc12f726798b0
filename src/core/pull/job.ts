/**
 * A pull job: "fetch this plugin instance of this host for this minute". It names the target but
 * carries no settings: credentials stay in the store, the worker looks them up, so a queue dump
 * or a broker's management UI never shows a password.
 */
export interface PullJob {
  /** The host's address as the store knows it. */
  host: string;
  /** Plugin identifier as the role lists it: `nginx:8080:/nginx_status`. */
  plugin: string;
  /** Epoch seconds the job's minute (scheduling period) starts at. */
  minute: number;
  /** Epoch seconds the job's minute ends at: a job not started by then is dropped. */
  deadline: number;
}

/**
 * Largest job message body: a host (at most 253 characters), a plugin identifier and two numbers
 * fit many times over. A bigger message is no job and is never parsed.
 */
export const MAX_JOB_BYTES = 4096;
/** Longest time from a job's minute to its deadline (the scheduler gives it one period). */
export const MAX_JOB_SPAN_SECONDS = 3600;

/** The plugin every agent pushes; a scheduler never enqueues it. */
export const PUSH_ONLY_PLUGIN = 'base';

/** The plugin name of an identifier: `nginx:8080:/nginx_status` → `nginx`. */
export function pluginNameOf(identifier: string): string {
  const colon = identifier.indexOf(':');
  return colon < 0 ? identifier : identifier.slice(0, colon);
}

/** The identifier's fields after the name: `nginx:8080:/nginx_status` → `["8080", "/nginx_status"]`. */
export function pluginArgsOf(identifier: string): string[] {
  const colon = identifier.indexOf(':');
  return colon < 0 ? [] : identifier.slice(colon + 1).split(':');
}

/**
 * The identifier as the plugin part of a wire key (`<plugin>.<kind>.<name>`): the key is split at
 * its first dot and `%`-unescaped, so dots and percent signs (and the `:` and `/` of
 * `nginx:8080:/nginx_status`) are escaped.
 */
export function wirePlugin(identifier: string): string {
  return encodeURIComponent(identifier).replace(/\./g, '%2E');
}

export function encodeJob(job: PullJob): Buffer {
  return Buffer.from(
    JSON.stringify({ host: job.host, plugin: job.plugin, minute: job.minute, deadline: job.deadline }),
  );
}

/** The job in a message body, or why it is none (a message from another program or version). */
export function decodeJob(body: Buffer | string): PullJob | string {
  const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (bytes > MAX_JOB_BYTES) return `${bytes} bytes, more than a job's ${MAX_JOB_BYTES}`;
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const { host, plugin, minute, deadline } = value as Record<string, unknown>;
  if (typeof host !== 'string' || host === '') return 'no "host"';
  if (typeof plugin !== 'string' || plugin === '') return 'no "plugin"';
  if (typeof minute !== 'number' || !Number.isInteger(minute)) return 'no integer "minute"';
  if (typeof deadline !== 'number' || !Number.isInteger(deadline) || deadline <= minute)
    return 'no integer "deadline" after "minute"';
  if (deadline - minute > MAX_JOB_SPAN_SECONDS)
    return `"deadline" more than ${MAX_JOB_SPAN_SECONDS} s after "minute"`;
  return { host, plugin, minute, deadline };
}
