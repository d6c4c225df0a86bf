/**
 * Bearer tokens and the principals they stand for, read from a token file. The file holds only
 * SHA-256 hashes, so reading it does not reveal a token.
 *
 * Token file: one entry per line, `<sha256 of the token, 64 hex digits> <principal>`, separated by
 * spaces or tabs; blank lines and lines starting with `#` are ignored. `longrun hash-token` prints
 * such a line. A principal is 1-256 printable characters without spaces, other than `*`.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';

const HASH = /^[0-9a-f]{64}$/i;
const PRINCIPAL = /^[\x21-\x7e\u00a0-\uffff]{1,256}$/;

/** SHA-256 of a token, as hex: what the token file stores. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Whether `principal` may own operations (also used for certificate subjects and admin lists). */
export function isValidPrincipal(principal: string): boolean {
  return principal !== '*' && PRINCIPAL.test(principal);
}

interface Entry {
  hash: Buffer;
  principal: string;
}

export class TokenTable {
  private constructor(private readonly entries: readonly Entry[]) {}

  /** Parses a token file's text; `source` names it in errors (which never quote a hash). */
  static parse(text: string, source = 'token file'): TokenTable {
    const entries: Entry[] = [];
    const seen = new Set<string>();
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${source}, line ${index + 1}`;
      const [hash, principal, ...rest] = line.split(/[ \t]+/);
      if (!HASH.test(hash!)) throw new ConfigError(`${where}: the first column must be the SHA-256 of a token in hex (64 digits; see longrun hash-token)`);
      if (principal === undefined || !isValidPrincipal(principal)) {
        throw new ConfigError(`${where}: the second column must be a principal (1-256 printable characters, no spaces, not "*")`);
      }
      if (rest.length > 0) throw new ConfigError(`${where}: expected two columns, hash and principal`);
      const key = hash!.toLowerCase();
      if (seen.has(key)) throw new ConfigError(`${where}: this token hash is already listed`);
      seen.add(key);
      entries.push({ hash: Buffer.from(key, 'hex'), principal });
    });
    return new TokenTable(entries);
  }

  static load(path: string): TokenTable {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`token file ${path}: ${(error as Error).message}`);
    }
    return TokenTable.parse(text, `token file ${path}`);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal of `token`, or undefined. Every entry is compared, in constant time each. */
  principalOf(token: string): string | undefined {
    // One-shot hash: no Hash object per call (this runs on every authenticated RPC).
    const presented = hash('sha256', token, 'buffer');
    let found: string | undefined;
    for (const entry of this.entries) {
      // No early exit: the time taken does not depend on which entry (if any) matches.
      if (timingSafeEqual(entry.hash, presented)) found = entry.principal;
    }
    return found;
  }
}
