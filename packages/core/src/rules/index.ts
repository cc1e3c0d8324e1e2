/**
 * Domain rules that a package owns but core's `loadConfig()` must apply too: the CORS origin
 * grammar (owner: `@fairmind/edge`'s `cors()`), the JWT algorithm list and the
 * PEM-as-secret refusal (owner: `@fairmind/auth`'s key ring) and the password byte limits
 * (owner: `@fairmind/auth`'s hasher).
 *
 * They are defined here, and imported by both the owner and the config, because the
 * dependency graph points upward only: edge and auth depend on core, so core's config
 * cannot import them without a cycle. Passing the rules into `loadConfig()` instead would
 * leave a config loaded without them unchecked. See docs/architecture.md.
 *
 * @module
 */
import { isHostname, isIpv4, isIpv6 } from './host.js';

/**
 * The JWT signing algorithms of the toolkit, HMAC first: what `JWT_ALGORITHM` accepts and
 * what `@fairmind/auth` signs and verifies (its `JWT_ALGORITHMS` is this list).
 *
 * @example
 * ```ts
 * import { SUPPORTED_JWT_ALGORITHMS } from '@fairmind/core/rules';
 * SUPPORTED_JWT_ALGORITHMS.includes('RS256'); // true
 * ```
 */
export const SUPPORTED_JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'ES256',
  'EdDSA',
] as const;

/** One of {@link SUPPORTED_JWT_ALGORITHMS}. */
export type SupportedJwtAlgorithm = (typeof SUPPORTED_JWT_ALGORITHMS)[number];

/**
 * Whether a text is a PEM document (`-----BEGIN ...`, leading whitespace allowed). Such a
 * text is refused as an HMAC secret: a public key's PEM is public, so anyone could forge
 * tokens signed with it (the algorithm-confusion mistake).
 *
 * @example
 * ```ts
 * looksLikePem('-----BEGIN PUBLIC KEY-----\n...'); // true
 * looksLikePem('a random secret'); // false
 * ```
 */
export function looksLikePem(text: string): boolean {
  return text.trimStart().startsWith('-----BEGIN');
}

/**
 * The shortest HMAC secret production accepts. RFC 7518 section 3.2 asks for a key at least
 * as long as the hash output (32 bytes for HS256), below which it is guessable offline from
 * any token it signed. Measure a secret with {@link hmacSecretLength}.
 *
 * @example
 * ```ts
 * if (hmacSecretLength(secret) < MIN_HMAC_SECRET_LENGTH) throw new Error('too short');
 * ```
 */
export const MIN_HMAC_SECRET_LENGTH = 32;

/**
 * An HMAC secret's length as {@link MIN_HMAC_SECRET_LENGTH} counts it: bytes for bytes, and
 * characters (code points) for text, so that a few multi-byte characters typed by a person do
 * not pass for a long random secret.
 *
 * @example
 * ```ts
 * hmacSecretLength('🔑'.repeat(16)); // 16, though it is 64 bytes of UTF-8
 * hmacSecretLength(randomBytes(48)); // 48
 * ```
 */
export function hmacSecretLength(secret: string | Uint8Array): number {
  return typeof secret === 'string' ? [...secret].length : secret.byteLength;
}

/**
 * The length a password may have, in bytes of UTF-8: at least 8 (docs/http-api.md), at
 * most 72 because bcrypt reads no further, so a longer one is refused instead of silently
 * cut.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode(password).length;
 * const fits = bytes >= PASSWORD_BYTE_LIMITS.min && bytes <= PASSWORD_BYTE_LIMITS.max;
 * ```
 */
export const PASSWORD_BYTE_LIMITS: Readonly<{ min: 8; max: 72 }> = Object.freeze({
  min: 8,
  max: 72,
});

/** An origin as {@link parseCorsOrigin} reads it, lower-cased and without a default port. */
export interface CorsOrigin {
  /** `'https'` */
  readonly scheme: string;
  /** Written as `scheme://*.host`: any subdomain of `host`, not `host` itself. */
  readonly wildcard: boolean;
  /** `'app.example.com'`, `'127.0.0.1'` or `'[::1]'` (brackets kept). */
  readonly host: string;
  /** `''`, or `':8443'` when not the default port of the scheme. */
  readonly port: string;
  /** The whole origin, normalised: `'https://*.example.com'`, `'http://[::1]:3000'`. */
  readonly origin: string;
}

const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([^/:?#[\]]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?(.*)$/i;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/**
 * The CORS origin grammar: `scheme://host[:port]`, where host is a hostname, an IPv4
 * address or a bracketed IPv6 address, and a hostname may start with `*.` (any subdomain).
 * Nothing may follow: no path, query or trailing slash. The result is normalised the way
 * browsers send the `Origin` header, lower-cased and without a default port, so
 * `'HTTPS://App.example.com:443'` reads as `'https://app.example.com'`. `'*'` (every origin)
 * is for the caller to handle.
 *
 * @returns the origin, `'path'` when something follows `host[:port]`, or `'malformed'`.
 * @example
 * ```ts
 * parseCorsOrigin('https://*.example.com:8443');
 * // { scheme: 'https', wildcard: true, host: 'example.com', port: ':8443', origin: 'https://*.example.com:8443' }
 * parseCorsOrigin('https://app.example.com/'); // 'path'
 * parseCorsOrigin('app.example.com'); // 'malformed'
 * ```
 */
export function parseCorsOrigin(text: string): CorsOrigin | 'path' | 'malformed' {
  const match = ORIGIN.exec(text);
  if (!match) return 'malformed';
  const [, scheme = '', wildcard = '', host = '', port, rest = ''] = match;
  if (rest !== '') return 'path';
  const bracketed = host.startsWith('[');
  const hostOk = bracketed
    ? wildcard === '' && isIpv6(host.slice(1, -1))
    : wildcard === ''
      ? isHostname(host)
      : isHostname(host) && !isIpv4(host);
  const portNumber = port === undefined ? undefined : Number(port);
  if (!hostOk || (portNumber !== undefined && (portNumber < 1 || portNumber > 65535))) {
    return 'malformed';
  }
  const lowerScheme = scheme.toLowerCase();
  const lowerHost = host.toLowerCase();
  const keepPort = portNumber !== undefined && DEFAULT_PORTS[lowerScheme] !== String(portNumber);
  const portText = keepPort ? `:${portNumber}` : '';
  return {
    scheme: lowerScheme,
    wildcard: wildcard !== '',
    host: lowerHost,
    port: portText,
    origin: `${lowerScheme}://${wildcard}${lowerHost}${portText}`,
  };
}
