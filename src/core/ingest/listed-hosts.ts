import type { HostOptions, MetaStore } from '../store/types.js';

/** How often the receiver re-reads the server list from the store (after `hosts import`). */
export const LISTED_HOSTS_RELOAD_MS = 60 * 1000;

/**
 * What the receiver needs to know about hosts of the imported server list: their options
 * (`max_files`, `relay`) and their hostnames. A topic or relayed address naming a listed host's
 * hostname (not its address) is refused, so nobody can register a host that shadows it.
 */
export class ListedHosts {
  private options = new Map<string, HostOptions>();
  /** Hostname (lower case) → address, for listed hosts whose hostname is not their address. */
  private hostnames = new Map<string, string>();
  private loadedAtMs = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly store: MetaStore,
    private readonly reloadMs = LISTED_HOSTS_RELOAD_MS,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Re-read the server list when the last read is older than the reload interval. */
  async refresh(): Promise<void> {
    if (this.nowMs() - this.loadedAtMs < this.reloadMs) return;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  private async load(): Promise<void> {
    const options = new Map<string, HostOptions>();
    const hostnames = new Map<string, string>();
    for (const host of await this.store.listHosts()) {
      if (host.origin !== 'import') continue;
      options.set(host.address, host.options ?? {});
      const hostname = host.hostname.toLowerCase();
      if (hostname !== host.address && !hostnames.has(hostname)) hostnames.set(hostname, host.address);
    }
    this.options = options;
    this.hostnames = hostnames;
    this.loadedAtMs = this.nowMs();
  }

  /** Options the server list gives `address` (empty for hosts it does not list). */
  optionsOf(address: string): HostOptions | undefined {
    return this.options.get(address);
  }

  /**
   * The listed address whose hostname `host` is, when `host` is not a listed address itself:
   * data sent as `host` would be shown in place of that listed host's.
   */
  shadowedBy(host: string): string | undefined {
    if (this.options.has(host)) return undefined;
    return this.hostnames.get(host);
  }
}
