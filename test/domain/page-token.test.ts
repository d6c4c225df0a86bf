import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, LongrunError } from '../../src/domain/errors.js';
import {
  MAX_PAGE_TOKEN_LENGTH,
  PageTokenCodec,
  type PageCursor,
  type PageTokenBinding,
} from '../../src/domain/page-token.js';

const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);
const BINDING: PageTokenBinding = { collection: 'projects/p/locations/l', filter: 'done = false', owner: 'alice' };
const CURSOR: PageCursor = { createTime: 1767323045123, name: 'projects/p/locations/l/operations/Zx9_-abcDEF0123456789ab' };
const NOT_ISSUED = 'page_token: is not a token this server issued';
const OTHER_BINDING = /^page_token: was issued for a different name, filter or caller/;

function rejects(decode: () => unknown, message: string | RegExp): void {
  assert.throws(decode, (error: unknown) => {
    assert.ok(error instanceof LongrunError, `expected a LongrunError, got ${String(error)}`);
    assert.equal(error.code, Code.INVALID_ARGUMENT);
    assert.equal(error.reason, 'INVALID_PAGE_TOKEN');
    assert.equal(error.metadata.field, 'page_token');
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

describe('PageTokenCodec', { timeout: 180_000 }, () => {
  const codec = new PageTokenCodec(KEY);
  const token = codec.encode(BINDING, CURSOR);

  it('round-trips the cursor through an opaque base64url token', () => {
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.ok(!token.includes('operations'), 'the name is not readable at a glance');
    assert.deepEqual(codec.decode(token, BINDING), CURSOR);
    assert.equal(codec.encode(BINDING, CURSOR), token, 'deterministic');
    // Another codec with the same key (another server on the same store) reads it.
    assert.deepEqual(new PageTokenCodec(Uint8Array.from(KEY)).decode(token, BINDING), CURSOR);
  });

  it('round-trips edge cases: top-level names, names outside the collection, odd times, unicode', () => {
    const cases: [PageTokenBinding, PageCursor][] = [
      [{ collection: '', filter: '', owner: '*' }, { createTime: 0, name: 'operations/a' }],
      [{ collection: 'projects/p', filter: 'x', owner: 'bob' }, { createTime: -1, name: 'elsewhere/operations/b' }],
      [{ collection: 'projects/p', filter: '', owner: '*' }, { createTime: 1.5, name: 'projects/p' }],
      [{ collection: 'p', filter: 'name = "é*"', owner: 'ü' }, { createTime: Number.MAX_SAFE_INTEGER, name: 'p/operations/é😀' }],
      [{ collection: '', filter: '', owner: '' }, { createTime: 1, name: '' }],
    ];
    for (const [binding, cursor] of cases) {
      assert.deepEqual(codec.decode(codec.encode(binding, cursor), binding), cursor);
    }
  });

  it('keeps tokens short for long parents, so every real cursor fits', () => {
    const parent = Array.from({ length: 42 }, (_, i) => `c${i}/${'x'.repeat(20)}`).join('/').slice(0, 1000);
    const binding = { collection: parent, filter: 'f'.repeat(4096), owner: 'o'.repeat(500) };
    const cursor = { createTime: 1, name: `${parent}/operations/${'i'.repeat(128)}` };
    const long = codec.encode(binding, cursor);
    assert.ok(long.length < 300, `${long.length} characters`);
    assert.deepEqual(codec.decode(long, binding), cursor);
  });

  it('refuses to issue a token it would not accept', () => {
    assert.throws(
      () => codec.encode({ collection: '', filter: '', owner: '*' }, { createTime: 0, name: 'x'.repeat(1000) }),
      (error: unknown) => error instanceof LongrunError && error.code === Code.INTERNAL,
    );
  });

  it('rejects a token with any single character changed', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let tried = 0;
    for (let i = 0; i < token.length; i++) {
      for (const replacement of [alphabet[(alphabet.indexOf(token[i]!) + 1) % 64]!, alphabet[(alphabet.indexOf(token[i]!) + 33) % 64]!, '=', '+', '/', '.']) {
        const changed = token.slice(0, i) + replacement + token.slice(i + 1);
        rejects(() => codec.decode(changed, BINDING), NOT_ISSUED);
        tried++;
      }
    }
    assert.equal(tried, token.length * 6);
  });

  it('rejects truncated, extended and malformed tokens', () => {
    for (let length = 1; length < token.length; length++) {
      rejects(() => codec.decode(token.slice(0, length), BINDING), NOT_ISSUED);
      rejects(() => codec.decode(token.slice(token.length - length), BINDING), NOT_ISSUED);
    }
    for (const bad of ['', 'A', 'not-a-token', `${token}A`, `${token}AA`, `${token}AAAA`, `${token}==`, ` ${token}`, `${token}\n`, 'AAAA'.repeat(20), '😀']) {
      rejects(() => codec.decode(bad, BINDING), NOT_ISSUED);
    }
  });

  it('rejects a genuine token used with another collection, filter or owner, saying so', () => {
    for (const other of [
      { ...BINDING, collection: 'projects/p' },
      { ...BINDING, filter: 'done = true' },
      { ...BINDING, filter: 'done = false ' },
      { ...BINDING, owner: 'bob' },
      { ...BINDING, owner: '*' },
      // Fields are hashed unambiguously: moving characters between them is another binding.
      { collection: BINDING.collection, filter: 'done = fals', owner: 'ealice' },
    ]) {
      rejects(() => codec.decode(token, other), OTHER_BINDING);
    }
  });

  it('rejects tokens signed with another key', () => {
    const otherKey = Uint8Array.from(KEY);
    otherKey[0]! ^= 1;
    const forged = new PageTokenCodec(otherKey).encode(BINDING, CURSOR);
    assert.notEqual(forged, token);
    rejects(() => codec.decode(forged, BINDING), NOT_ISSUED);
  });

  it('copies the key, so later changes to the caller\'s array do not matter', () => {
    const key = Uint8Array.from(KEY);
    const own = new PageTokenCodec(key);
    key.fill(0);
    assert.deepEqual(own.decode(token, BINDING), CURSOR);
  });

  it(`rejects tokens over ${MAX_PAGE_TOKEN_LENGTH} characters before decoding them`, () => {
    rejects(
      () => codec.decode('A'.repeat(MAX_PAGE_TOKEN_LENGTH + 1), BINDING),
      `page_token: is ${MAX_PAGE_TOKEN_LENGTH + 1} characters long; no token this server issues is over ${MAX_PAGE_TOKEN_LENGTH} (MAX_PAGE_TOKEN_LENGTH)`,
    );
    rejects(() => codec.decode('%'.repeat(10 * MAX_PAGE_TOKEN_LENGTH), BINDING), /over 1024/);
    rejects(() => codec.decode('A'.repeat(MAX_PAGE_TOKEN_LENGTH), BINDING), NOT_ISSUED);
  });

  it('refuses keys shorter than 16 bytes', () => {
    assert.throws(() => new PageTokenCodec(new Uint8Array(15)), (error: unknown) => error instanceof LongrunError && error.code === Code.INTERNAL);
    assert.ok(new PageTokenCodec(new Uint8Array(16)));
  });
});
