/**
 * What one agent may cost the receiver and the store. An agent runs on a machine someone else
 * administers: whatever it sends, it cannot create unbounded files, rows or memory. Defaults are
 * far above what a real host sends (the base plugin writes about 60 files, 10 meta values and
 * no warnings); `[limits]` in kurado.toml changes them, `max_files` on a role, section or host entry of the
 * server list raises or lowers the file limit of its hosts.
 */
export interface IngestLimits {
  /** Metric (RRD) files per host; past it new metrics are refused, existing ones keep updating. */
  maxFilesPerHost: number;
  /** Meta values per host in one message, and distinct meta names per host in the store. */
  maxMetaPerHost: number;
  /** Warnings per host in one message, and stored per host per 5 minutes. */
  maxWarningsPerHost: number;
  /** Longest meta value or warning message, in UTF-8 bytes. */
  maxValueBytes: number;
  /**
   * Largest message, in UTF-8 bytes; a larger one is refused whole, unparsed. The transport has
   * already received it: the broker's own limit (Mosquitto `message_size_limit`) bounds that.
   */
  maxMessageBytes: number;
  /** Lines in one message; the lines after it are refused, the ones before are stored. */
  maxMessageLines: number;
}

export const DEFAULT_LIMITS: Readonly<IngestLimits> = {
  maxFilesPerHost: 5000,
  maxMetaPerHost: 500,
  maxWarningsPerHost: 100,
  maxValueBytes: 1024,
  // 200,000 lines of ~40 bytes; a plugin printing per-process or per-container metrics sends
  // 10,000-100,000 lines. One message in flight costs about 100 bytes per line on top.
  maxMessageBytes: 8 * 1024 * 1024,
  maxMessageLines: 200_000,
};

/**
 * Metrics per host and plugin whose newest value the store keeps for rankings and service
 * graphs (the first ones of a message); the rest are still written to their RRD files.
 */
export const MAX_LATEST_VALUES_PER_PLUGIN = 500;

/** `[limits]` keys in kurado.toml, per field. */
export const LIMIT_KEYS: Readonly<Record<keyof IngestLimits, string>> = {
  maxFilesPerHost: 'max_files_per_host',
  maxMetaPerHost: 'max_meta_per_host',
  maxWarningsPerHost: 'max_warnings_per_host',
  maxValueBytes: 'max_value_bytes',
  maxMessageBytes: 'max_message_bytes',
  maxMessageLines: 'max_message_lines',
};

/** Plugin and names of the warnings Kurado puts on a host when it refused something it sent. */
export const LIMIT_WARNING_PLUGIN = 'kurado';
export const FILES_LIMIT_WARNING = { plugin: LIMIT_WARNING_PLUGIN, name: 'files-limit' } as const;
export const META_LIMIT_WARNING = { plugin: LIMIT_WARNING_PLUGIN, name: 'meta-limit' } as const;
export const WARNINGS_LIMIT_WARNING = { plugin: LIMIT_WARNING_PLUGIN, name: 'warnings-limit' } as const;
export const MESSAGE_LIMIT_WARNING = { plugin: LIMIT_WARNING_PLUGIN, name: 'message-limit' } as const;

/** Whether `text` is longer than `maxBytes` in UTF-8 (counting bytes only when it can be). */
export function longerThanBytes(text: string, maxBytes: number): boolean {
  return text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes);
}
