/**
 * ListOperations page tokens: opaque to clients, signed so they cannot be forged or altered, and
 * bound to the collection, filter and caller they were issued for.
 *
 * Layout, then base64url (no padding):
 *   version (1) | cursor createTime (float64 BE, 8) | binding hash (16) | flags (1) | cursor name | MAC (16)
 * The MAC is HMAC-SHA256 over everything before it, truncated to 16 bytes. The binding is hashed
 * into the token rather than only into the MAC so that a genuine token reused with another
 * name/filter gets its own, actionable error. When the cursor name starts with the collection
 * (it always does for a listing), only the rest is stored (flag bit 0), which keeps tokens short
 * for long parents: the binding check guarantees the decoder knows the collection.
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { Code, LongrunError, invalidArgument } from './errors.js';

export interface PageCursor {
  createTime: number;
  name: string;
}

export interface PageTokenBinding {
  /** The listed collection (parent), as parsed from ListOperations.name. */
  collection: string;
  /** ListOperations.filter exactly as given. */
  filter: string;
  /** '*' when listing every owner's operations. */
  owner: string;
}

/** Longest page_token accepted; checked before anything is decoded. */
export const MAX_PAGE_TOKEN_LENGTH = 1024;
/** Shortest signing key accepted, in bytes. */
export const MIN_PAGE_TOKEN_KEY_BYTES = 16;

const VERSION = 1;
const HASH_BYTES = 16;
const MAC_BYTES = 16;
const TIME_OFFSET = 1;
const HASH_OFFSET = TIME_OFFSET + 8;
const FLAGS_OFFSET = HASH_OFFSET + HASH_BYTES;
const NAME_OFFSET = FLAGS_OFFSET + 1;
const FLAG_NAME_IN_COLLECTION = 1;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class PageTokenCodec {
  private readonly key: KeyObject;

  /** `key`: a secret shared by every server on the store (copied; at least 16 bytes). */
  constructor(key: Uint8Array) {
    if (key.length < MIN_PAGE_TOKEN_KEY_BYTES) {
      throw new LongrunError(
        Code.INTERNAL,
        `page token key is ${key.length} bytes; at least ${MIN_PAGE_TOKEN_KEY_BYTES} are needed`,
        'INTERNAL',
      );
    }
    this.key = createSecretKey(Buffer.from(key));
  }

  encode(binding: PageTokenBinding, cursor: PageCursor): string {
    const inCollection = cursor.name.startsWith(binding.collection);
    const name = Buffer.from(inCollection ? cursor.name.slice(binding.collection.length) : cursor.name, 'utf8');
    const body = Buffer.alloc(NAME_OFFSET + name.length);
    body.writeUInt8(VERSION, 0);
    body.writeDoubleBE(cursor.createTime, TIME_OFFSET);
    bindingHash(binding).copy(body, HASH_OFFSET);
    body.writeUInt8(inCollection ? FLAG_NAME_IN_COLLECTION : 0, FLAGS_OFFSET);
    name.copy(body, NAME_OFFSET);
    const token = Buffer.concat([body, this.mac(body)]).toString('base64url');
    if (token.length > MAX_PAGE_TOKEN_LENGTH) {
      // Unreachable for real operation names (ids are at most 128 characters); never issue a
      // token that decode() would refuse.
      throw new LongrunError(
        Code.INTERNAL,
        `page token would be ${token.length} characters, over ${MAX_PAGE_TOKEN_LENGTH}`,
        'INTERNAL',
      );
    }
    return token;
  }

  /** The cursor `token` carries; INVALID_ARGUMENT INVALID_PAGE_TOKEN unless this server issued it for `binding`. */
  decode(token: string, binding: PageTokenBinding): PageCursor {
    if (token.length > MAX_PAGE_TOKEN_LENGTH) {
      throw invalid(`is ${token.length} characters long; no token this server issues is over ${MAX_PAGE_TOKEN_LENGTH} (MAX_PAGE_TOKEN_LENGTH)`);
    }
    if (!BASE64URL.test(token)) throw notIssued();
    const bytes = Buffer.from(token, 'base64url');
    // Re-encoding must give the token back: rejects non-canonical trailing bits, so every
    // changed character is a changed token.
    if (bytes.length < NAME_OFFSET + MAC_BYTES || bytes.toString('base64url') !== token) throw notIssued();
    const body = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (!timingSafeEqual(this.mac(body), bytes.subarray(bytes.length - MAC_BYTES))) throw notIssued();
    const flags = body.readUInt8(FLAGS_OFFSET);
    if (body.readUInt8(0) !== VERSION || (flags & ~FLAG_NAME_IN_COLLECTION) !== 0) throw notIssued();
    if (!bindingHash(binding).equals(body.subarray(HASH_OFFSET, FLAGS_OFFSET))) {
      throw invalid('was issued for a different name, filter or caller; list again without a page_token');
    }
    const name = body.subarray(NAME_OFFSET).toString('utf8');
    return {
      createTime: body.readDoubleBE(TIME_OFFSET),
      name: flags & FLAG_NAME_IN_COLLECTION ? binding.collection + name : name,
    };
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
  }
}

function bindingHash(binding: PageTokenBinding): Buffer {
  return createHash('sha256')
    .update(JSON.stringify([binding.collection, binding.filter, binding.owner]))
    .digest()
    .subarray(0, HASH_BYTES);
}

function notIssued(): LongrunError {
  return invalid('is not a token this server issued');
}

function invalid(why: string): LongrunError {
  return invalidArgument('page_token', why, 'INVALID_PAGE_TOKEN');
}
