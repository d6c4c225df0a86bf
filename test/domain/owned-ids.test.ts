/** Operation ids: unique across refills of the random pool, owned by their owner only. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OwnedIds } from '../../src/domain/owned-ids.js';

describe('OwnedIds', { timeout: 30_000 }, () => {
  const ids = new OwnedIds(Buffer.alloc(32, 7));

  it('makes distinct 27-character ids, past several refills of its random pool', () => {
    // The pool holds 256 ids' worth of random bytes: 2,000 ids span about eight refills.
    const made = Array.from({ length: 2000 }, (_, i) => ids.newId(`owner-${i % 3}`));
    assert.equal(new Set(made).size, made.length);
    for (const id of made) assert.match(id, /^[A-Za-z0-9_-]{27}$/);
    // The random parts differ too, not only the tags.
    assert.equal(new Set(made.map((id) => Buffer.from(id, 'base64url').subarray(0, 16).toString('hex'))).size, made.length);
  });

  it('verifies an id for its owner and refuses it for anyone else', () => {
    for (let i = 0; i < 600; i++) {
      const id = ids.newId('alice');
      assert.equal(ids.isOwnedBy(id, 'alice'), true);
      assert.equal(ids.isOwnedBy(id, 'bob'), false);
    }
    // Another server on the same store (same key) agrees; one with another key does not.
    const id = ids.newId('alice');
    assert.equal(new OwnedIds(Buffer.alloc(32, 7)).isOwnedBy(id, 'alice'), true);
    assert.equal(new OwnedIds(Buffer.alloc(32, 8)).isOwnedBy(id, 'alice'), false);
  });
});
