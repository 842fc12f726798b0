/**
 * Entry of the single-file build (`npm run build:agent` → dist/kurado-agent.mjs), which runs with
 * plain `node` on a host where nothing else of Kurado is installed.
 */
import path from 'node:path';
import { runAgentCli } from './main.js';

const program = `node ${path.basename(process.argv[1] ?? 'kurado-agent.mjs')}`;
const code = await runAgentCli(process.argv.slice(2), { program });
process.exit(code);
//# sourceMappingURL=bin.js.map
