import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Authenticator, Code, hashToken, LongrunError, TokenTable } from '../../src/index.js';
import { ConfigError } from '../../src/config.js';

const tokens = TokenTable.parse(`${hashToken('t-alice')} alice\r\n${hashToken('t-ops').toUpperCase()}\tops\r\n`);

function refused(run: () => unknown, reason: string): void {
  assert.throws(run, (error: LongrunError) => {
    assert.equal(error.code, Code.UNAUTHENTICATED);
    assert.equal(error.reason, reason);
    return true;
  });
}

describe('TokenTable', { timeout: 180_000 }, () => {
  it('maps tokens to principals (hex in any case, CRLF, tabs) and knows no other token', () => {
    assert.equal(tokens.size, 2);
    assert.equal(tokens.principalOf('t-alice'), 'alice');
    assert.equal(tokens.principalOf('t-ops'), 'ops');
    assert.equal(tokens.principalOf('t-alic'), undefined);
    assert.equal(tokens.principalOf(''), undefined);
  });

  it('refuses malformed files naming the line, never quoting a hash', () => {
    const h = hashToken('x');
    for (const [text, why] of [
      [`${h}`, /line 1: the second column must be a principal/],
      [`${h} *`, /line 1: the second column/],
      [`# c\n${h} a b`, /line 2: expected two columns/],
      [`${h} a\n${h.toUpperCase()} b`, /line 2: this token hash is already listed/],
      [`${h.slice(1)} a`, /line 1: the first column must be the SHA-256/],
    ] as const) {
      assert.throws(() => TokenTable.parse(text), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, why);
        assert.doesNotMatch(error.message, new RegExp(h.slice(0, 16), 'i'));
        return true;
      });
    }
  });
});

describe('Authenticator', { timeout: 180_000 }, () => {
  it('takes a bearer token first, then the client certificate; admins are marked', () => {
    const auth = new Authenticator({ tokens, clientCertificates: true, admins: ['ops'] });
    assert.deepEqual(auth.authenticate({ authorization: 'Bearer t-alice', certificateSubject: () => 'bob' }), { principal: 'alice' });
    assert.deepEqual(auth.authenticate({ certificateSubject: () => 'bob' }), { principal: 'bob' });
    assert.deepEqual(auth.authenticate({ authorization: 'BEARER  t-ops ' }), { principal: 'ops', admin: true });
    refused(() => auth.authenticate({ authorization: 'Bearer nope', certificateSubject: () => 'bob' }), 'CREDENTIALS_INVALID');
  });

  it('refuses certificates without exactly one CN, or with the CN "*"', () => {
    const auth = new Authenticator({ clientCertificates: true });
    refused(() => auth.authenticate({ certificateSubject: () => ['a', 'b'] }), 'CREDENTIALS_INVALID');
    refused(() => auth.authenticate({ certificateSubject: () => '*' }), 'CREDENTIALS_INVALID');
    refused(() => auth.authenticate({ certificateSubject: () => '' }), 'CREDENTIALS_INVALID');
    refused(() => auth.authenticate({ certificateSubject: () => undefined }), 'CREDENTIALS_MISSING');
  });

  it('ignores an authorization header when no tokens are configured (a client library’s own credentials)', () => {
    const auth = new Authenticator({ clientCertificates: true });
    assert.deepEqual(auth.authenticate({ authorization: 'Bearer ya29.google', certificateSubject: () => 'carol' }), { principal: 'carol' });
    refused(() => auth.authenticate({ authorization: 'Bearer ya29.google' }), 'CREDENTIALS_MISSING');
  });

  it('does not read the certificate when a token decides, and never when certificates are off', () => {
    let reads = 0;
    const subject = () => (reads++, 'bob');
    new Authenticator({ tokens, clientCertificates: true }).authenticate({ authorization: 'Bearer t-alice', certificateSubject: subject });
    refused(() => new Authenticator({ tokens }).authenticate({ certificateSubject: subject }), 'CREDENTIALS_MISSING');
    assert.equal(reads, 0);
  });
});
