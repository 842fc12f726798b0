/**
 * Entry of the single-file build (`npm run build:agent` → dist/kurado-agent.mjs), which runs with
 * plain `node` on a host where nothing else of Kurado is installed. The compiled `kurado agent`
 * command imports this same file, so it only runs the CLI when it is the main module.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAgentCli } from './main.js';

export * from './main.js';

function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  const program = `node ${path.basename(process.argv[1]!)}`;
  process.exit(await runAgentCli(process.argv.slice(2), { program }));
}
