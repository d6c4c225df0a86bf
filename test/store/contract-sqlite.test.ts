/** The store contract on SQLite: two store instances on one file, as two processes would have. */
import Database from 'better-sqlite3';
import { SqliteOperationStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../helpers/temp.js';
import { storeContract } from './contract.js';

storeContract({
  name: 'SQLite',
  databaseClock: false,
  async fresh() {
    const dir = tempDir();
    const path = dir.file('contract.db');
    return {
      open: async () => new SqliteOperationStore({ path, retentionMs: 3_600_000, keyedRetentionMs: 86_400_000 }),
      drop: async () => dir.remove(),
      exec: async (sql) => {
        const db = new Database(path);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
    };
  },
});
