import type { StoreOptions } from '../../src/core/store/common.js';
import { openStore } from '../../src/core/store/index.js';
import type { MetaStore } from '../../src/core/store/types.js';
import { createThrowawayDatabase } from '../helpers/mariadb.js';
import { metaStoreContract } from './contract.js';

metaStoreContract('MariaDB', async () => {
  const database = await createThrowawayDatabase();
  const opened: MetaStore[] = [];
  const open = async (options: StoreOptions = {}) => {
    const store = await openStore(database.url, options);
    opened.push(store);
    return store;
  };
  return {
    store: await open(),
    another: open,
    cleanup: async () => {
      for (const store of opened) await store.close();
      await database.drop();
    },
  };
});
