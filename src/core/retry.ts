import type { Logger } from './log.js';

export interface BackoffOptions {
  /** Longest wait between attempts (default 30 s). */
  maxDelayMs?: number;
  /** Checked before every attempt: true ends the loop without a result (the caller is stopping). */
  stopped?: () => boolean;
  /** Extra fields for each failure's log line (e.g. the broker address). */
  fields?: Record<string, unknown>;
}

/**
 * Run `attempt` until it succeeds, waiting 1 s, 2 s, 4 s … (at most `maxDelayMs`) in between and
 * logging each failure: a daemon started before its database or broker waits for it rather than
 * exiting into a restart loop. With `stopped`, it resolves `undefined` once that says so.
 */
export function retryWithBackoff<T>(what: string, attempt: () => Promise<T>, logger: Logger): Promise<T>;
export function retryWithBackoff<T>(
  what: string,
  attempt: () => Promise<T>,
  logger: Logger,
  options: BackoffOptions,
): Promise<T | undefined>;
export async function retryWithBackoff<T>(
  what: string,
  attempt: () => Promise<T>,
  logger: Logger,
  options: BackoffOptions = {},
): Promise<T | undefined> {
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  let delay = 1000;
  while (!options.stopped?.()) {
    try {
      return await attempt();
    } catch (error) {
      logger.error(
        { ...options.fields, retryInMs: delay },
        `${what}: ${(error as Error).message}; retrying in ${delay / 1000} s`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
  return undefined;
}
