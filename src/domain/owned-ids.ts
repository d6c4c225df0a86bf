/**
 * Operation ids that carry their owner, so that whether a name is the caller's can be decided from
 * the name alone, before the store is asked whether it exists (AIP-211: permission is checked
 * before existence, so a caller cannot probe which names exist).
 *
 * An id is 20 bytes, base64url (27 characters): 16 bytes of which the first 6 encode the creation
 * time and the other 10 are random (80 bits, as a ULID's, so ids stay unguessable on their own),
 * then the first 4 bytes of HMAC-SHA256(key, owner NUL those 16). The key is derived from the
 * store's signing key, so every server on the store agrees and ids outlive restarts. Only the
 * server can make a tag; a made-up name carries another principal's tag (or none) and is refused
 * like someone else's operation.
 *
 * The time comes first, written in base64url's characters in their ASCII order, so that names sort
 * by creation (to the millisecond) as text: each new name lands at the right edge of every index
 * on `name` instead of at a random place in it. With random names a batch of creations dirtied
 * pages all over the name index, and a completion looked its rows up all over it; in the SQLite
 * store that was a third of the cost of a creation and of a completion. Ids made before, all 16
 * bytes random, verify the same way.
 */
import { createHmac, createSecretKey, hkdfSync, randomFillSync, timingSafeEqual, type KeyObject } from 'node:crypto';

const TIME_BYTES = 6;
const RANDOM_BYTES = 10;
/** What the tag covers: the time and the random bytes. */
const TAGGED_BYTES = TIME_BYTES + RANDOM_BYTES;
const TAG_BYTES = 4;
/** base64url's alphabet in ASCII order: digits of a number written in it sort as the number does. */
const SORTED_BASE64URL = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
/** Characters of the time: 6 bytes are 8 base64url characters exactly. */
const TIME_CHARS = (TIME_BYTES * 4) / 3;
/**
 * Added to the time so that ids start with a letter (SORTED_BASE64URL[11] is `A`), not `-`, which
 * a command line would take for an option; 8 digits still hold it until about the year 9000.
 */
const TIME_OFFSET = 11 * 64 ** 7;
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
  /** The time bytes of the last millisecond an id was made in (ids come by the thousand per second). */
  private timeMs = -1;
  private readonly timeBytes = Buffer.alloc(TIME_BYTES);

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
    const id = Buffer.allocUnsafe(TAGGED_BYTES + TAG_BYTES);
    this.time(Date.now()).copy(id, 0);
    this.pool.copy(id, TIME_BYTES, this.poolOffset, (this.poolOffset += RANDOM_BYTES));
    this.tag(owner, id.subarray(0, TAGGED_BYTES)).copy(id, TAGGED_BYTES);
    return id.toString('base64url');
  }

  /** The bytes whose base64url form is `ms` (plus TIME_OFFSET) written in SORTED_BASE64URL, TIME_CHARS digits. */
  private time(ms: number): Buffer {
    if (ms !== this.timeMs) {
      let digits = '';
      for (let rest = ms + TIME_OFFSET, i = 0; i < TIME_CHARS; i++, rest = Math.floor(rest / 64)) digits = SORTED_BASE64URL[rest % 64] + digits;
      Buffer.from(digits, 'base64url').copy(this.timeBytes);
      this.timeMs = ms;
    }
    return this.timeBytes;
  }

  /** Whether `id` was made by this store's servers for `owner` (constant time in the tag). */
  isOwnedBy(id: string, owner: string): boolean {
    if (id.length !== ID_LENGTH) return false;
    // Only pairs that verified are remembered, keyed by owner too: a hit tells a caller nothing
    // about anyone else's names.
    const pair = `${owner}\0${id}`;
    if (this.verified.has(pair)) return true;
    const bytes = Buffer.from(id, 'base64url');
    if (bytes.length !== TAGGED_BYTES + TAG_BYTES) return false;
    if (!timingSafeEqual(this.tag(owner, bytes.subarray(0, TAGGED_BYTES)), bytes.subarray(TAGGED_BYTES))) return false;
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    this.verified.add(pair);
    return true;
  }

  private tag(owner: string, tagged: Uint8Array): Buffer {
    return createHmac('sha256', this.key).update(owner).update('\0').update(tagged).digest().subarray(0, TAG_BYTES);
  }
}
