/**
 * `npm run bench [-- name... [--option value...]]`: runs every bench/*.bench.ts (or those whose name contains one of
 * the arguments) one after another in its own process, so one benchmark's heap and sockets never
 * skew the next. Each benchmark prints its own report; numbers are ratios against a baseline
 * measured in the same run, because these machines are shared and noisy.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const dir = path.dirname(new URL(import.meta.url).pathname);
// Names first, then options for the benchmarks (`npm run bench -- up --minutes 1`).
const firstOption = process.argv.slice(2).findIndex((arg) => arg.startsWith('--'));
const filters = firstOption < 0 ? process.argv.slice(2) : process.argv.slice(2, 2 + firstOption);
const options = firstOption < 0 ? [] : process.argv.slice(2 + firstOption);
const benches = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (benches.length === 0) {
  console.error(`no benchmark matches ${filters.join(', ')} in ${dir}`);
  process.exit(1);
}
// Benchmarks run the compiled CLI, as production does.
const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
process.env.KURADO_BUILT = '1';
let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${bench} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, bench), ...options], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failed++;
    console.error(`${bench} failed with exit code ${result.status}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
