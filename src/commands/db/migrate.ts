import { BaseCommand } from '../../cli/base-command.js';
import { openStoreForCommand, shownStoreUrl } from '../../cli/store.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, StoreError } from '../../core/store/index.js';

export default class DbMigrate extends BaseCommand<typeof DbMigrate> {
  static override summary = 'Create or upgrade the metadata store schema.';
  static override description =
    `Applies the schema migrations the store (--store / KURADO_STORE_URL / store in kurado.toml) does
not have yet. Safe to run any number of times, and from several machines at once: MySQL
migrations run under a named lock, SQLite ones in one write transaction. Run it after installing
or upgrading Kurado, before starting receive/serve against MySQL (an embedded SQLite store is
migrated automatically). The MySQL database itself must exist:
  CREATE DATABASE kurado CHARACTER SET utf8mb4;`;

  static override examples = [
    '<%= config.bin %> db migrate -c /etc/kurado/kurado.toml',
    '<%= config.bin %> db migrate --store mysql://kurado:secret@127.0.0.1:3306/kurado',
  ];

  public async run(): Promise<void> {
    const url = this.settings.storeUrl;
    let store: Awaited<ReturnType<typeof openStoreForCommand>>;
    try {
      store = await openStoreForCommand(url, 'none');
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }
    try {
      const before = await store.schemaVersion();
      await store.migrate();
      const after = await store.schemaVersion();
      if (after === before) {
        this.log(`${shownStoreUrl(url)}: schema is up to date (version ${after})`);
        return;
      }
      const applied = MIGRATIONS.filter((m) => m.version > before && m.version <= after);
      this.log(`${shownStoreUrl(url)}: schema version ${before} → ${after}`);
      for (const migration of applied) this.log(`  applied ${migration.version}: ${migration.name}`);
      if (after < LATEST_SCHEMA_VERSION)
        this.warn(`schema is at ${after}, this Kurado knows ${LATEST_SCHEMA_VERSION}`);
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    } finally {
      await store.close();
    }
  }
}
