import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { StoreOptions } from '../../src/core/store/common.js';
import { openStore } from '../../src/core/store/index.js';
import type { MetaStore } from '../../src/core/store/types.js';
import { metaStoreContract } from './contract.js';

metaStoreContract('SQLite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kurado-store-'));
  // A nested directory that does not exist yet: openStore creates it.
  const url = `sqlite:${path.join(dir, 'data', 'kurado.db')}`;
  const opened: MetaStore[] = [];
  const open = async (options: StoreOptions = {}) => {
    const store = await openStore(url, options);
    opened.push(store);
    return store;
  };
  return {
    store: await open(),
    another: open,
    cleanup: async () => {
      for (const store of opened) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
