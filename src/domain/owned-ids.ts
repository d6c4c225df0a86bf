/**
 * Operation ids that carry their owner, so that whether a name is the caller's can be decided from
 * the name alone, before the store is asked whether it exists (AIP-211: permission is checked
 * before existence, so a caller cannot probe which names exist).
 *
 * An id is 20 bytes, base64url (27 characters): 16 random bytes (128 bits, so ids stay unguessable
 * on their own), then the first 4 bytes of HMAC-SHA256(key, owner NUL random). The key is derived from the store's signing key, so every
 * server on the store agrees and ids outlive restarts. Only the server can make a tag; a made-up
 * name carries another principal's tag (or none) and is refused like someone else's operation.
 */
import { createHmac, createSecretKey, hkdfSync, randomFillSync, timingSafeEqual, type KeyObject } from 'node:crypto';

const RANDOM_BYTES = 16;
const TAG_BYTES = 4;
const ID_LENGTH = 27;
/** Recently verified (owner, id) pairs, so that polling one operation does not pay an HMAC per call. */
const VERIFIED_MAX = 10_000;
/** Random bytes are drawn this many ids at a time: one call into OpenSSL per id cost more than the id. */
const POOL_IDS = 256;

export class OwnedIds {
  private readonly key: KeyObject;
  private readonly verified = new Set<string>();
  /** Each id takes the next RANDOM_BYTES of the pool (never reused); refilled when used up. */
  private readonly pool = Buffer.alloc(POOL_IDS * RANDOM_BYTES);
  private poolOffset = this.pool.length;

  /** `secret`: the store's signing key (a separate key is derived from it for this use). */
  constructor(secret: Uint8Array) {
    this.key = createSecretKey(Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'longrun operation id owner tag v1', 32)));
  }

  /** A fresh id owned by `owner`. */
  newId(owner: string): string {
    if (this.poolOffset === this.pool.length) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    const id = Buffer.allocUnsafe(RANDOM_BYTES + TAG_BYTES);
    this.pool.copy(id, 0, this.poolOffset, (this.poolOffset += RANDOM_BYTES));
    const random = id.subarray(0, RANDOM_BYTES);
    this.tag(owner, random).copy(id, RANDOM_BYTES);
    return id.toString('base64url');
  }

  /** Whether `id` was made by this store's servers for `owner` (constant time in the tag). */
  isOwnedBy(id: string, owner: string): boolean {
    if (id.length !== ID_LENGTH) return false;
    // Only pairs that verified are remembered, keyed by owner too: a hit tells a caller nothing
    // about anyone else's names.
    const pair = `${owner}\0${id}`;
    if (this.verified.has(pair)) return true;
    const bytes = Buffer.from(id, 'base64url');
    if (bytes.length !== RANDOM_BYTES + TAG_BYTES) return false;
    if (!timingSafeEqual(this.tag(owner, bytes.subarray(0, RANDOM_BYTES)), bytes.subarray(RANDOM_BYTES))) return false;
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    this.verified.add(pair);
    return true;
  }

  private tag(owner: string, random: Uint8Array): Buffer {
    return createHmac('sha256', this.key).update(owner).update('\0').update(random).digest().subarray(0, TAG_BYTES);
  }
}
