/**
 * ListOperations page tokens: opaque to clients, signed so they cannot be forged or altered, and
 * bound to the collection, filter and caller they were issued for.
 * Layout (base64url): version (1 byte) | createTime (8 bytes) | binding hash (16) | name | MAC (16).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { invalidArgument, type LongrunError } from './errors.js';

export interface PageCursor {
  createTime: number;
  name: string;
}

export interface PageTokenBinding {
  collection: string;
  filter: string;
  /** '*' when listing every owner's operations. */
  owner: string;
}

export const MAX_PAGE_TOKEN_LENGTH = 1024;
const VERSION = 1;
const HASH_BYTES = 16;
const MAC_BYTES = 16;
const HEADER_BYTES = 1 + 8 + HASH_BYTES;

export class PageTokenCodec {
  constructor(private readonly key: Uint8Array) {}

  encode(binding: PageTokenBinding, cursor: PageCursor): string {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(VERSION, 0);
    header.writeDoubleBE(cursor.createTime, 1);
    bindingHash(binding).copy(header, 9);
    const body = Buffer.concat([header, Buffer.from(cursor.name, 'utf8')]);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  decode(token: string, binding: PageTokenBinding): PageCursor {
    if (token.length > MAX_PAGE_TOKEN_LENGTH) throw invalid(`is longer than ${MAX_PAGE_TOKEN_LENGTH} characters`);
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid('is not a token this server issued');
    const bytes = Buffer.from(token, 'base64url');
    if (bytes.length < HEADER_BYTES + MAC_BYTES || bytes.toString('base64url') !== token) {
      throw invalid('is not a token this server issued');
    }
    const body = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (!timingSafeEqual(this.mac(body), bytes.subarray(bytes.length - MAC_BYTES)) || body.readUInt8(0) !== VERSION) {
      throw invalid('is not a token this server issued');
    }
    if (!bindingHash(binding).equals(body.subarray(9, HEADER_BYTES))) {
      throw invalid('was issued for a different name or filter; start again without a page_token');
    }
    return { createTime: body.readDoubleBE(1), name: body.subarray(HEADER_BYTES).toString('utf8') };
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

function invalid(why: string): LongrunError {
  return invalidArgument('page_token', why, 'INVALID_PAGE_TOKEN');
}
