import type { PluginSettingValue } from '../core/store/types.js';

/**
 * One pull job as a fetcher sees it: which host, which plugin instance, and the settings the
 * server list gives that instance (credentials included; a fetcher never logs them).
 */
export interface PullTarget {
  /** The host's address, as the store knows it (`192.0.2.10`, `db01.example.com`). */
  address: string;
  hostname: string;
  /** Plugin identifier as the role lists it: `nginx:8080:/nginx_status`, `mysql:3307`. */
  plugin: string;
  /** Plugin name, the identifier's first field: `nginx`. */
  name: string;
  /** The identifier's other fields, in order: `["8080", "/nginx_status"]` (may be empty). */
  args: string[];
  /** Settings merged from the server list (global < role, by name < by identifier). */
  settings: Record<string, PluginSettingValue>;
}

export interface FetchContext {
  /** Aborted when the job's timeout passes or the worker stops; a fetcher gives up at once. */
  signal: AbortSignal;
  /** The job's timeout, for clients that take a number instead of a signal. */
  timeoutMs: number;
  /** Epoch seconds the job started at. */
  now: number;
}

/**
 * A pull plugin. `fetch` reads the target and returns lines in the agent plugin format
 * (`key<TAB>value[<TAB>epoch]`, keys `metrics.<name>.<type>`, `meta.<name>`, `warn.<name>`;
 * see core/protocol/plugin-output.ts), so pulled values take exactly the agent's path.
 * It throws a `FetchError` (or any Error) with a reason a human can act on when the target
 * refuses, times out or answers garbage; the worker turns it into `<plugin>.warn.fetch`.
 */
export interface Fetcher {
  /** The plugin name in role lists (`nginx`). */
  readonly name: string;
  fetch(target: PullTarget, context: FetchContext): Promise<string[]>;
}

/** A failed fetch with a reason safe to show (no credentials). */
export class FetchError extends Error {
  override name = 'FetchError';
}
