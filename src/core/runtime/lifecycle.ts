import type { Logger } from '../log.js';

/** The signals that stop a long-running command (systemd sends SIGTERM, a terminal SIGINT). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * `receive --stop-timeout`: how long SIGTERM may take by default. Below systemd's TimeoutStopSec
 * (60 s in kurado-receive.service), so the process ends itself before systemd kills it.
 */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 30;

/** Where signals come from; `process` in production, an EventEmitter in tests. */
export interface SignalSource {
  on(signal: StopSignal, listener: () => void): unknown;
  off(signal: StopSignal, listener: () => void): unknown;
}

export interface LifecycleOptions {
  logger: Logger;
  /** Logged with `{ signal }` when a signal starts the shutdown. */
  stoppingMessage?: string;
  /** Ends the process once everything stopped; default `process.exit`. */
  exit?: (code: number) => void;
  signals?: SignalSource;
  /** Takes a signal's default action (ends the process); default: send it to this process again. */
  raise?: (signal: StopSignal) => void;
  /**
   * Longest shutdown after a signal, milliseconds. When the parts have not stopped by then (a
   * receiver still retrying a batch rrdcached or the store does not take), the process exits 1
   * anyway: what was not stored was never acknowledged, so the broker keeps it for the next
   * start. Default: no limit.
   */
  stopTimeoutMs?: number;
}

/**
 * The parts a long-running command started (store, writer, receiver, web server, …) and their
 * shutdown. Parts stop in the reverse order of registration, like nested `finally` blocks: what
 * was started later (a receiver) uses what was started earlier (the writer and store), so it
 * stops first and can still store what it holds. A part that fails to stop is logged and the
 * others still stop; the exit code is then 1.
 */
export class Lifecycle {
  private readonly parts: { name: string; stop: () => Promise<void> }[] = [];
  private stopping: Promise<number> | undefined;
  private readonly logger: Logger;
  private readonly signals: SignalSource;
  private readonly listeners = new Map<StopSignal, () => void>();
  private readonly waiters: ((code: number) => void)[] = [];
  private signalled: StopSignal | undefined;

  constructor(private readonly options: LifecycleOptions) {
    this.logger = options.logger;
    this.signals = options.signals ?? process;
  }

  /**
   * Register a started part. Register a part before awaiting its start when a signal during the
   * start must stop it too (a receiver connecting to its broker).
   */
  onStop(name: string, stop: () => Promise<void>): void {
    this.parts.push({ name, stop });
  }

  /**
   * From now on SIGTERM or SIGINT logs `stoppingMessage`, stops every part, flushes the log and
   * exits (0, or 1 when a part failed to stop). While stopping, the other signal is ignored and
   * the same one again takes Node's default action (a second Ctrl-C ends the process at once).
   */
  handleSignals(): void {
    for (const signal of STOP_SIGNALS) {
      // Listening on (not once) while stopping: terminal libraries (listr2's cursor handling)
      // install signal-exit, which sends a signal again when it sees no other listener, and
      // would end the process before its parts stopped.
      const listener = () => {
        if (this.signalled === undefined) {
          this.signalled = signal;
          void this.shutdown(signal);
        } else if (this.signalled === signal) {
          this.removeSignalListeners();
          (this.options.raise ?? ((again: StopSignal) => process.kill(process.pid, again)))(signal);
        }
      };
      this.listeners.set(signal, listener);
      this.signals.on(signal, listener);
    }
  }

  private removeSignalListeners(): void {
    for (const [name, listener] of this.listeners) this.signals.off(name, listener);
    this.listeners.clear();
  }

  /** Resolves with the exit code once a signal stopped everything (the process exits then). */
  untilStopped(): Promise<number> {
    return new Promise<number>((resolve) => {
      this.waiters.push(resolve);
    });
  }

  /**
   * Stop every part registered so far, latest first; resolves with 0, or 1 when a part failed.
   * Used on a signal, and by a command whose start failed half-way.
   */
  stop(): Promise<number> {
    this.stopping ??= this.stopParts();
    return this.stopping;
  }

  /** Run `start`; when it throws, stop what it registered before rethrowing. */
  async starting<T>(start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async shutdown(signal: StopSignal): Promise<void> {
    if (this.stopping) return;
    this.logger.info({ signal }, this.options.stoppingMessage ?? 'stopping');
    const code = await this.stopWithin(this.options.stopTimeoutMs);
    this.removeSignalListeners();
    this.logger.flush();
    for (const resolve of this.waiters) resolve(code);
    (this.options.exit ?? ((exitCode: number) => process.exit(exitCode)))(code);
  }

  private async stopWithin(timeoutMs: number | undefined): Promise<number> {
    if (timeoutMs === undefined) return this.stop();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        const waiting = this.parts.map((part) => part.name);
        this.logger.error(
          { stopTimeoutMs: timeoutMs, stillStopping: waiting },
          `stop timeout: not stopped after ${timeoutMs / 1000} s; exiting without acknowledging what was not stored (the broker keeps it)`,
        );
        resolve(1);
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.stop(), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async stopParts(): Promise<number> {
    let code = 0;
    while (this.parts.length > 0) {
      const part = this.parts.pop() as { name: string; stop: () => Promise<void> };
      try {
        await part.stop();
      } catch (error) {
        code = 1;
        this.logger.error(
          { err: error, part: part.name },
          `cannot stop ${part.name}: ${(error as Error).message}`,
        );
      }
    }
    return code;
  }
}
