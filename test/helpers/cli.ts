import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface RunningKurado {
  child: ChildProcess;
  /** Everything the process wrote to stderr (JSON log lines) so far. */
  logs(): string;
  /** Resolves with the first log line matching `pattern`; rejects after `timeoutMs` with the logs. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Wait for the process to end by itself; its exit code. */
  exited(): Promise<number | null>;
  /** Send `signal` and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Run the real `kurado` CLI as a child process: the TypeScript sources through tsx, or with
 * `KURADO_BUILT=1` the compiled `bin/run.js` (benchmarks measure what production runs).
 */
export function spawnKurado(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
): RunningKurado {
  const child = spawn(
    process.execPath,
    process.env.KURADO_BUILT
      ? [...nodeArgs, path.join(ROOT, 'bin/run.js'), ...args]
      : [...nodeArgs, '--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, KURADO_LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let logs = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    logs += chunk.toString();
    for (const waiter of [...waiters]) {
      const line = logs.split('\n').find((candidate) => waiter.pattern.test(candidate));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stderr?.on('data', onData);
  child.stdout?.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs: () => logs,
    waitForLog: (pattern, timeoutMs = 30_000) =>
      new Promise<string>((resolve, reject) => {
        const existing = logs.split('\n').find((line) => pattern.test(line));
        if (existing !== undefined) return resolve(existing);
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no log line matching ${pattern} within ${timeoutMs} ms; logs:\n${logs.slice(-3000)}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exit.then((code) => {
          clearTimeout(timer);
          reject(
            new Error(
              `kurado ${args[0]} exited with ${code} before logging ${pattern}; logs:\n${logs.slice(-3000)}`,
            ),
          );
        });
      }),
    exited: () => exit,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
  };
}
