import { isAbsolute } from 'node:path';
import { execa } from 'execa';
import { hideAbsolutePaths } from '../../core/rrd/layout.js';
import { MAX_REPLY_BYTES, stringSetting } from '../net.js';
import { excerpt } from '../text.js';
import type { FetchContext, Fetcher, PullTarget } from '../types.js';
import { FetchError } from '../types.js';

/** Environment variable holding the plugin's settings (minus `command`) as a JSON object. */
export const SETTINGS_ENV = 'KURADO_SETTINGS';

/**
 * The lines a site command printed, in the agent plugin format (`key<TAB>value[<TAB>epoch]`):
 * blank lines and `#`/`//` comments dropped, the rest passed on for the shared normaliser
 * (which adds `metrics.` and `.gauge` where missing and reports bad lines). Output with text
 * but not one tab-separated line is not plugin output at all and throws a FetchError.
 */
export function parseCommandOutput(stdout: string, where: string): string[] {
  const lines = stdout
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    .filter((line) => line.trim() !== '' && !line.startsWith('#') && !line.startsWith('//'));
  if (lines.length > 0 && !lines.some((line) => line.includes('\t')))
    throw new FetchError(`${where} printed no key<TAB>value line: "${excerpt(lines[0] as string)}"`);
  return lines;
}

/** The argument list a command gets, upstream's plugin convention. */
export function commandArguments(target: PullTarget): string[] {
  return [
    '--address',
    target.address,
    '--hostname',
    target.hostname,
    ...target.args.slice(1).flatMap((arg) => ['--plugin-arguments', arg]),
  ];
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

/**
 * `command:<name>[:arg...]`: runs the executable named by the `command` setting (an absolute
 * path) with `--address A --hostname H [--plugin-arguments ARG]...`, the other settings as JSON
 * in KURADO_SETTINGS, and no other environment than PATH and LANG (the worker's own secrets stay
 * out). On timeout its whole process group is killed.
 */
export const commandFetcher: Fetcher = {
  name: 'command',
  async fetch(target: PullTarget, context: FetchContext): Promise<string[]> {
    const executable = stringSetting(target, 'command');
    if (!executable)
      throw new FetchError(
        `${target.plugin}: no executable: give it a "command" setting, e.g. [settings."${target.plugin}"] command = "/usr/local/lib/kurado/${target.args[0] || 'check'}"`,
      );
    if (!isAbsolute(executable))
      throw new FetchError(
        `${target.plugin}: the "command" setting must be an absolute path, not "${executable}"`,
      );
    // Messages become warnings users see: they name the plugin, never the server's paths (the
    // executable is the plugin's "command" setting in the server list).
    const where = target.plugin;
    if (context.signal.aborted)
      throw new FetchError(`${where} did not finish within ${context.timeoutMs} ms`);
    const { command: _executable, ...settings } = target.settings;
    const subprocess = execa(executable, commandArguments(target), {
      // Its own process group, so a timeout also ends whatever the command started.
      detached: true,
      extendEnv: false,
      env: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        LANG: 'C.UTF-8',
        [SETTINGS_ENV]: JSON.stringify(settings),
      },
      stdin: 'ignore',
      maxBuffer: MAX_REPLY_BYTES,
      reject: false,
      stripFinalNewline: false,
    });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        killGroup(subprocess.pid);
        reject(
          new FetchError(`${where} did not finish within ${context.timeoutMs} ms; killed its process group`),
        );
      };
      context.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([subprocess, aborted]);
      if (result.failed) {
        const code = (result.cause as { code?: unknown } | undefined)?.code;
        if (code === 'ENOENT') throw new FetchError(`${where}: its "command" setting names no such file`);
        if (code === 'EACCES')
          throw new FetchError(
            `${where}: its "command" setting names a file that is not executable (check its mode and owner)`,
          );
        if (result.isMaxBuffer) throw new FetchError(`${where} printed more than ${MAX_REPLY_BYTES} bytes`);
        const stderr = String(result.stderr ?? '').trim();
        const lastLine = stderr.split('\n').at(-1) ?? '';
        const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
        throw new FetchError(
          `${where} ${how}${lastLine ? `: ${excerpt(hideAbsolutePaths(lastLine), 160)}` : ''}`,
        );
      }
      return parseCommandOutput(String(result.stdout), where);
    } finally {
      if (onAbort) context.signal.removeEventListener('abort', onAbort);
      aborted.catch(() => undefined);
      // Children it left behind in its group have no reader any more.
      killGroup(subprocess.pid);
    }
  },
};
