/**
 * Who is calling, from what the transport carries: a bearer token (the `authorization` request
 * header) or the subject of a client certificate that the TLS handshake verified. Transport-free:
 * the gRPC layer extracts the credentials and hands them here.
 */
import { unauthenticated } from '../domain/errors.js';
import type { Caller } from '../operations/service.js';
import type { TokenTable } from './tokens.js';

export interface AuthOptions {
  /** Bearer tokens and their principals (see TokenTable; `TokenTable.load(path)` reads a token file). */
  tokens?: TokenTable;
  /**
   * Accept the verified client certificate's subject common name (CN) as the principal (default:
   * false). Needs a TLS server with a client CA (`listen(..., { tls: { clientCa } })`).
   */
  clientCertificates?: boolean;
  /** Principals that see and manage every principal's operations (default: none). */
  admins?: readonly string[];
}

/** What one call presented. */
export interface PresentedCredentials {
  /** The `authorization` header, if any. */
  authorization?: string | undefined;
  /** Reads the verified client certificate's subject CN (undefined without one); called only if needed. */
  certificateSubject?: () => string | string[] | undefined;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export class Authenticator {
  private readonly admins: ReadonlySet<string>;

  constructor(private readonly options: AuthOptions) {
    this.admins = new Set(options.admins ?? []);
  }

  /**
   * A bearer token, when one is sent and tokens are configured, decides (an unknown one is refused
   * even with a valid certificate); otherwise the client certificate. UNAUTHENTICATED when neither
   * names a principal. Without tokens an `authorization` header is not ours (e.g. a Google client
   * library's own credentials) and is ignored.
   */
  authenticate(presented: PresentedCredentials): Caller {
    if (presented.authorization !== undefined && this.options.tokens !== undefined) {
      const match = BEARER.exec(presented.authorization);
      if (match === null) throw unauthenticated('authorization: expected "Bearer <token>"', 'CREDENTIALS_INVALID');
      const principal = this.options.tokens.principalOf(match[1]!);
      if (principal === undefined) throw unauthenticated('authorization: the bearer token is not valid for this server', 'CREDENTIALS_INVALID');
      return this.callerOf(principal);
    }
    if (this.options.clientCertificates) {
      const subject = presented.certificateSubject?.();
      // '*' is how page tokens name "every owner"; no principal may be called that.
      if (typeof subject === 'string' && subject !== '' && subject !== '*') return this.callerOf(subject);
      if (subject !== undefined) {
        throw unauthenticated('the client certificate must have exactly one subject common name (CN), other than "*"', 'CREDENTIALS_INVALID');
      }
    }
    throw unauthenticated(this.missing(), 'CREDENTIALS_MISSING');
  }

  private callerOf(principal: string): Caller {
    return this.admins.has(principal) ? { principal, admin: true } : { principal };
  }

  private missing(): string {
    const ways = [
      ...(this.options.tokens !== undefined ? ['an "authorization: Bearer <token>" header'] : []),
      ...(this.options.clientCertificates ? ['a client certificate'] : []),
    ];
    return `this server requires ${ways.join(' or ') || 'credentials'}`;
  }
}
