import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressPolicy, MAX_CALLBACK_URL_LENGTH } from '../../src/callbacks/address-policy.js';
import { Code, LongrunError } from '../../src/domain/errors.js';

const closed = AddressPolicy.parse([]);

/** Asserts checkUrl refuses `url` as INVALID_ARGUMENT naming the field, with `why` in the message. */
function refused(policy: AddressPolicy, url: string, why: RegExp): void {
  assert.throws(
    () => policy.checkUrl(url, 'callback.url'),
    (error: unknown) => {
      assert.ok(error instanceof LongrunError, `${url}: expected a LongrunError, got ${String(error)}`);
      assert.equal(error.code, Code.INVALID_ARGUMENT, url);
      assert.equal(error.reason, 'CALLBACK_URL_INVALID', url);
      assert.deepEqual(error.metadata, { field: 'callback.url' }, url);
      assert.match(error.message, /^callback\.url: /, url);
      assert.match(error.message, why, url);
      return true;
    },
    `${url} must be refused`,
  );
}

describe('AddressPolicy.checkUrl (creation time)', { timeout: 60_000 }, () => {
  it('refuses literal loopback, private, link-local, multicast, metadata and reserved IPv4, in every spelling', () => {
    const table: Array<[string, RegExp]> = [
      ['https://127.0.0.1/hook', /loopback/],
      ['https://127.255.255.254/', /loopback/],
      ['https://2130706433/', /loopback/], // decimal
      ['https://0177.0.0.1/', /loopback/], // octal
      ['https://0x7f.1/', /loopback/], // hex, two parts
      ['https://0x7F000001/', /loopback/],
      ['https://127.1/', /loopback/],
      ['https://10.1.2.3/', /private/],
      ['https://012.1.2.3/', /private/],
      ['https://172.16.0.1/', /private/],
      ['https://192.168.1.1:8443/', /private/],
      ['https://169.254.169.254/latest/meta-data/', /linkLocal/],
      ['https://0xa9fea9fe/', /linkLocal/], // 169.254.169.254 in hex
      ['https://100.64.0.1/', /carrierGradeNat/],
      ['https://100.100.100.200/', /carrierGradeNat/], // Alibaba's metadata address
      ['https://0.0.0.0/', /unspecified/],
      ['https://0/', /unspecified/],
      ['https://224.0.0.1/', /multicast/],
      ['https://255.255.255.255/', /broadcast/],
      ['https://192.0.0.192/', /reserved/], // Oracle's metadata address
      ['https://192.0.2.1/', /reserved/], // documentation
      ['https://198.18.0.1/', /reserved/], // benchmarking
      ['https://240.0.0.1/', /reserved/],
    ];
    for (const [url, why] of table) refused(closed, url, why);
  });

  it('refuses the same in IPv6, including IPv4-mapped, -compatible, -translated, NAT64 and 6to4 forms', () => {
    const table: Array<[string, RegExp]> = [
      ['https://[::1]/', /loopback/],
      ['https://[0:0:0:0:0:0:0:1]/', /loopback/],
      ['https://[::]/', /unspecified/],
      ['https://[::ffff:127.0.0.1]/', /IPv4-mapped loopback/],
      ['https://[::ffff:7f00:1]/', /IPv4-mapped loopback/],
      ['https://[0:0:0:0:0:ffff:169.254.169.254]/', /IPv4-mapped linkLocal/],
      ['https://[::ffff:10.0.0.1]/', /IPv4-mapped private/],
      ['https://[::127.0.0.1]/', /IPv4-compatible/],
      ['https://[::8.8.8.8]/', /IPv4-compatible/],
      ['https://[::ffff:0:7f00:1]/', /IPv4-mapped loopback/], // RFC 6145 translated
      ['https://[64:ff9b::a00:1]/', /NAT64 private/],
      ['https://[64:ff9b::127.0.0.1]/', /NAT64 loopback/],
      ['https://[64:ff9b:1::1]/', /rfc6052/],
      ['https://[2002:7f00:1::]/', /6to4 loopback/],
      ['https://[2002:a9fe:a9fe::1]/', /6to4 linkLocal/],
      ['https://[fc00::1]/', /uniqueLocal/],
      ['https://[fd00:ec2::254]/', /uniqueLocal/], // AWS's IPv6 metadata address
      ['https://[fe80::1]/', /linkLocal/],
      ['https://[fec0::1]/', /deprecatedSiteLocal/],
      ['https://[ff02::1]/', /multicast/],
      ['https://[2001:db8::1]/', /reserved/],
      ['https://[2001::1]/', /teredo/],
    ];
    for (const [url, why] of table) refused(closed, url, why);
  });

  it('refuses internal names, credentials, plain http, other schemes and malformed URLs', () => {
    const table: Array<[string, RegExp]> = [
      ['https://localhost/', /must not target localhost/],
      ['https://LOCALHOST./x', /must not target localhost/],
      ['https://api.localhost/', /must not target api\.localhost/],
      ['https://metadata.google.internal/computeMetadata/v1/', /metadata\.google\.internal/],
      ['https://metadata/', /metadata/],
      ['https://instance-data.ec2.internal/', /instance-data/],
      ['https://intranet/hook', /single-label/],
      ['https://user:pw@example.com/', /credentials/],
      ['https://user@example.com/', /credentials/],
      ['https://:pw@example.com/', /credentials/],
      ['http://example.com/hook', /must use https/],
      ['http://8.8.8.8/hook', /must use https/],
      ['ftp://example.com/', /must be an https URL/],
      ['file:///etc/passwd', /must be an https URL/],
      ['javascript:alert(1)', /must be an https URL/],
      ['not a url', /absolute URL/],
      ['/relative/hook', /absolute URL/],
      ['https://[fe80::1%25eth0]/', /absolute URL/],
      ['https://1.2.3.4.5/', /absolute URL/],
      [`https://example.com/${'a'.repeat(MAX_CALLBACK_URL_LENGTH)}`, /at most 2048/],
    ];
    for (const [url, why] of table) refused(closed, url, why);
  });

  it('accepts public https URLs and returns them normalized', () => {
    const table: Array<[string, string]> = [
      ['https://example.com/hook?x=1', 'https://example.com/hook?x=1'],
      ['HTTPS://Hooks.Example.COM:443/a/../b', 'https://hooks.example.com/b'],
      ['https://hooks.example.com:8443/cb', 'https://hooks.example.com:8443/cb'],
      ['https://8.8.8.8/', 'https://8.8.8.8/'],
      ['https://134744072/', 'https://8.8.8.8/'],
      ['https://[2606:4700:4700::1111]/', 'https://[2606:4700:4700::1111]/'],
      ['https://[::ffff:8.8.8.8]/', 'https://[::ffff:808:808]/'],
      ['https://[64:ff9b::8.8.8.8]/', 'https://[64:ff9b::808:808]/'],
      ['https://bücher.example/', 'https://xn--bcher-kva.example/'],
    ];
    for (const [url, href] of table) assert.equal(closed.checkUrl(url, 'callback.url'), href, url);
  });

  it('the allow-list opens exceptions by CIDR and by host, http included', () => {
    const policy = AddressPolicy.parse(['127.0.0.1/32', '10.0.0.0/8', '::1', 'Hooks.Internal.', '[fd00::]/8', ' ']);
    assert.equal(policy.checkUrl('http://127.0.0.1:8080/cb', 'callback.url'), 'http://127.0.0.1:8080/cb');
    assert.equal(policy.checkUrl('http://2130706433:8080/cb', 'callback.url'), 'http://127.0.0.1:8080/cb');
    assert.equal(policy.checkUrl('http://[::ffff:127.0.0.1]/', 'callback.url'), 'http://[::ffff:7f00:1]/');
    assert.equal(policy.checkUrl('https://10.20.30.40/', 'callback.url'), 'https://10.20.30.40/');
    assert.equal(policy.checkUrl('http://[::1]:9/', 'callback.url'), 'http://[::1]:9/');
    assert.equal(policy.checkUrl('https://[fd00:ec2::254]/', 'callback.url'), 'https://[fd00:ec2::254]/');
    assert.equal(policy.checkUrl('http://hooks.internal/cb', 'callback.url'), 'http://hooks.internal/cb');
    refused(policy, 'http://127.0.0.2/', /must use https/);
    refused(policy, 'https://127.0.0.2/', /loopback/);
    refused(policy, 'https://192.168.0.1/', /private/);
    refused(policy, 'http://example.com/', /must use https/);
  });
});

describe('AddressPolicy.allowsAddress (connect time)', { timeout: 60_000 }, () => {
  it('judges each resolved address, by what it is and by the allow-list', () => {
    const denied = ['127.0.0.1', '10.0.0.5', '169.254.169.254', '100.64.1.1', '0.0.0.0', '::1', '::', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'fd00:ec2::254', 'fe80::1', 'fe80::1%eth0', 'ff02::1', '64:ff9b::7f00:1'];
    for (const address of denied) assert.equal(closed.allowsAddress(address, 'hooks.example.com'), false, address);
    for (const address of ['8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(closed.allowsAddress(address, 'hooks.example.com'), true, address);
  });

  it('refuses anything that is not a standard IP literal, since it would be resolved again', () => {
    for (const address of ['0177.0.0.1', '2130706433', '0x7f.1', '127.1', 'localhost', 'example.com', '', ' 8.8.8.8']) {
      assert.equal(closed.allowsAddress(address, 'x.example.com'), false, address);
    }
    const open = AddressPolicy.parse(['x.example.com', '0.0.0.0/0']);
    assert.equal(open.allowsAddress('localhost', 'x.example.com'), false);
    assert.equal(open.allowsAddress('0177.0.0.1', 'x.example.com'), false);
  });

  it('an allowed host may resolve anywhere; an allowed CIDR covers its addresses whatever the host', () => {
    const policy = AddressPolicy.parse(['hooks.internal', '127.0.0.0/8', '::ffff:10.1.0.0/112']);
    assert.equal(policy.allowsAddress('10.9.9.9', 'hooks.internal'), true);
    assert.equal(policy.allowsAddress('10.9.9.9', 'HOOKS.INTERNAL.'), true);
    assert.equal(policy.allowsAddress('10.9.9.9', 'other.example.com'), false);
    assert.equal(policy.allowsAddress('127.0.0.9', 'other.example.com'), true);
    assert.equal(policy.allowsAddress('::ffff:127.0.0.9', 'other.example.com'), true);
    assert.equal(policy.allowsAddress('10.1.2.3', 'other.example.com'), true);
    assert.equal(policy.allowsAddress('10.2.0.1', 'other.example.com'), false);
  });
});

describe('AddressPolicy.parse', { timeout: 60_000 }, () => {
  it('names the bad entry', () => {
    for (const entry of ['10.0.0.0/33', '1.2.3/8', '::1/129', '10.0.0.0/', 'x/8', '0177.0.0.1', '0x7f.1', '2130706433', 'not a host!', '-bad.example', 'a..b']) {
      assert.throws(() => AddressPolicy.parse(['127.0.0.1/32', entry]), (error: Error) => error.message.includes(JSON.stringify(entry)), entry);
    }
  });
});
