/** kill -9 of a real `longrun serve --enable-vision` in the middle of a document, then a restart. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BUNDLED_PROTO_FILES, OperationsClient } from '../../src/index.js';
import { VISION_PROTO_FILES } from '../../src/vision/index.js';
import { spawnServer } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';
import { ASYNC_BATCH_ANNOTATE_FILES, fileRequest, makeNumberedPdf } from './fixtures.js';

describe('Vision across a crash', { timeout: 180_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('reruns a document interrupted by kill -9 and completes it, every shard written once and whole', async () => {
    const storage = join(dir.path, 'storage');
    mkdirSync(join(storage, 'crash'), { recursive: true });
    writeFileSync(join(storage, 'crash', 'long.pdf'), await makeNumberedPdf(400));
    const args = ['--enable-vision', '--storage-root', storage, '--lease', '1s', '--poll', '100ms'];
    const db = dir.file('vision.db');

    const first = await spawnServer(db, args);
    const caller = new GenericCaller(first.address, [...BUNDLED_PROTO_FILES, ...VISION_PROTO_FILES]);
    const { name } = await caller.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, {
      requests: [fileRequest('gs://crash/long.pdf', 'gs://crash/out/', { batchSize: 10 })],
    });
    caller.close();
    const out = join(storage, 'crash', 'out');
    await eventually(() => existsSync(out) && readdirSync(out).length >= 2, `two result shards in ${out} before the crash`, 30_000);
    assert.equal(await first.stop('SIGKILL'), 'SIGKILL');
    const before = readdirSync(out).filter((f) => f.endsWith('.json')).length;
    assert.ok(before < 40, `the crash came mid-document (${before} of 40 shards)`);

    const second = await spawnServer(db, args);
    const client = new OperationsClient(second.address);
    try {
      const { operation } = await client.wait(name, 60_000);
      assert.equal(operation.done, true);
      assert.equal(operation.error ?? undefined, undefined, JSON.stringify(operation.error));
      // (A kill -9 in the middle of a write can leave a hidden .tmp file; never a partial shard.)
      const shards = readdirSync(out).filter((f) => !f.startsWith('.'));
      assert.equal(shards.length, 40);
      for (const shard of shards) JSON.parse(readFileSync(join(out, shard), 'utf8'));
      const last = JSON.parse(readFileSync(join(out, 'output-391-to-400.json'), 'utf8')) as { responses: { context: { pageNumber: number } }[] };
      assert.deepEqual(last.responses.map((r) => r.context.pageNumber), Array.from({ length: 10 }, (_, i) => 391 + i));
    } finally {
      client.close();
      await second.stop();
    }
  });
});
