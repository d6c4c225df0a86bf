import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { parseSecrets, signatureHeader, webhookHeaders } from '../../src/callbacks/sign.js';

/** A fresh `whsec_` secret, as an operator would generate one. */
const newSecret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;
const body = JSON.stringify({ name: 'operations/abc', done: true, response: { text: 'ünïcode ✓' } });
const now = () => Math.floor(Date.now() / 1000);

/** The independent verifier's verdict (the standardwebhooks package), never our own code. */
function verifies(secret: string, headers: Record<string, string>, payload = body): boolean {
  try {
    new Webhook(secret).verify(payload, headers);
    return true;
  } catch (error) {
    assert.ok(error instanceof WebhookVerificationError, `unexpected ${String(error)}`);
    return false;
  }
}

describe('Standard Webhooks signing', { timeout: 60_000 }, () => {
  it('one secret: the reference verifier accepts the signature', () => {
    const secret = newSecret();
    const headers = webhookHeaders(parseSecrets(secret), 'msg_1', now(), body);
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(verifies(secret, headers), true);
    // The spec's own example secret (24 bytes) works too.
    const example = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    assert.equal(verifies(example, webhookHeaders(parseSecrets(example), 'msg_2', now(), body)), true);
  });

  it('matches the verifier package own signer byte for byte', () => {
    const secret = newSecret();
    const ts = now();
    const ours = signatureHeader(parseSecrets(secret), 'msg_x', ts, body);
    assert.equal(ours, new Webhook(secret).sign('msg_x', new Date(ts * 1000), body));
  });

  it('two secrets (rotation): one header, each secret alone verifies, a third does not', () => {
    const [oldSecret, newer] = [newSecret(), newSecret(24)];
    const headers = webhookHeaders(parseSecrets(`${oldSecret}\n${newer}\n`), 'msg_rot', now(), body);
    const parts = headers['webhook-signature'].split(' ');
    assert.equal(parts.length, 2);
    assert.ok(parts.every((part) => part.startsWith('v1,')));
    assert.equal(verifies(oldSecret, headers), true);
    assert.equal(verifies(newer, headers), true);
    assert.equal(verifies(newSecret(), headers), false);
  });

  it('a tampered body, another id and an old timestamp are rejected by the verifier', () => {
    const secret = newSecret();
    const secrets = parseSecrets(secret);
    const headers = webhookHeaders(secrets, 'msg_t', now(), body);
    assert.equal(verifies(secret, headers, body.replace('abc', 'abd')), false);
    assert.equal(verifies(secret, { ...headers, 'webhook-id': 'msg_u' }), false);
    const old = webhookHeaders(secrets, 'msg_old', now() - 3600, body);
    assert.equal(verifies(secret, old), false);
  });

  it('parseSecrets skips blanks and comments, and names the bad line without echoing it', () => {
    const a = newSecret();
    const b = newSecret(64);
    const secrets = parseSecrets(`# current\n${a}\r\n\n   \n  ${b}  \n# old one removed\n`);
    assert.equal(secrets.length, 2);
    assert.deepEqual(secrets[0]!.key, Buffer.from(a.slice(6), 'base64'));
    assert.equal(secrets[1]!.key.length, 64);
    assert.deepEqual(parseSecrets('\n# nothing\n'), []);

    const cases: Array<[string, RegExp]> = [
      [`${a}\nsecret-without-prefix-zzz`, /line 2 must start with whsec_/],
      [`\n\nwhsec_not*base64!`, /line 3 is not base64/],
      ['whsec_', /line 1 is not base64/],
      ['whsec_YWJj', /line 1 decodes to 3 bytes/],
      [`whsec_${randomBytes(65).toString('base64')}`, /line 1 decodes to 65 bytes/],
      [`whsec_${randomBytes(32).toString('base64').slice(0, -1)}`, /line 1 is not base64/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseSecrets(text), (error: Error) => {
        assert.match(error.message, message);
        assert.ok(!error.message.includes('zzz') && !error.message.includes('YWJj'), 'the message must not repeat the secret');
        return true;
      });
    }
  });

  it('refuses to sign without a secret or with a fractional timestamp', () => {
    assert.throws(() => signatureHeader([], 'msg', now(), body), /at least one secret/);
    assert.throws(() => signatureHeader(parseSecrets(newSecret()), 'msg', 1.5, body), /whole unix seconds/);
  });
});
