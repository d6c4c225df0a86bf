/** Operation ids: unique across refills of the random pool, owned by their owner only. */
import assert from 'node:assert/strict';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { OwnedIds } from '../../src/domain/owned-ids.js';

describe('OwnedIds', { timeout: 30_000 }, () => {
  const ids = new OwnedIds(Buffer.alloc(32, 7));

  it('makes distinct 27-character ids, past several refills of its random pool', () => {
    // The pool holds 256 ids' worth of random bytes: 2,000 ids span about eight refills.
    const made = Array.from({ length: 2000 }, (_, i) => ids.newId(`owner-${i % 3}`));
    assert.equal(new Set(made).size, made.length);
    // A letter first: an id alone on a command line is not taken for an option.
    for (const id of made) assert.match(id, /^[A-Za-z][A-Za-z0-9_-]{26}$/);
    // The random parts differ too, not only the tags.
    assert.equal(new Set(made.map((id) => Buffer.from(id, 'base64url').subarray(6, 16).toString('hex'))).size, made.length);
  });

  it('makes ids that sort by the millisecond they were made in, as text', async (t) => {
    const first = ids.newId('alice');
    const start = Date.now();
    // The next millisecond, waited for by the clock itself (no timer is that fine).
    while (Date.now() === start) await new Promise((resolve) => setImmediate(resolve));
    const later = Array.from({ length: 50 }, () => ids.newId('alice'));
    for (const id of later) assert.ok(id > first, `${id} sorts after ${first}`);
    // The first eight characters are the millisecond, digits of base64url's alphabet in ASCII order
    // (offset so that the first is a letter).
    const before = Date.now();
    const id = ids.newId('alice');
    const after = Date.now();
    const digits = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
    const written = [...id.slice(0, 8)].reduce((value, char) => value * 64 + digits.indexOf(char), 0) - 11 * 64 ** 7;
    assert.ok(written >= before && written <= after, `${id} holds ${written}, made between ${before} and ${after}`);
    t.diagnostic(`${new Set(later.map((made) => made.slice(0, 8))).size} milliseconds among 50 ids`);
  });

  it('still verifies an id of the earlier form: 16 random bytes, then the tag', () => {
    // The tag's key as OwnedIds derives it from the store's signing key.
    const key = Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 7), Buffer.alloc(0), 'longrun operation id owner tag v1', 32));
    const random = randomBytes(16);
    const tag = createHmac('sha256', key).update('alice').update('\0').update(random).digest().subarray(0, 4);
    const id = Buffer.concat([random, tag]).toString('base64url');
    assert.equal(ids.isOwnedBy(id, 'alice'), true);
    assert.equal(ids.isOwnedBy(id, 'bob'), false);
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
