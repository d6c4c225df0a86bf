/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the receiver recomputes
 * HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${body}` with the shared secret. Several
 * secrets sign at once during a rotation; the receiver accepts the message if any signature
 * matches a secret it knows. Secrets never appear in errors or logs.
 */
import { createHmac } from 'node:crypto';

export interface WebhookSecret {
  /** The decoded key bytes (what follows `whsec_`, base64-decoded). */
  readonly key: Buffer;
}

/** The prefix Standard Webhooks puts before a base64 secret. */
export const SECRET_PREFIX = 'whsec_';
/** The spec's bounds for a key (24 to 64 bytes); shorter keys are too weak to sign with. */
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 64;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** One `whsec_<base64>` per line; blank lines and # comments ignored; throws Error naming the line. */
export function parseSecrets(text: string): WebhookSecret[] {
  const secrets: WebhookSecret[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    // The message names the line, never its content: it is a secret.
    const where = `webhook secret on line ${index + 1}`;
    if (!line.startsWith(SECRET_PREFIX)) throw new Error(`${where} must start with ${SECRET_PREFIX}`);
    const encoded = line.slice(SECRET_PREFIX.length);
    if (encoded === '' || !BASE64.test(encoded)) throw new Error(`${where} is not base64 after ${SECRET_PREFIX}`);
    const key = Buffer.from(encoded, 'base64');
    if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
      throw new Error(`${where} decodes to ${key.length} bytes; a key must have ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES}`);
    }
    secrets.push({ key });
  });
  return secrets;
}

/** The value of `webhook-signature`: `v1,<base64 HMAC-SHA256 of "${id}.${timestamp}.${body}">` per secret, space separated. */
export function signatureHeader(secrets: readonly WebhookSecret[], id: string, timestampSeconds: number, body: string): string {
  if (secrets.length === 0) throw new Error('signing a webhook needs at least one secret');
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new Error(`webhook timestamp must be whole unix seconds, got ${timestampSeconds}`);
  }
  const content = `${id}.${timestampSeconds}.${body}`;
  return secrets.map((secret) => `v1,${createHmac('sha256', secret.key).update(content, 'utf8').digest('base64')}`).join(' ');
}

/** The three Standard Webhooks headers for one delivery attempt. */
export function webhookHeaders(
  secrets: readonly WebhookSecret[],
  id: string,
  timestampSeconds: number,
  body: string,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signatureHeader(secrets, id, timestampSeconds, body),
  };
}
