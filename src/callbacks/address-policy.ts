/**
 * Where a completion callback may go. A callback URL is chosen by the client, so without a policy
 * longrun would POST wherever a caller points it: its own admin port, a database on the private
 * network, the cloud metadata service (server-side request forgery). By default only public
 * unicast addresses are reachable; `--callback-allow` opens exceptions by CIDR or host name.
 *
 * Two checks use this policy: `checkUrl` when an operation is created (literal addresses and
 * names known to be internal), and `allowsAddress` at connect time for every address a name
 * resolves to (see send.ts), which is the one a changing DNS answer cannot slip past.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { invalidArgument } from '../domain/errors.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/** Longest callback URL accepted; it is stored with every operation that asks for one. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/**
 * Names that reach a cloud's instance metadata service or this machine whatever DNS says. The
 * connect-time check would refuse most of them anyway (link-local, loopback); refusing the name
 * at creation tells the caller at once.
 */
const DENIED_NAMES = new Set([
  'localhost',
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
  'metadata.platformequinix.com',
]);

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export class AddressPolicy {
  private constructor(
    private readonly allowedCidrs: readonly Cidr[],
    private readonly allowedHosts: ReadonlySet<string>,
  ) {}

  /** From --callback-allow entries: CIDRs (v4/v6) and host names. Throws Error naming the bad entry. */
  static parse(allow: readonly string[]): AddressPolicy {
    const cidrs: Cidr[] = [];
    const hosts = new Set<string>();
    for (const raw of allow) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      if (entry.includes('/')) {
        const [address, bits] = entry.split('/', 2) as [string, string];
        const parsed = strictAddress(address.replace(/^\[(.*)\]$/, '$1'));
        const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
        if (parsed === undefined || !(prefix <= (parsed.kind() === 'ipv4' ? 32 : 128))) {
          throw new Error(`callback allow-list entry ${JSON.stringify(raw)} is not a CIDR (address/prefix-length)`);
        }
        cidrs.push([plain(parsed), parsed.kind() === 'ipv6' && isMapped(parsed as ipaddr.IPv6) ? Math.max(0, prefix - 96) : prefix]);
        continue;
      }
      const address = strictAddress(entry.replace(/^\[(.*)\]$/, '$1'));
      if (address !== undefined) {
        const single = plain(address);
        cidrs.push([single, single.kind() === 'ipv4' ? 32 : 128]);
        continue;
      }
      const name = entry.replace(/\.$/, '');
      // An all-digit last label is an address in an odd spelling (0177.0.0.1, 0x7f.1), not a name.
      if (!HOST_NAME.test(name) || /(^|\.)(\d+|0x[0-9a-f]*)$/.test(name)) {
        throw new Error(`callback allow-list entry ${JSON.stringify(raw)} is neither a CIDR, an IP address nor a host name`);
      }
      hosts.add(name);
    }
    return new AddressPolicy(cidrs, hosts);
  }

  /**
   * Creation-time check. Returns the normalized href. Throws LongrunError INVALID_ARGUMENT
   * (reason 'CALLBACK_URL_INVALID', metadata {field}) naming `field` and the rule.
   *
   * The WHATWG parser has already turned `2130706433`, `0177.0.0.1`, `0x7f.1` and
   * `[::ffff:127.0.0.1]` into canonical addresses by the time the host is looked at here.
   */
  checkUrl(raw: string, field: string): string {
    const refuse = (why: string) => invalidArgument(field, why, 'CALLBACK_URL_INVALID');
    if (raw.length > MAX_CALLBACK_URL_LENGTH) throw refuse(`must be at most ${MAX_CALLBACK_URL_LENGTH} characters`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw refuse('must be an absolute URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('must be an https URL');
    if (url.username !== '' || url.password !== '') throw refuse('must not contain credentials (user:password@)');
    const host = hostOf(url);
    const literal = isIP(host) !== 0;
    if (url.protocol === 'http:' && !this.allowsPlainHttp(host)) {
      throw refuse('must use https (plain http only to hosts and addresses in the callback allow-list)');
    }
    if (literal) {
      const denied = this.denial(host, host);
      if (denied !== undefined) throw refuse(`must not target a ${denied} address`);
    } else if (!this.allowedHosts.has(host)) {
      if (DENIED_NAMES.has(host) || host.endsWith('.localhost')) throw refuse(`must not target ${host}`);
      if (!host.includes('.')) throw refuse('must name a fully qualified host (a single-label name is resolved on the local network)');
    }
    return url.href;
  }

  /** Whether a connection to `address` (an IP as resolved) may be made for `host`. */
  allowsAddress(address: string, host: string): boolean {
    return this.denial(address, host) === undefined;
  }

  /**
   * Why a connection to `address` for `host` is refused (the kind of address, for messages), or
   * undefined when it is allowed. Anything that is not a plain IP literal is refused: the caller
   * connects to exactly this string, and a name here would be resolved a second time.
   */
  denial(address: string, host: string): string | undefined {
    if (isIP(address) === 0 || address.includes('%')) return 'non-literal';
    const parsed = canonical(address);
    if (parsed === undefined) return 'non-literal';
    if (this.allowedHosts.has(normalHost(host))) return undefined;
    const effective = plain(parsed);
    if (this.allowedCidrs.some(([range, bits]) => range.kind() === effective.kind() && effective.match(range, bits))) return undefined;
    return deniedRange(parsed);
  }

  private allowsPlainHttp(host: string): boolean {
    if (this.allowedHosts.has(host)) return true;
    if (isIP(host) === 0) return false;
    const parsed = canonical(host);
    if (parsed === undefined) return false;
    const effective = plain(parsed);
    return this.allowedCidrs.some(([range, bits]) => range.kind() === effective.kind() && effective.match(range, bits));
  }
}

/** The URL's host as a lower-case name without trailing dot, or an IPv6 literal without brackets. */
export function hostOf(url: URL): string {
  return normalHost(url.hostname.replace(/^\[(.*)\]$/, '$1'));
}

function normalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/** Only standard dotted-quad IPv4 and IPv6 (net.isIP); ipaddr.js alone would also take `0177.1`. */
function strictAddress(text: string): Address | undefined {
  return isIP(text) === 0 ? undefined : canonical(text);
}

/**
 * Parses a literal already known to be an IP. IPv6 goes through the WHATWG serializer first:
 * ipaddr.js reads `::127.0.0.1` as IPv4-mapped (`::ffff:7f00:1`), which it is not.
 */
function canonical(text: string): Address | undefined {
  try {
    if (isIP(text) === 6) return ipaddr.IPv6.parse(new URL(`http://[${text}]/`).hostname.slice(1, -1));
    return ipaddr.IPv4.parse(text);
  } catch {
    return undefined;
  }
}

function isMapped(address: ipaddr.IPv6): boolean {
  const p = address.parts;
  return p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0xffff;
}

/** An IPv4-mapped IPv6 address as the IPv4 address the kernel connects to; others unchanged. */
function plain(address: Address): Address {
  if (address.kind() === 'ipv6' && isMapped(address as ipaddr.IPv6)) return (address as ipaddr.IPv6).toIPv4Address();
  return address;
}

function embeddedV4(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The kind of a denied address, or undefined for a public unicast one. */
function deniedRange(address: Address): string | undefined {
  if (address.kind() === 'ipv4') {
    const range = address.range();
    return range === 'unicast' ? undefined : range;
  }
  const v6 = address as ipaddr.IPv6;
  const p = v6.parts as [number, number, number, number, number, number, number, number];
  const range = v6.range();
  // Forms that carry an IPv4 address: judged by that address, so ::ffff:127.0.0.1 is loopback.
  if (isMapped(v6) || range === 'rfc6145') {
    const inner = deniedRange(embeddedV4(p[6], p[7]));
    return inner === undefined ? undefined : `IPv4-mapped ${inner}`;
  }
  if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0) {
    if (range === 'unspecified' || range === 'loopback') return range;
    return 'IPv4-compatible (deprecated)';
  }
  if (range === 'rfc6052' && p[2] === 0) {
    // 64:ff9b::/96, the well-known NAT64 prefix: a gateway translates it to the embedded IPv4 address.
    const inner = deniedRange(embeddedV4(p[6], p[7]));
    return inner === undefined ? undefined : `NAT64 ${inner}`;
  }
  if (range === '6to4') {
    const inner = deniedRange(embeddedV4(p[1], p[2]));
    return inner === undefined ? undefined : `6to4 ${inner}`;
  }
  return range === 'unicast' ? undefined : range;
}
