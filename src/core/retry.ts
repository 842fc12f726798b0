import type { Logger } from './log.js';

/**
 * Run `attempt` until it succeeds, waiting 1 s, 2 s, 4 s … (at most `maxDelayMs`) in between and
 * logging each failure: a daemon started before its database or broker waits for it rather than
 * exiting into a restart loop.
 */
export async function retryWithBackoff<T>(
  what: string,
  attempt: () => Promise<T>,
  logger: Logger,
  maxDelayMs = 30_000,
): Promise<T> {
  let delay = 1000;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      logger.error(
        { retryInMs: delay },
        `${what}: ${(error as Error).message}; retrying in ${delay / 1000} s`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
