/**
 * Bearer tokens and the principals they stand for, read from a token file. The file holds only
 * SHA-256 hashes, so reading it does not reveal a token.
 *
 * Token file: one entry per line, `<sha256 of the token, 64 hex digits> <principal>`, separated by
 * spaces or tabs; blank lines and lines starting with `#` are ignored. `longrun hash-token` prints
 * such a line. A principal is 1-256 printable characters without spaces, other than `*`.
 */
import { hash } from 'node:crypto';
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

export class TokenTable {
  /** Principals by the hex SHA-256 of their token. */
  private constructor(private readonly principals: ReadonlyMap<string, string>) {}

  /** Parses a token file's text; `source` names it in errors (which never quote a hash). */
  static parse(text: string, source = 'token file'): TokenTable {
    const principals = new Map<string, string>();
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
      if (principals.has(key)) throw new ConfigError(`${where}: this token hash is already listed`);
      principals.set(key, principal);
    });
    return new TokenTable(principals);
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
    return this.principals.size;
  }

  /**
   * The principal of `token`, or undefined. The lookup is by the token's hash, so its timing can
   * tell an attacker at most how much of a stored hash their guess's hash shares, which does not
   * bring them closer to a token (as with password hashes); no comparison ever sees the token.
   */
  principalOf(token: string): string | undefined {
    return this.principals.get(hashToken(token));
  }
}
