import { readFileSync } from 'node:fs';

// Set by scripts/build-agent.mjs (esbuild `define`); from package.json when run from the source tree.
declare const __KURADO_AGENT_VERSION__: string | undefined;

function sourceTreeVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const AGENT_VERSION: string =
  typeof __KURADO_AGENT_VERSION__ === 'string' ? __KURADO_AGENT_VERSION__ : sourceTreeVersion();
