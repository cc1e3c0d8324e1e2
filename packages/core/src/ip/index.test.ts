import { describe, expect, it } from 'vitest';
import { FairmindError } from '../errors/index.js';
import {
  type ClientIpSource,
  clientKey,
  createClientIpResolver,
  ipv6Prefix64,
  normalizeIp,
  parseTrustedProxies,
  type TrustedProxies,
} from './index.js';

function source(
  clientAddress: string,
  headers: Record<string, string> = {},
  secure?: boolean,
): ClientIpSource & { secure?: boolean } {
  const request = { headers: new Headers(headers) };
  return secure === undefined ? { clientAddress, request } : { clientAddress, request, secure };
}

function thrown(fn: () => unknown): FairmindError {
  try {
    fn();
  } catch (error) {
    if (error instanceof FairmindError) return error;
    throw error;
  }
  throw new Error('expected a FairmindError, but nothing was thrown');
}

describe('normalizeIp', () => {
  it('returns IPv4 as is and canonicalises IPv6', () => {
    expect(normalizeIp('203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeIp(' 203.0.113.7 ')).toBe('203.0.113.7');
    expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeIp('2001:0db8:0000:0001:0000:0000:0000:0000')).toBe('2001:db8:0:1::');
  });

  it('strips brackets and zone ids', () => {
    expect(normalizeIp('[::1]')).toBe('::1');
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80::1');
    expect(normalizeIp('[fe80::1%25en0]')).toBe('fe80::1');
  });

  it('unwraps IPv4-mapped IPv6 in dotted and hex forms', () => {
    expect(normalizeIp('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(normalizeIp('::FFFF:0102:0304')).toBe('1.2.3.4');
    expect(normalizeIp('[::ffff:10.0.0.1]')).toBe('10.0.0.1');
    // Not the mapped block: stays IPv6.
    expect(normalizeIp('64:ff9b::1.2.3.4')).toBe('64:ff9b::102:304');
  });

  it('returns null for text that is not an address, including legacy IPv4 forms', () => {
    for (const bad of [
      '',
      '   ',
      'unknown',
      'abc',
      '1.2.3',
      '256.1.1.1',
      '010.0.0.1',
      '0x7f.0.0.1',
      '1.2.3.4%eth0',
      ':::',
      '1:2:3:4:5:6:7:8:9',
      '::ffff:1.2.3',
      '[::1',
      '203.0.113.7:80',
      '/var/run/app.sock',
    ]) {
      expect(normalizeIp(bad), bad).toBeNull();
    }
  });
});

describe('ipv6Prefix64 and clientKey', () => {
  it('gives the /64 of an IPv6 address', () => {
    expect(ipv6Prefix64('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(ipv6Prefix64('2001:db8::1')).toBe('2001:db8::/64');
    expect(ipv6Prefix64('::1')).toBe('::/64');
  });

  it('gives IPv4 (and mapped IPv4) addresses back as IPv4', () => {
    expect(ipv6Prefix64('203.0.113.7')).toBe('203.0.113.7');
    expect(ipv6Prefix64('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:cb00:7107')).toBe('203.0.113.7');
  });

  it('shares a key within one /64 and not across /64s', () => {
    const a = clientKey('2001:db8:1:2::1');
    const b = clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff');
    const c = clientKey('2001:db8:1:3::1');
    expect(a).toBe('2001:db8:1:2::/64');
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(clientKey('203.0.113.7')).not.toBe(clientKey('203.0.113.8'));
  });

  it('returns text that is not an address unchanged', () => {
    expect(clientKey('/var/run/app.sock')).toBe('/var/run/app.sock');
  });
});

describe('parseTrustedProxies', () => {
  it('trusts nothing when empty', () => {
    for (const input of [undefined, '', '  , ', []]) {
      const proxies = parseTrustedProxies(input);
      expect(proxies.empty).toBe(true);
      expect(proxies.list).toEqual([]);
      expect(proxies.contains('127.0.0.1')).toBe(false);
    }
  });

  it('parses a comma and whitespace separated string into canonical entries', () => {
    const proxies = parseTrustedProxies(
      ' 10.1.2.3/8,192.168.1.1\n2001:DB8::/32 , , ::1 10.0.0.0/8',
    );
    expect(proxies.empty).toBe(false);
    expect(proxies.list).toEqual(['10.0.0.0/8', '192.168.1.1/32', '2001:db8::/32', '::1/128']);
    expect(proxies.contains('10.200.0.1')).toBe(true);
    expect(proxies.contains('192.168.1.1')).toBe(true);
    expect(proxies.contains('192.168.1.2')).toBe(false);
    expect(proxies.contains('2001:db8:ffff::1')).toBe(true);
    expect(proxies.contains('2001:db9::1')).toBe(false);
    expect(proxies.contains('::1')).toBe(true);
    expect(proxies.contains('::2')).toBe(false);
    expect(proxies.contains('not an ip')).toBe(false);
  });

  it('accepts an array, with separators inside elements', () => {
    const proxies = parseTrustedProxies(['10.0.0.1', '10.0.0.2, 10.0.0.3']);
    expect(proxies.list).toEqual(['10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32']);
    expect(proxies.contains('10.0.0.3')).toBe(true);
    expect(proxies.contains('10.0.0.4')).toBe(false);
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 ranges, and mapped ranges as IPv4', () => {
    expect(parseTrustedProxies('10.0.0.0/8').contains('::ffff:10.9.9.9')).toBe(true);
    const mapped = parseTrustedProxies('::ffff:10.0.0.0/104');
    expect(mapped.list).toEqual(['10.0.0.0/8']);
    expect(mapped.contains('10.9.9.9')).toBe(true);
    expect(mapped.contains('11.0.0.1')).toBe(false);
  });

  it('expands the loopback, linklocal and uniquelocal keywords', () => {
    const loopback = parseTrustedProxies('loopback');
    expect(loopback.list).toEqual(['loopback']);
    expect(loopback.contains('127.0.0.1')).toBe(true);
    expect(loopback.contains('127.255.0.9')).toBe(true);
    expect(loopback.contains('::1')).toBe(true);
    expect(loopback.contains('10.0.0.1')).toBe(false);

    const linklocal = parseTrustedProxies('LinkLocal');
    expect(linklocal.contains('169.254.1.1')).toBe(true);
    expect(linklocal.contains('fe80::1%eth0')).toBe(true);
    expect(linklocal.contains('127.0.0.1')).toBe(false);

    const uniquelocal = parseTrustedProxies(['uniquelocal']);
    for (const ip of ['10.1.1.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', 'fd12::1']) {
      expect(uniquelocal.contains(ip), ip).toBe(true);
    }
    for (const ip of ['172.32.0.1', '8.8.8.8', 'fe80::1', '::1']) {
      expect(uniquelocal.contains(ip), ip).toBe(false);
    }
  });

  it('keeps contains usable when detached from the list', () => {
    const { contains } = parseTrustedProxies('10.0.0.0/8');
    expect(contains('10.0.0.1')).toBe(true);
  });

  it('refuses every trust-everyone setting and explains why', () => {
    for (const input of [
      '0.0.0.0/0',
      '::/0',
      '*',
      'true',
      'all',
      'ALL',
      '10.0.0.0/0',
      '2001:db8::/0',
      '::ffff:0.0.0.0/96',
      ['10.0.0.1', '0.0.0.0/0'],
    ]) {
      const error = thrown(() => parseTrustedProxies(input));
      expect(error.code, String(input)).toBe('INVALID_TRUSTED_PROXIES');
      expect(error.status).toBe(500);
      expect(error.message).toMatch(/^\[@fairmind\/core\]/);
      expect(error.message).toContain('spoof its address through X-Forwarded-For');
      expect(error.message).toContain('List the addresses or ranges of your own proxies');
    }
  });

  it('names every bad entry in one error, and no good one', () => {
    const error = thrown(() =>
      parseTrustedProxies('10.0.0.1, 10.0.0.0/33, proxy.local, 1.2.3, fe80::/129, 10.0.0.0/x'),
    );
    expect(error.code).toBe('INVALID_TRUSTED_PROXIES');
    expect(error.status).toBe(500);
    for (const bad of ['10.0.0.0/33', 'proxy.local', '1.2.3', 'fe80::/129', '10.0.0.0/x']) {
      expect(error.message).toContain(`"${bad}"`);
    }
    expect(error.message).not.toContain('"10.0.0.1"');
    expect(error.message).toContain("'loopback'");
    expect(error.details).toEqual({
      invalid: ['10.0.0.0/33', 'proxy.local', '1.2.3', 'fe80::/129', '10.0.0.0/x'],
      trustAll: [],
    });
  });

  it('reports bad entries and trust-all together', () => {
    const error = thrown(() => parseTrustedProxies(['*', 'nope']));
    expect(error.message).toContain('"*"');
    expect(error.message).toContain('"nope"');
    expect(error.message).toContain('X-Forwarded-For');
  });

  it('refuses non-string input from untyped callers', () => {
    expect(thrown(() => parseTrustedProxies(42 as unknown as string)).code).toBe(
      'INVALID_TRUSTED_PROXIES',
    );
    expect(thrown(() => parseTrustedProxies([7] as unknown as string[])).message).toContain('"7"');
  });
});

describe('createClientIpResolver', () => {
  it('is a named function exposing its trusted proxies', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    expect(resolve.name).toBe('resolveClientIp');
    expect(resolve.trustedProxies.list).toEqual(['10.0.0.0/8']);
  });

  it('ignores a spoofed X-Forwarded-For without trusted proxies, without reading it', () => {
    const resolve = createClientIpResolver();
    let reads = 0;
    const spoofed: ClientIpSource = {
      clientAddress: '203.0.113.7',
      request: {
        headers: {
          get: () => {
            reads += 1;
            return '1.1.1.1';
          },
        },
      },
    };
    expect(resolve(spoofed)).toEqual({ ip: '203.0.113.7', key: '203.0.113.7', forwarded: false });
    expect(reads).toBe(0);
  });

  it('answers a peer seen before the same way, and a trusted proxy by its header each time', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    // More peers than the memo keeps, twice over, each answered as a first-seen peer would be.
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 5000; index++) {
        const peer = `::ffff:198.18.${index >> 8}.${index & 255}`;
        const ip = `198.18.${index >> 8}.${index & 255}`;
        expect(resolve(source(peer))).toEqual({ ip, key: ip, forwarded: false });
      }
    }
    const first = resolve(source('2001:DB8::1'));
    expect(resolve(source('2001:DB8::1'))).toEqual(first);
    expect(Object.isFrozen(first)).toBe(true);
    const via = (client: string) => resolve(source('10.0.0.1', { 'x-forwarded-for': client })).ip;
    expect(via('203.0.113.7')).toBe('203.0.113.7');
    expect(via('203.0.113.8')).toBe('203.0.113.8');
    expect(resolve(source('/run/app.sock'))).toEqual({
      ip: '/run/app.sock',
      key: '/run/app.sock',
      forwarded: false,
    });
  });

  it('ignores the header when the peer is not a trusted proxy', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    const result = resolve(source('203.0.113.7', { 'x-forwarded-for': '10.0.0.2, 1.1.1.1' }));
    expect(result).toEqual({ ip: '203.0.113.7', key: '203.0.113.7', forwarded: false });
  });

  it('reads right to left, skipping several trusted hops', () => {
    const resolve = createClientIpResolver({ trustedProxies: ['10.0.0.0/8', '192.168.0.0/16'] });
    const result = resolve(
      source('10.0.0.1', { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 192.168.1.1, 10.0.0.2' }),
    );
    expect(result).toEqual({ ip: '203.0.113.7', key: '203.0.113.7', forwarded: true });
  });

  it('gives a client spoofing the leftmost entry behind one proxy its real address', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.1' });
    // The client sent "X-Forwarded-For: 8.8.8.8"; the proxy appended the real peer.
    const result = resolve(source('10.0.0.1', { 'x-forwarded-for': '8.8.8.8, 203.0.113.7' }));
    expect(result.ip).toBe('203.0.113.7');
    expect(result.forwarded).toBe(true);
  });

  it('reads several header lines, which arrive joined by commas', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    const headers = new Headers();
    headers.append('x-forwarded-for', '8.8.8.8');
    headers.append('x-forwarded-for', '203.0.113.7, 10.0.0.3');
    expect(resolve({ clientAddress: '10.0.0.1', request: { headers } }).ip).toBe('203.0.113.7');
  });

  it('returns the leftmost hop when every hop is trusted', () => {
    const resolve = createClientIpResolver({ trustedProxies: 'uniquelocal' });
    const result = resolve(source('10.0.0.1', { 'x-forwarded-for': '192.168.0.9, 10.0.0.2' }));
    expect(result).toEqual({ ip: '192.168.0.9', key: '192.168.0.9', forwarded: true });
  });

  it('handles IPv6 peers and hops, keying the client by its /64', () => {
    const resolve = createClientIpResolver({ trustedProxies: 'fd00::/8' });
    const result = resolve(
      source('fd00::1', { 'x-forwarded-for': '2001:DB8:AA:BB::1, 2001:db8:1:2::99, fd00::2' }),
    );
    expect(result).toEqual({ ip: '2001:db8:1:2::99', key: '2001:db8:1:2::/64', forwarded: true });

    const direct = createClientIpResolver({ trustedProxies: 'fd00::/8' })(
      source('2001:db8:1:2::5', { 'x-forwarded-for': '1.1.1.1' }),
    );
    expect(direct).toEqual({ ip: '2001:db8:1:2::5', key: '2001:db8:1:2::/64', forwarded: false });
  });

  it('unwraps an IPv4-mapped IPv6 peer and matches it against an IPv4 range', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    const result = resolve(
      source('::ffff:10.0.0.1', { 'x-forwarded-for': '::ffff:203.0.113.7, ::ffff:10.0.0.2' }),
    );
    expect(result).toEqual({ ip: '203.0.113.7', key: '203.0.113.7', forwarded: true });
    const untrusted = resolve(source('::ffff:203.0.113.9', { 'x-forwarded-for': '1.1.1.1' }));
    expect(untrusted).toEqual({ ip: '203.0.113.9', key: '203.0.113.9', forwarded: false });
  });

  it('stops at a malformed hop and returns the trusted address that forwarded it', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    for (const garbage of ['unknown', 'abc', '1.2.3', '_hidden', '203.0.113.7:port', '[::1']) {
      const behindTwo = resolve(
        source('10.0.0.1', { 'x-forwarded-for': `203.0.113.7, ${garbage}, 10.0.0.2` }),
      );
      expect(behindTwo, garbage).toEqual({ ip: '10.0.0.2', key: '10.0.0.2', forwarded: true });
      const behindOne = resolve(source('10.0.0.1', { 'x-forwarded-for': garbage }));
      expect(behindOne, garbage).toEqual({ ip: '10.0.0.1', key: '10.0.0.1', forwarded: false });
    }
  });

  it('ignores empty list elements, and falls back to the peer for an empty header', () => {
    const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
    const peer = { ip: '10.0.0.1', key: '10.0.0.1', forwarded: false };
    for (const value of ['', '   ', ',,,', ' , , ']) {
      expect(resolve(source('10.0.0.1', { 'x-forwarded-for': value })), value).toEqual(peer);
    }
    expect(resolve(source('10.0.0.1'))).toEqual(peer);
    const withEmpties = resolve(
      source('10.0.0.1', { 'x-forwarded-for': '203.0.113.7,, ,10.0.0.2,' }),
    );
    expect(withEmpties.ip).toBe('203.0.113.7');
  });

  it('strips ports from hops', () => {
    const resolve = createClientIpResolver({ trustedProxies: ['10.0.0.0/8', 'fd00::/8'] });
    const cases: [string, string][] = [
      ['203.0.113.7:5555', '203.0.113.7'],
      ['[2001:db8::7]:443', '2001:db8::7'],
      ['[2001:db8::7]', '2001:db8::7'],
      ['203.0.113.7:5555, 10.0.0.2:80, [fd00::3]:8080', '203.0.113.7'],
    ];
    for (const [value, ip] of cases) {
      expect(resolve(source('10.0.0.1', { 'x-forwarded-for': value })).ip, value).toBe(ip);
    }
    // A port on a bare IPv6 address is ambiguous, and out-of-form ports are malformed.
    for (const value of ['[2001:db8::7]:', '[2001:db8::7]x', '203.0.113.7:123456']) {
      expect(resolve(source('10.0.0.1', { 'x-forwarded-for': value })).ip, value).toBe('10.0.0.1');
    }
  });

  it('returns a peer that is not an IP unchanged, with itself as key', () => {
    const resolve = createClientIpResolver({ trustedProxies: 'loopback' });
    for (const peer of ['/var/run/app.sock', '', 'unknown']) {
      expect(resolve(source(peer, { 'x-forwarded-for': '1.1.1.1' })), peer).toEqual({
        ip: peer,
        key: peer,
        forwarded: false,
      });
    }
  });

  it('normalises the peer address', () => {
    const resolve = createClientIpResolver();
    expect(resolve(source('[2001:DB8::1%eth0]')).ip).toBe('2001:db8::1');
  });

  it('reads a configured header, case-insensitively', () => {
    const resolve = createClientIpResolver({ trustedProxies: 'loopback', header: 'X-Real-IP' });
    const result = resolve(
      source('127.0.0.1', { 'x-real-ip': '203.0.113.7', 'x-forwarded-for': '8.8.8.8' }),
    );
    expect(result.ip).toBe('203.0.113.7');
  });

  it('accepts a parsed list or any TrustedProxies implementation', () => {
    const parsed = parseTrustedProxies('10.0.0.0/8');
    const resolve = createClientIpResolver({ trustedProxies: parsed });
    expect(resolve.trustedProxies).toBe(parsed);
    expect(resolve(source('10.0.0.1', { 'x-forwarded-for': '203.0.113.7' })).ip).toBe(
      '203.0.113.7',
    );

    const seen: string[] = [];
    const custom: TrustedProxies = {
      list: ['custom'],
      empty: false,
      contains(ip) {
        seen.push(ip);
        return ip === '2001:db8::1';
      },
    };
    const viaCustom = createClientIpResolver({ trustedProxies: custom });
    expect(viaCustom(source('2001:DB8::1', { 'x-forwarded-for': '203.0.113.7' })).ip).toBe(
      '203.0.113.7',
    );
    expect(seen).toEqual(['2001:db8::1', '203.0.113.7']);
  });

  it('validates options once, at creation', () => {
    for (const header of ['', 'x forwarded', 'x-forwarded-for:', 42]) {
      const error = thrown(() => createClientIpResolver({ header: header as string }));
      expect(error.code, String(header)).toBe('INVALID_OPTIONS');
      expect(error.message).toMatch(/^\[@fairmind\/core\] createClientIpResolver: header/);
    }
    expect(thrown(() => createClientIpResolver({ header: 'Forwarded' })).message).toContain(
      "set 'x-forwarded-for'",
    );
    expect(thrown(() => createClientIpResolver(null as never)).code).toBe('INVALID_OPTIONS');
    expect(thrown(() => createClientIpResolver({ trustedProxies: '::/0' })).code).toBe(
      'INVALID_TRUSTED_PROXIES',
    );
  });
});

describe('isHttps', () => {
  const resolve = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });

  it('is true on a TLS socket whatever the headers say', () => {
    expect(resolve.isHttps(source('203.0.113.7', { 'x-forwarded-proto': 'http' }, true))).toBe(
      true,
    );
    expect(resolve.isHttps(source('203.0.113.7', {}, false))).toBe(false);
  });

  it("believes a trusted proxy's rightmost X-Forwarded-Proto", () => {
    expect(resolve.isHttps(source('10.0.0.1', { 'x-forwarded-proto': 'HTTPS' }))).toBe(true);
    expect(resolve.isHttps(source('10.0.0.1', { 'x-forwarded-proto': 'http, https' }))).toBe(true);
    expect(resolve.isHttps(source('10.0.0.1', { 'x-forwarded-proto': 'https, http' }))).toBe(false);
    expect(resolve.isHttps(source('10.0.0.1', { 'x-forwarded-proto': 'https,' }))).toBe(false);
    expect(resolve.isHttps(source('10.0.0.1'))).toBe(false);
  });

  it('ignores X-Forwarded-Proto from untrusted peers and without trusted proxies', () => {
    expect(resolve.isHttps(source('203.0.113.7', { 'x-forwarded-proto': 'https' }))).toBe(false);
    const direct = createClientIpResolver();
    expect(direct.isHttps(source('10.0.0.1', { 'x-forwarded-proto': 'https' }))).toBe(false);
  });
});
