/** A change-feed subscriber that throws is reported, never swallowed; the others still hear the change. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { StoreChange } from '../../src/store/types.js';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { SqliteOperationStore } from '../../src/store/sqlite/store.js';
import type { OperationStore } from '../../src/store/types.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

after(() => stopTestPostgres());

const retention = { retentionMs: 3_600_000, keyedRetentionMs: 86_400_000 };
type Reported = { error: unknown; change: StoreChange };

async function check(open: (onSubscriberError: (error: unknown, change: StoreChange) => void) => Promise<OperationStore>) {
  const reported: Reported[] = [];
  const store = await open((error, change) => reported.push({ error, change }));
  try {
    const heard: StoreChange[] = [];
    store.changes.subscribe(() => {
      throw new Error('a subscriber bug');
    });
    store.changes.subscribe((change) => heard.push(change));
    const { created } = await store.create({
      name: 'operations/feed-errors',
      parent: '',
      method: '/m',
      owner: 'o',
      request: { typeUrl: 'type.googleapis.com/x', value: new Uint8Array() },
      maxAttempts: 1,
      createTime: Date.now(),
    });
    assert.equal(created, true, 'the write that woke the subscriber is not failed by it');
    assert.ok(heard.some((change) => change.kind === 'available'), 'the other subscriber still heard it');
    assert.ok(reported.length >= 1, 'the bug was reported');
    assert.equal((reported[0]!.error as Error).message, 'a subscriber bug');
    assert.equal(reported[0]!.change.kind, 'available');
  } finally {
    await store.close();
  }
}

describe('change-feed subscribers that throw', { timeout: 120_000 }, () => {
  it('SQLite', async () => {
    const dir = tempDir();
    try {
      await check(async (onSubscriberError) => new SqliteOperationStore({ path: dir.file('feed.db'), ...retention, onSubscriberError }));
    } finally {
      dir.remove();
    }
  });

  it('PostgreSQL', async () => {
    const database = await (await testPostgres()).freshDatabase();
    try {
      await check((onSubscriberError) => PostgresOperationStore.open({ url: database.url, ...retention, onSubscriberError }));
    } finally {
      await database.drop();
    }
  });
});
