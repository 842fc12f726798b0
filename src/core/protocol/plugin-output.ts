import { printable } from './host.js';
import { DS_TYPES } from './types.js';

const TYPE_SUFFIX = new RegExp(`\\.(?:${DS_TYPES.join('|')})$`);

export interface NormalizedOutput {
  /** Wire lines `<plugin>.<kind>.<name>[.<type>]<TAB>value<TAB>epoch`. */
  lines: string[];
  /** Output lines that could not be turned into wire lines, with the reason. */
  problems: string[];
}

/**
 * Turn what a plugin command printed (`key<TAB>value[<TAB>epoch]` lines) into wire lines,
 * as the upstream agent did: a key that does not start with `metrics.`,
 * `meta.` or `warn.` gets `metrics.`; a metric without a data-source type gets `.gauge`; every
 * key gets `<plugin>.`; an empty timestamp means now. Unlike upstream, `warn.` lines stay warnings.
 */
export function normalizePluginOutput(plugin: string, output: string, now: number): NormalizedOutput {
  const lines: string[] = [];
  const problems: string[] = [];
  let lineNumber = 0;
  for (const raw of output.split('\n')) {
    lineNumber++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#') || line.startsWith('//')) continue;
    const fields = line.split('\t');
    if (fields.length < 2 || fields.length > 3 || fields[0] === '') {
      problems.push(`line ${lineNumber}: expected key<TAB>value[<TAB>epoch], got "${printable(line, 80)}"`);
      continue;
    }
    const [rawKey, value, epoch] = fields as [string, string, string | undefined];
    let key = rawKey;
    if (!key.startsWith('metrics.') && !key.startsWith('meta.') && !key.startsWith('warn.'))
      key = `metrics.${key}`;
    if (key.startsWith('metrics.') && !TYPE_SUFFIX.test(key)) key = `${key}.gauge`;
    const timestamp = epoch === undefined || epoch === '' ? String(now) : epoch;
    lines.push(`${plugin}.${key}\t${value}\t${timestamp}`);
  }
  return { lines, problems };
}
