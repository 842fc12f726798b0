/**
 * A separate process that writes group commits into a store, for tests of several processes
 * sharing one store: `node --import tsx test/helpers/store-writer.ts <url> <hostPrefix> <batches>`.
 * Prints "done <batches>" on success; any error goes to stderr with exit code 1.
 */
import { openStore } from '../../src/core/store/index.js';

const [url, prefix, countText] = process.argv.slice(2);
if (!url || !prefix || !countText) {
  console.error('usage: store-writer.ts <store-url> <host-prefix> <batches>');
  process.exit(2);
}
const store = await openStore(url);
const T = 1_800_000_000;
for (let i = 0; i < Number(countText); i++) {
  const hosts = Array.from({ length: 50 }, (_, h) => `${prefix}.${h}`);
  await store.registerUnknownHosts(hosts);
  await store.writeBatch({
    receivedAt: T + i,
    warnings: [],
    received: hosts.map((host) => ({ host, plugin: 'base' })),
    meta: hosts.map((host) => ({
      host,
      plugin: 'base',
      name: 'uptime',
      value: `up ${i} s`,
      timestamp: T + i,
    })),
  });
}
await store.close();
console.log(`done ${countText}`);
