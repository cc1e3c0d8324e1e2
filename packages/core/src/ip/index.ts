import ipaddr from 'ipaddr.js';
import { FairmindError } from '../errors/index.js';
import { type OptionScope, optionScopeError } from '../options/index.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;
type Address = IPv4 | IPv6;

// ipaddr.js also accepts legacy forms ('1.2.3', '0x7f.1', '010.0.0.1' as octal) that no proxy
// writes and that would let one client appear under several spellings, so IPv4 text must be
// plain dotted decimal before the library sees it.
const IPV4_STRICT =
  /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9a-f:.]+$/i;
// RFC 6874 zone ids are unreserved characters; anything else is not an address.
const ZONE_ID = /^[\w.~-]+$/;
// 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255' is the longest IPv6 text; longer input
// cannot be an address, and refusing it early bounds the regex work a client can cause.
const MAX_IPV6_LENGTH = 45;
const PORT = /^\d{1,5}$/;

/**
 * Parses one address without unwrapping IPv4-mapped IPv6, or returns null. Accepts brackets
 * and an IPv6 zone id, which it drops.
 */
function parseRaw(raw: string): Address | null {
  let text = raw.trim();
  if (text.charCodeAt(0) === 91 /* [ */) {
    if (text.charCodeAt(text.length - 1) !== 93 /* ] */) return null;
    text = text.slice(1, -1);
  }
  if (text.indexOf(':') === -1) {
    return IPV4_STRICT.test(text) ? ipaddr.IPv4.parse(text) : null;
  }
  const zone = text.indexOf('%');
  if (zone !== -1) {
    if (!ZONE_ID.test(text.slice(zone + 1))) return null;
    text = text.slice(0, zone);
  }
  if (text.length > MAX_IPV6_LENGTH || !IPV6_CHARS.test(text)) return null;
  if (text.indexOf('.') !== -1 && !IPV4_STRICT.test(text.slice(text.lastIndexOf(':') + 1))) {
    return null;
  }
  try {
    return ipaddr.IPv6.parse(text);
  } catch {
    return null;
  }
}

// kind() is ipaddr's discriminant, but its typings do not declare it as one.
function isV4(address: Address): address is IPv4 {
  return address.kind() === 'ipv4';
}

// ipaddr's isIPv4MappedAddress() walks its whole table of special ranges; this runs for every
// IPv6 peer and hop, and the mapped block is just ::ffff:0:0/96.
function isMapped(address: IPv6): boolean {
  const p = address.parts;
  return p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0xffff;
}

function unwrap(address: Address): Address {
  return !isV4(address) && isMapped(address) ? address.toIPv4Address() : address;
}

function parseAddress(raw: string): Address | null {
  const address = parseRaw(raw);
  return address === null ? null : unwrap(address);
}

function format(address: Address): string {
  return isV4(address) ? address.toString() : address.toRFC5952String();
}

function keyOf(address: Address, text: string): string {
  if (isV4(address)) return text;
  const [a = 0, b = 0, c = 0, d = 0] = address.parts;
  return `${new ipaddr.IPv6([a, b, c, d, 0, 0, 0, 0]).toRFC5952String()}/64`;
}

/**
 * Canonical text form of an IP address, so that one client has one spelling: strips `[...]`
 * brackets and an IPv6 zone id (`%eth0`), unwraps IPv4-mapped IPv6 (`::ffff:1.2.3.4` and
 * `::ffff:0102:0304` become `1.2.3.4`), and lower-cases and compresses IPv6 (RFC 5952).
 * IPv4 must be dotted decimal: legacy forms such as `1.2.3` or `010.0.0.1` are refused.
 *
 * @returns The canonical address, or `null` when `raw` is not an IP address.
 * @example
 * ```ts
 * normalizeIp('[2001:DB8:0:0::1%eth0]'); // '2001:db8::1'
 * normalizeIp('::ffff:203.0.113.7'); // '203.0.113.7'
 * normalizeIp('unknown'); // null
 * ```
 */
export function normalizeIp(raw: string): string | null {
  if (typeof raw !== 'string') return null;
  const address = parseAddress(raw);
  return address === null ? null : format(address);
}

/**
 * The /64 network of an IPv6 address as text, e.g. `'2001:db8:1:2::/64'`. One IPv6 host
 * usually owns a whole /64, so this is the unit to count it by. An IPv4 (or IPv4-mapped
 * IPv6) address comes back as the canonical IPv4 address; text that is not an IP address
 * comes back unchanged.
 *
 * @example
 * ```ts
 * ipv6Prefix64('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 * ipv6Prefix64('::ffff:10.0.0.1'); // '10.0.0.1'
 * ```
 */
export function ipv6Prefix64(ip: string): string {
  const address = typeof ip === 'string' ? parseAddress(ip) : null;
  return address === null ? ip : keyOf(address, format(address));
}

/**
 * The key a per-client limiter should count under: an IPv4 address as is, an IPv6 address's
 * /64 (a client rotating through its own /64 must not get a fresh budget per address).
 * Text that is not an IP address, such as a unix socket path, is returned unchanged.
 *
 * @example
 * ```ts
 * clientKey('203.0.113.7'); // '203.0.113.7'
 * clientKey('2001:db8:1:2::99'); // '2001:db8:1:2::/64'
 * ```
 */
export function clientKey(ip: string): string {
  return ipv6Prefix64(ip);
}

/** A parsed list of trusted proxy addresses and ranges. */
export interface TrustedProxies {
  /** The entries in canonical form (`10.0.0.0/8`, `2001:db8::1/128`, `loopback`), deduplicated. */
  readonly list: readonly string[];
  /** Whether `ip` (any form {@link normalizeIp} accepts) lies in a trusted range. */
  contains(ip: string): boolean;
  /** True when nothing is trusted, so forwarding headers are never read. */
  readonly empty: boolean;
}

type Range4 = readonly [IPv4, number];
type Range6 = readonly [IPv6, number];

// The same ranges Express's proxy-addr names, so settings carry over from Express apps.
const KEYWORDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['loopback', ['127.0.0.1/8', '::1/128']],
  ['linklocal', ['169.254.0.0/16', 'fe80::/10']],
  ['uniquelocal', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']],
]);

const TRUST_ALL_WORDS = new Set(['*', 'true', 'all', 'any', 'everyone']);

class TrustedProxyList implements TrustedProxies {
  readonly list: readonly string[];
  readonly empty: boolean;
  readonly #v4: readonly Range4[];
  readonly #v6: readonly Range6[];

  constructor(list: readonly string[], v4: readonly Range4[], v6: readonly Range6[]) {
    this.list = Object.freeze([...list]);
    this.empty = v4.length === 0 && v6.length === 0;
    this.#v4 = v4;
    this.#v6 = v6;
  }

  // An arrow property, so `const { contains } = proxies` keeps working.
  readonly contains = (ip: string): boolean => {
    const address = typeof ip === 'string' ? parseAddress(ip) : null;
    return address !== null && this.matches(address);
  };

  /** Expects an unwrapped address; the resolver calls this to avoid re-parsing text. */
  matches(address: Address): boolean {
    if (isV4(address)) {
      for (const [network, bits] of this.#v4) if (address.match(network, bits)) return true;
    } else {
      for (const [network, bits] of this.#v6) if (address.match(network, bits)) return true;
    }
    return false;
  }
}

type Entry =
  | {
      readonly kind: 'ranges';
      readonly label: string;
      readonly v4: Range4[];
      readonly v6: Range6[];
    }
  | { readonly kind: 'trust-all' }
  | { readonly kind: 'invalid' };

function parseCidr(text: string): Entry {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  if (addressText.indexOf('%') !== -1) return { kind: 'invalid' };
  const raw = parseRaw(addressText);
  if (raw === null) return { kind: 'invalid' };
  const max = isV4(raw) ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const bitsText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bitsText)) return { kind: 'invalid' };
    bits = Number(bitsText);
    if (bits > max) return { kind: 'invalid' };
  }
  if (bits === 0) return { kind: 'trust-all' };
  let address: Address = raw;
  // Mapped addresses are matched as IPv4, so a mapped range has to be one too; a range wider
  // than the mapped block (bits < 96) also covers real IPv6 and stays IPv6.
  if (!isV4(raw) && isMapped(raw) && bits >= 96) {
    address = raw.toIPv4Address();
    bits -= 96;
    if (bits === 0) return { kind: 'trust-all' };
  }
  if (isV4(address)) {
    const network = ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${bits}`);
    return {
      kind: 'ranges',
      label: `${network.toString()}/${bits}`,
      v4: [[address, bits]],
      v6: [],
    };
  }
  const network = ipaddr.IPv6.networkAddressFromCIDR(`${address.toNormalizedString()}/${bits}`);
  return {
    kind: 'ranges',
    label: `${network.toRFC5952String()}/${bits}`,
    v4: [],
    v6: [[address, bits]],
  };
}

function parseEntry(entry: string): Entry {
  const lower = entry.toLowerCase();
  if (TRUST_ALL_WORDS.has(lower)) return { kind: 'trust-all' };
  const keyword = KEYWORDS.get(lower);
  if (keyword === undefined) return parseCidr(entry);
  const v4: Range4[] = [];
  const v6: Range6[] = [];
  for (const cidr of keyword) {
    const parsed = parseCidr(cidr);
    if (parsed.kind === 'ranges') {
      v4.push(...parsed.v4);
      v6.push(...parsed.v6);
    }
  }
  return { kind: 'ranges', label: lower, v4, v6 };
}

const SEPARATORS = /[\s,]+/;

function quoteList(entries: readonly string[]): string {
  return entries.map((entry) => JSON.stringify(entry)).join(', ');
}

/**
 * Parses the list of proxies whose `X-Forwarded-For` entries may be believed, as the
 * `TRUSTED_PROXIES` setting gives it: a comma or whitespace separated string, or an array.
 * Accepts IPv4 and IPv6 CIDR ranges, bare addresses (as `/32` or `/128`), and the keywords
 * `loopback`, `linklocal` and `uniquelocal` (the same ranges as Express's `proxy-addr`).
 * A range with host bits set is kept as its network (`10.1.2.3/8` lists as `10.0.0.0/8`).
 *
 * @param input The list; `undefined`, `''` and `[]` trust nothing.
 * @throws {FairmindError} `INVALID_TRUSTED_PROXIES` (500) naming every entry that is not an
 * address, range or keyword, and refusing any trust-everyone setting (`0.0.0.0/0`, `::/0`,
 * any `/0`, `*`, `true`, `all`): that would let any client spoof its address.
 * @example
 * ```ts
 * const proxies = parseTrustedProxies(process.env['TRUSTED_PROXIES'] ?? 'loopback, 10.0.0.0/8');
 * proxies.contains('10.1.2.3'); // true
 * proxies.contains('::ffff:10.1.2.3'); // true: mapped IPv4 matches IPv4 ranges
 * ```
 */
export function parseTrustedProxies(input: string | readonly string[] | undefined): TrustedProxies {
  if (input === undefined || input === null) return new TrustedProxyList([], [], []);
  if (typeof input !== 'string' && !Array.isArray(input)) {
    throw new FairmindError(
      'INVALID_TRUSTED_PROXIES',
      500,
      `[@fairmind/core] The trusted proxy list must be a string such as "10.0.0.0/8, ::1" or an ` +
        `array of strings, not ${typeof input}. Fix TRUSTED_PROXIES or the trustedProxies option.`,
    );
  }

  const pieces: readonly unknown[] = typeof input === 'string' ? [input] : input;
  const labels: string[] = [];
  const v4: Range4[] = [];
  const v6: Range6[] = [];
  const invalid: string[] = [];
  const trustAll: string[] = [];
  for (const piece of pieces) {
    if (typeof piece !== 'string') {
      invalid.push(String(piece));
      continue;
    }
    for (const entry of piece.split(SEPARATORS)) {
      if (entry === '') continue;
      const parsed = parseEntry(entry);
      if (parsed.kind === 'invalid') invalid.push(entry);
      else if (parsed.kind === 'trust-all') trustAll.push(entry);
      else if (!labels.includes(parsed.label)) {
        labels.push(parsed.label);
        v4.push(...parsed.v4);
        v6.push(...parsed.v6);
      }
    }
  }

  if (invalid.length > 0 || trustAll.length > 0) {
    const problems: string[] = [];
    if (trustAll.length > 0) {
      problems.push(
        `${quoteList(trustAll)} would trust every address, which lets any client spoof its ` +
          'address through X-Forwarded-For and escape per-IP rate limits and lockouts. List the ' +
          "addresses or ranges of your own proxies or load balancers instead (e.g. '10.0.0.0/8', " +
          "'loopback'), or leave the list empty when clients connect directly.",
      );
    }
    if (invalid.length > 0) {
      problems.push(
        `${quoteList(invalid)} ${invalid.length === 1 ? 'is' : 'are'} not an IP address, CIDR ` +
          "range or keyword. Use entries like '203.0.113.7', '10.0.0.0/8', 'fd00::/8', or the " +
          "keywords 'loopback', 'linklocal', 'uniquelocal', separated by commas.",
      );
    }
    throw new FairmindError(
      'INVALID_TRUSTED_PROXIES',
      500,
      `[@fairmind/core] Invalid trusted proxy list (TRUSTED_PROXIES or the trustedProxies ` +
        `option): ${problems.join(' Also, ')}`,
      { details: { invalid, trustAll } },
    );
  }
  return new TrustedProxyList(labels, v4, v6);
}

/** What a client IP resolver needs from a request: the exchange satisfies it. */
export interface ClientIpSource {
  /** The socket peer, from the connection itself. */
  readonly clientAddress: string;
  readonly request: { readonly headers: { get(name: string): string | null } };
}

/** The resolved client of one request. */
export interface ClientIp {
  /** The client address in {@link normalizeIp} form, or the peer text as is when not an IP. */
  readonly ip: string;
  /** What to rate-limit by: see {@link clientKey}. */
  readonly key: string;
  /** True when `ip` came from the forwarding header rather than the socket. */
  readonly forwarded: boolean;
}

/** Options of {@link createClientIpResolver}. */
export interface ClientIpResolverOptions {
  /**
   * Proxies whose forwarding header is believed: a list as {@link parseTrustedProxies} takes
   * it, or its result. With none, the header is never read, so it cannot be spoofed.
   * @default undefined (trust no proxy)
   */
  trustedProxies?: string | readonly string[] | TrustedProxies | undefined;
  /**
   * The header trusted proxies append the client address to, in `X-Forwarded-For` syntax
   * (comma separated addresses, nearest proxy last). `X-Real-IP` works too.
   * @default 'x-forwarded-for'
   */
  header?: string | undefined;
}

/** Resolves the client IP of a request; see {@link createClientIpResolver}. */
export interface ClientIpResolver {
  (source: ClientIpSource): ClientIp;
  /** The parsed trusted proxy list. */
  readonly trustedProxies: TrustedProxies;
  /**
   * True when the socket is TLS (`secure`), or the peer is a trusted proxy whose
   * `X-Forwarded-Proto` says `https` (its rightmost value: the one that proxy set).
   */
  isHttps(source: ClientIpSource & { readonly secure?: boolean | undefined }): boolean;
}

// RFC 9110 token characters: what a header field name may contain.
const HEADER_NAME = /^[!#$%&'*+.^`|~\w-]+$/;

const SCOPE: OptionScope = { pkg: '@fairmind/core', factory: 'createClientIpResolver' };

function invalidOptions(message: string): FairmindError {
  return optionScopeError(SCOPE, message);
}

function toTrustedProxies(value: ClientIpResolverOptions['trustedProxies']): TrustedProxies {
  if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as TrustedProxies).contains === 'function'
  ) {
    return value as TrustedProxies;
  }
  return parseTrustedProxies(value as string | readonly string[] | undefined);
}

function validateHeader(value: unknown): string {
  if (value === undefined) return 'x-forwarded-for';
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    throw invalidOptions(
      `header must be an HTTP header name such as 'x-forwarded-for', got ${JSON.stringify(value)}.`,
    );
  }
  const name = value.toLowerCase();
  if (name === 'forwarded') {
    throw invalidOptions(
      "header 'forwarded' (RFC 7239) uses 'for=...;proto=...' syntax, which this resolver " +
        "does not parse. Have your proxy set 'x-forwarded-for' and use that.",
    );
  }
  return name;
}

/**
 * Hop text may carry a port ('203.0.113.7:5555', '[2001:db8::1]:443'), which some proxies
 * append; bare IPv6 is left alone because its colons are not a port separator.
 */
function parseHop(hop: string): Address | null {
  if (hop.charCodeAt(0) === 91 /* [ */) {
    const close = hop.indexOf(']');
    if (close === -1) return null;
    if (close !== hop.length - 1) {
      if (hop.charCodeAt(close + 1) !== 58 /* : */ || !PORT.test(hop.slice(close + 2))) return null;
      hop = hop.slice(0, close + 1);
    }
    return parseAddress(hop);
  }
  const colon = hop.indexOf(':');
  if (colon !== -1 && colon === hop.lastIndexOf(':') && hop.indexOf('.') !== -1) {
    if (!PORT.test(hop.slice(colon + 1))) return null;
    hop = hop.slice(0, colon);
  }
  return parseAddress(hop);
}

const DIRECT_PEERS = 4096;

function clientOf(address: Address, forwarded: boolean): ClientIp {
  const ip = format(address);
  return { ip, key: keyOf(address, ip), forwarded };
}

/**
 * Creates the function that finds a request's client IP. By default that is the socket peer.
 * When the peer is a trusted proxy, the forwarding header is read from the right, skipping
 * trusted hops: the first untrusted address is the client, because only the entries added by
 * your own proxies can be believed and anything further left may be forged by the client.
 *
 * - A malformed hop stops the walk at the last trusted address, never returning the garbage.
 *   Empty list elements are ignored, as RFC 9110 asks of list-based fields.
 * - When every hop is trusted, the leftmost is the client.
 * - A peer that is not an IP (a unix socket path) is returned as is, with itself as key.
 *
 * Options are checked once here, so the returned function stays cheap per request.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` for a bad header name, and
 * `INVALID_TRUSTED_PROXIES` for a bad proxy list (see {@link parseTrustedProxies}).
 * @example
 * ```ts
 * const clientIp = createClientIpResolver({ trustedProxies: '10.0.0.0/8' });
 * // Peer 10.0.0.5, X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.0.0.9
 * const { ip, key } = clientIp(exchange); // ip '203.0.113.7'; the forged 6.6.6.6 is ignored
 * if (!clientIp.isHttps(exchange)) redirectToHttps();
 * ```
 */
export function createClientIpResolver(options: ClientIpResolverOptions = {}): ClientIpResolver {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions('options must be an object such as { trustedProxies: "10.0.0.0/8" }.');
  }
  const trustedProxies = toTrustedProxies(options.trustedProxies);
  const header = validateHeader(options.header);
  const trustNone = trustedProxies.empty;
  const isTrusted: (address: Address) => boolean =
    trustedProxies instanceof TrustedProxyList
      ? (address) => trustedProxies.matches(address)
      : (address) => trustedProxies.contains(format(address));

  // A peer that is not a trusted proxy is its own client whatever the request says, so its
  // answer depends on the address text alone and is kept: parsing and formatting it was 1.7%
  // of a cached list's time, twice per request (the rate limiter and the request log). Few
  // peers talk to one process at once; past DIRECT_PEERS the memo starts again.
  const direct = new Map<string, ClientIp>();
  const remember = (peerText: string, client: ClientIp): ClientIp => {
    if (direct.size >= DIRECT_PEERS) direct.clear();
    direct.set(peerText, Object.freeze(client));
    return client;
  };

  function resolveClientIp(source: ClientIpSource): ClientIp {
    const peerText = source.clientAddress;
    const known = direct.get(peerText);
    if (known !== undefined) return known;
    const peer = parseAddress(peerText);
    if (peer === null) return remember(peerText, { ip: peerText, key: peerText, forwarded: false });
    if (trustNone || !isTrusted(peer)) return remember(peerText, clientOf(peer, false));
    const value = source.request.headers.get(header);
    if (!value) return clientOf(peer, false);

    let client = peer;
    let forwarded = false;
    // Walk by index rather than split(), so a long header costs no array per request.
    let end = value.length;
    while (end > 0) {
      const comma = value.lastIndexOf(',', end - 1);
      const hop = value.slice(comma + 1, end).trim();
      end = comma === -1 ? 0 : comma;
      if (hop === '') continue;
      const address = parseHop(hop);
      if (address === null) break;
      client = address;
      forwarded = true;
      if (!isTrusted(address)) break;
    }
    return clientOf(client, forwarded);
  }

  function isHttps(source: ClientIpSource & { readonly secure?: boolean }): boolean {
    if (source.secure === true) return true;
    if (trustNone) return false;
    const peer = parseAddress(source.clientAddress);
    if (peer === null || !isTrusted(peer)) return false;
    const proto = source.request.headers.get('x-forwarded-proto');
    if (!proto) return false;
    const nearest = proto.slice(proto.lastIndexOf(',') + 1).trim();
    return nearest.toLowerCase() === 'https';
  }

  return Object.assign(resolveClientIp, { trustedProxies, isHttps });
}
