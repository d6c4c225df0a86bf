/**
 * RFC 7240 `Prefer` as the creating routes read it: `respond-async` (answer 202 with the polling
 * headers whatever the method's style) and `wait=N` (hold the call up to N seconds for the
 * operation to finish). Unknown preferences are ignored, as the RFC asks; a malformed `wait` too.
 */
export interface Preferences {
  respondAsync: boolean;
  /** Seconds, when `wait=N` was given with a non-negative integer N. */
  waitSeconds?: number;
}

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const preferences: Preferences = { respondAsync: false };
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const value of values) {
    for (const preference of value.split(',')) {
      // Parameters after ';' qualify a preference; none of ours take any.
      const [token = '', ...rest] = preference.split(';')[0]!.split('=');
      const name = token.trim().toLowerCase();
      const argument = rest.join('=').trim().replace(/^"(.*)"$/, '$1');
      if (name === 'respond-async') preferences.respondAsync = true;
      else if (name === 'wait' && /^\d{1,9}$/.test(argument) && preferences.waitSeconds === undefined) {
        preferences.waitSeconds = Number(argument);
      }
    }
  }
  return preferences;
}
