import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION, openStore, parseStoreUrl } from '../../src/core/store/index.js';
import { createThrowawayDatabase } from '../helpers/mariadb.js';

describe('store URLs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kurado-open-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads mysql:// URLs with percent-encoded credentials and a pool size', () => {
    expect(parseStoreUrl('mysql://kurado:p%40ss@db.example:3307/metrics?connectionLimit=4')).toEqual({
      kind: 'mysql',
      target: {
        host: 'db.example',
        port: 3307,
        user: 'kurado',
        password: 'p@ss',
        database: 'metrics',
        connectionLimit: 4,
      },
    });
    expect(parseStoreUrl('mariadb://root@127.0.0.1/kurado')).toMatchObject({
      target: { port: 3306, user: 'root' },
    });
  });

  it('reads sqlite: paths in their usual spellings', () => {
    expect(parseStoreUrl('sqlite:/var/lib/kurado/kurado.db')).toEqual({
      kind: 'sqlite',
      file: '/var/lib/kurado/kurado.db',
    });
    expect(parseStoreUrl('sqlite:///var/lib/kurado/kurado.db')).toEqual({
      kind: 'sqlite',
      file: '/var/lib/kurado/kurado.db',
    });
    expect(parseStoreUrl('sqlite:data/kurado.db')).toEqual({ kind: 'sqlite', file: 'data/kurado.db' });
  });

  it('refuses anything else, naming the URL without its password', () => {
    expect(() => parseStoreUrl('postgres://u:hunter2@h/db')).toThrow(
      'unsupported store URL "postgres://u:***@h/db"; use mysql://user:pass@host:port/database or sqlite:/path/kurado.db',
    );
    expect(() => parseStoreUrl('/var/lib/kurado/kurado.db')).toThrow(/unsupported store URL/);
    expect(() => parseStoreUrl('mysql://u:hunter2@127.0.0.1:3306')).toThrow(/must name one database/);
    expect(() => parseStoreUrl('mysql://u:hunter2@127.0.0.1:3306')).not.toThrow(/hunter2/);
    expect(() => parseStoreUrl('mysql://u@h/db?ssl=1')).toThrow(/unknown parameter "ssl"/);
    expect(() => parseStoreUrl('sqlite:')).toThrow(/names no file/);
  });

  it('creates the directory of a SQLite file and its schema', async () => {
    const file = path.join(dir, 'a', 'b', 'kurado.db');
    const store = await openStore(`sqlite:${file}`);
    expect(existsSync(file)).toBe(true);
    expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    await store.close();
  });

  it('says which MySQL is unreachable, without the password', async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const attempt = openStore('mysql://kurado:hunter2@127.0.0.1:1/kurado');
    await expect(attempt).rejects.toThrow(/^MySQL at 127\.0\.0\.1:1 unreachable: /);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
  });

  it('says when the MySQL database does not exist', async () => {
    await expect(openStore('mysql://root@127.0.0.1:3306/kurado_test_does_not_exist')).rejects.toThrow(
      'database "kurado_test_does_not_exist" does not exist',
    );
  });

  it('with schema "check", asks for `kurado db migrate` on an empty MySQL database', async () => {
    const database = await createThrowawayDatabase();
    try {
      await expect(openStore(database.url, { schema: 'check' })).rejects.toThrow(
        `has schema version 0, this Kurado needs ${LATEST_SCHEMA_VERSION}: run \`kurado db migrate\``,
      );
      const store = await openStore(database.url, { schema: 'migrate' });
      await store.close();
      const checked = await openStore(database.url, { schema: 'check' });
      expect(await checked.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
      await checked.close();
    } finally {
      await database.drop();
    }
  });
});
