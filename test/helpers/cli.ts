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
  const child = spawn(process.execPath, kuradoArgv(args, nodeArgs), {
    cwd: ROOT,
    env: { ...process.env, KURADO_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child, args);
}

function kuradoArgv(args: string[], nodeArgs: string[] = []): string[] {
  return process.env.KURADO_BUILT
    ? [...nodeArgs, path.join(ROOT, 'bin/run.js'), ...args]
    : [...nodeArgs, '--import', 'tsx', path.join(ROOT, 'bin/dev.js'), ...args];
}

/** Terminal control sequences (colours, cursor moves) and carriage returns. */
const TERMINAL_CONTROL = /\u001b\[[0-9;?]*[A-Za-z]|\r/g;

export interface KuradoInTerminal extends RunningKurado {
  /** What the terminal showed, without colours and cursor moves. */
  screen(): string;
  /** Type Ctrl-C, as a person at the terminal stops `kurado up`. */
  interrupt(): void;
}

/**
 * Run the real `kurado` CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal
 * does: stdin, stdout and stderr are the terminal, 120 columns wide. `script -e` exits with the
 * command's exit code. systemd's variables are removed, or `--log-format auto` would choose JSON.
 */
export function spawnKuradoInTerminal(args: string[], env: NodeJS.ProcessEnv = {}): KuradoInTerminal {
  const command = [process.execPath, ...kuradoArgv(args)].map(shellQuote).join(' ');
  const { JOURNAL_STREAM: _journal, INVOCATION_ID: _invocation, ...inherited } = process.env;
  const child = spawn('script', ['-qefc', `stty cols 120 rows 40; exec ${command}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...inherited, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const screen = (raw: string) => raw.replace(TERMINAL_CONTROL, '');
  const running = watch(child, args, screen);
  return {
    ...running,
    screen: () => screen(running.logs()),
    interrupt: () => child.stdin?.write('\u0003'),
  };
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** `clean` turns the raw output into the text `waitForLog` searches (terminal control removed). */
function watch(child: ChildProcess, args: string[], clean = (raw: string) => raw): RunningKurado {
  let logs = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    logs += chunk.toString();
    for (const waiter of [...waiters]) {
      const line = clean(logs)
        .split('\n')
        .find((candidate) => waiter.pattern.test(candidate));
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
        const existing = clean(logs)
          .split('\n')
          .find((line) => pattern.test(line));
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
