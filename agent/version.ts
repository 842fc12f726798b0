import { readFileSync } from 'node:fs';

// Set by scripts/build-agent.mjs (esbuild `define`); from package.json when run from the source tree.
declare const __KURADO_AGENT_VERSION__: string | undefined;

/** package.json of the source tree (agent/ under tsx) or of the compiled tree (dist/agent/). */
function sourceTreeVersion(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'kurado' && pkg.version) return pkg.version;
    } catch {
      // Not there: try the next candidate.
    }
  }
  return 'unknown';
}

export const AGENT_VERSION: string =
  typeof __KURADO_AGENT_VERSION__ === 'string' ? __KURADO_AGENT_VERSION__ : sourceTreeVersion();
