import { readFileSync } from 'node:fs';

function sourceTreeVersion() {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
export const AGENT_VERSION =
  typeof __KURADO_AGENT_VERSION__ === 'string' ? __KURADO_AGENT_VERSION__ : sourceTreeVersion();
//# sourceMappingURL=version.js.map
