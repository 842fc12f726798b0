#!/usr/bin/env node
/**
 * `npm run build:agent`: bundle agent/bin.ts with its few dependencies (mqtt, smol-toml, the
 * protocol module) into dist/kurado-agent.mjs, one file that runs with plain `node` (>= 20) on a
 * host where nothing else of Kurado is installed.
 */
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(root, 'dist', 'kurado-agent.mjs');
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

await build({
  entryPoints: [path.join(root, 'agent', 'bin.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  legalComments: 'none',
  // MQTT.js and its dependencies are CommonJS and call require() on Node built-ins; an ES module
  // has no require, so give the bundle one.
  banner: {
    js: [
      '#!/usr/bin/env node',
      `// kurado-agent ${version}: single-file build of agent/ (npm run build:agent). Needs Node >= 20.`,
      "import { createRequire as __kuradoCreateRequire } from 'node:module';",
      'const require = __kuradoCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  define: { __KURADO_AGENT_VERSION__: JSON.stringify(version) },
  // Optional native speed-ups of `ws` (MQTT over WebSocket, which the agent does not use).
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
  plugins: [preferTypeScriptSources()],
});
chmodSync(outfile, 0o755);
console.log(`${path.relative(root, outfile)}: ${(statSync(outfile).size / 1024).toFixed(0)} KiB`);

/**
 * Sources import each other as `./x.js` (NodeNext). esbuild maps that to `x.ts` only when no
 * `x.js` exists, so a stray compiled `x.js` next to the source would be bundled instead of the
 * current code. Always take the `.ts` when there is one.
 */
function preferTypeScriptSources() {
  return {
    name: 'prefer-typescript-sources',
    setup(esbuildBuild) {
      esbuildBuild.onResolve({ filter: /^\.{1,2}\/.*\.js$/ }, (args) => {
        const candidate = path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
        return existsSync(candidate) ? { path: candidate } : undefined;
      });
    },
  };
}
