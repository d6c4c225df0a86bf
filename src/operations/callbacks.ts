/**
 * The seam between creating an operation and completion callbacks: the service asks which URLs an
 * operation's end must be delivered to, and the callbacks module (configured by the server) answers.
 */

/** A callback URL a caller asked for, and the name of the field it came in (for INVALID_ARGUMENT). */
export interface RequestedCallback {
  url: string;
  /** `Longrun-Callback-Url` (HTTP header), `longrun-callback-url` (gRPC metadata), `callback_url` (request field) or `callbackUrl` (embedding option). */
  field: string;
}

export interface CallbackRegistrar {
  /**
   * The URLs to tell when an operation of `owner` ends: the requested one, checked, and the owner's
   * per-server endpoints. Throws LongrunError INVALID_ARGUMENT naming the field for a URL the
   * address policy or the scheme rules refuse.
   */
  callbacksFor(owner: string, requested: RequestedCallback | undefined): string[];
}
