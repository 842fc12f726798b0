/**
 * The one rule for a host's `max_files` and `relay`: the most specific setting wins. A host entry
 * beats its section, a section beats its role, and a role beats the receiver's default
 * (`limits.max_files_per_host` in kurado.toml, `receive --allow-relay`).
 */
import type { HostOptions } from '../store/types.js';

/** What the receiver enforces for a host when the server list says nothing. */
export interface HostOptionDefaults {
  maxFiles: number;
  relay: boolean;
}

/** The options written on a host's layers, least specific first (role, section, entry). */
export function mergeHostOptions(...layers: readonly (HostOptions | undefined)[]): HostOptions {
  const merged: HostOptions = {};
  for (const layer of layers) {
    if (layer?.maxFiles !== undefined) merged.maxFiles = layer.maxFiles;
    if (layer?.relay !== undefined) merged.relay = layer.relay;
    if (layer?.storage !== undefined) merged.storage = layer.storage;
  }
  return merged;
}

/** What applies to a host: its server-list options (undefined for unlisted hosts) over the defaults. */
export function effectiveHostOptions(
  listed: HostOptions | undefined,
  defaults: HostOptionDefaults,
): Required<Pick<HostOptions, 'maxFiles' | 'relay'>> {
  return {
    maxFiles: listed?.maxFiles ?? defaults.maxFiles,
    relay: listed?.relay ?? defaults.relay,
  };
}
